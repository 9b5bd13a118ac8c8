/**
 * A CPU-bound process for the lateness benchmarks (`node busy-loop.js <maxMs>`).
 * Spins in 50 ms slices; between slices it checks that its parent is still
 * there (the IPC channel), so it never outlives the benchmark, even one that
 * was SIGKILLed, and it stops by itself after `maxMs` in any case.
 */
import { performance } from 'node:perf_hooks';

const SLICE_MS = 50;
const deadline = performance.now() + Number(process.argv[2]);
let sink = 0;

function spin(): void {
  const until = performance.now() + SLICE_MS;
  while (performance.now() < until) sink += Math.sqrt(sink + 1);
  if (process.connected && performance.now() < deadline) setImmediate(spin);
  else if (process.connected) process.disconnect();
}

process.send?.('spinning');
spin();
