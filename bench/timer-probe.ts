/**
 * The measuring process of the lateness benchmark, a node process of its own
 * like a master: `node timer-probe.js <measureMs> <warmupMs> <chains>`. Only
 * its types may be imported: the module runs the probe.
 *
 * Runs `chains` of each kind of timer side by side, at random phases (the
 * master re-arms one heartbeat-timeout timer per connection, whenever its
 * frames arrive), and prints one JSON line of {@link ProbeResult} at the end.
 * Samples count when their due time (timeouts) or their period's start
 * (intervals) lies in the measured window, after the warm-up.
 */
import { performance } from 'node:perf_hooks';

/** What one probe run measured, in ms. */
export interface ProbeResult {
  /** Fire time minus due time of one-shot `setTimeout(…, 250)`. */
  timeout250: number[];
  /** Fire time minus due time of one-shot `setTimeout(…, 1000)`. */
  timeout1000: number[];
  /** Each period of a `setInterval(…, 250)` minus 250. */
  intervalExcess: number[];
  /** Per interval: how far its last tick in the window fell behind its first one's schedule, and over how long. */
  intervalDrift: Array<{ driftMs: number; spanMs: number }>;
}

const INTERVAL_MS = 250;

const [measureMs, warmupMs, chains] = process.argv.slice(2).map(Number) as [number, number, number];
const from = performance.now() + warmupMs;
const to = from + measureMs;
const result: ProbeResult = { timeout250: [], timeout1000: [], intervalExcess: [], intervalDrift: [] };

function timeoutChain(delayMs: number, into: number[]): void {
  const arm = (): void => {
    const due = performance.now() + delayMs;
    setTimeout(() => {
      const now = performance.now();
      if (due >= from && due <= to) into.push(now - due);
      if (now < to) arm();
    }, delayMs);
  };
  setTimeout(arm, Math.random() * delayMs);
}

function intervalChain(): void {
  setTimeout(() => {
    let last = performance.now();
    let first: { at: number; tick: number } | undefined;
    let latest: { at: number; tick: number } | undefined;
    let tick = 0;
    const interval = setInterval(() => {
      const now = performance.now();
      tick += 1;
      if (last >= from && now <= to) {
        result.intervalExcess.push(now - last - INTERVAL_MS);
        first ??= { at: last, tick: tick - 1 };
        latest = { at: now, tick };
      }
      last = now;
      if (now >= to) {
        clearInterval(interval);
        if (first !== undefined && latest !== undefined) {
          const spanMs = latest.at - first.at;
          result.intervalDrift.push({ driftMs: spanMs - (latest.tick - first.tick) * INTERVAL_MS, spanMs });
        }
      }
    }, INTERVAL_MS);
  }, Math.random() * INTERVAL_MS);
}

for (let i = 0; i < chains; i++) {
  timeoutChain(250, result.timeout250);
  timeoutChain(1000, result.timeout1000);
  intervalChain();
}

// Every chain stops re-arming past `to`: the loop empties once the last 1000 ms timer fired.
process.once('beforeExit', () => process.stdout.write(JSON.stringify(result) + '\n'));
