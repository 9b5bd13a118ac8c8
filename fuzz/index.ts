import { Harness, FUZZ_MASTER_ARGS, FUZZ_MAX_FRAME_BYTES, type Summary } from './harness';
import { lookalikesOf } from './mutators';
import { loadCorpus, readReproducer, replaySteps, saveReproducer, type Reproducer } from './reproducer';
import { freshSeed } from './rng';
import { Traffic } from './traffic';

/** `FUZZ_SECONDS`: how long to fuzz. CI gives 60. */
const DEFAULT_SECONDS = 60;
/** `FUZZ_CONNECTIONS`: fuzzing connections open at once beside the good slave. */
const DEFAULT_CONNECTIONS = 4;

function envInteger(name: string, fallback: number, min: number, max: number): number {
  const text = process.env[name];
  if (text === undefined || text === '') return fallback;
  const value = Number(text);
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new Error(`${name} must be an integer from ${min} to ${max}, got "${text}"`);
  }
  return value;
}

const MiB = 1024 * 1024;

function report(summary: Summary, extra: string[]): void {
  console.log(
    [
      ...extra,
      `good slave: ${summary.goodMessages} messages sent; health probes: ${summary.probes}`,
      `master: peak RSS ${(summary.peakRssBytes / MiB).toFixed(1)} MiB, max stall ${Math.round(summary.maxStallMs)} ms ` +
        `(max probe latency ${Math.round(summary.maxProbeLatencyMs)} ms before discounting)`,
      ...summary.notes.map((note) => `note: ${note}`),
    ].join('\n'),
  );
}

/** The good slave's id: random per run, so no corpus frame carries it; fuzz frames carry look-alikes only. */
function goodIdFor(seed: number): string {
  return `fuzz-good-${seed.toString(16).padStart(8, '0')}`;
}

async function fuzz(): Promise<number> {
  const seed = envInteger('FUZZ_SEED', freshSeed(), 0, 0xffffffff);
  const seconds = envInteger('FUZZ_SECONDS', DEFAULT_SECONDS, 1, 86_400);
  const connections = envInteger('FUZZ_CONNECTIONS', DEFAULT_CONNECTIONS, 1, 64);
  console.log(`fuzz: seed ${seed} (FUZZ_SEED=${seed} replays it), ${seconds} s, ${connections} connections`);
  const goodId = goodIdFor(seed);
  const harness = new Harness(FUZZ_MASTER_ARGS, goodId);
  await harness.start();
  const context = { corpus: loadCorpus(), maxFrameBytes: FUZZ_MAX_FRAME_BYTES, lookalikeIds: lookalikesOf(goodId) };
  const traffic = new Traffic(harness.port, seed, connections, context, goodId);
  traffic.start();
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([harness.finding, new Promise((resolve) => (timer = setTimeout(resolve, seconds * 1000)))]);
  clearTimeout(timer);
  await traffic.stop();
  // Steps are taken now, before the master stops: what led to the finding, not the shutdown.
  const blamed = harness.findings[0]?.masterConns;
  const blamedConns = blamed && new Set(harness.remotePortsOf(blamed).map((port) => traffic.byLocalPort.get(port)!));
  const steps = traffic.steps(
    harness.findings[0]?.atMs ?? performance.now(),
    blamedConns?.size ? blamedConns : undefined,
  );
  if (harness.findings.length === 0) await harness.settle();
  const summary = await harness.finish();
  const runs = [...traffic.mutatorRuns].map(([name, n]) => `${name} ${n}`).join(', ');
  report(summary, [
    `sent ${(traffic.bytesSent / MiB).toFixed(1)} MiB on ${traffic.opened} connections`,
    `mutators: ${runs}`,
  ]);
  if (summary.findings.length === 0) {
    console.log('fuzz: no finding');
    return 0;
  }
  const first = summary.findings[0]!;
  const reproducer: Reproducer = {
    finding: first.kind,
    seed,
    detail: summary.findings.map((f) => `${f.kind}: ${f.detail}`).join('\n'),
    masterArgs: FUZZ_MASTER_ARGS,
    steps,
  };
  const file = saveReproducer(reproducer);
  for (const finding of summary.findings) console.log(`FINDING ${finding.kind}: ${finding.detail}`);
  console.log(`fuzz: reproducer saved to ${file} (${steps.length} steps); master log kept at ${summary.masterLogFile}`);
  console.log(`fuzz: replay with: npm run fuzz -- --replay ${file}`);
  return 1;
}

/** Runs a saved reproducer against a fresh master and good slave, judged as a fuzz run is. */
async function replay(file: string): Promise<number> {
  const reproducer = readReproducer(file);
  console.log(
    `replay: ${file}: ${reproducer.finding} found with seed ${reproducer.seed}, ${reproducer.steps.length} steps`,
  );
  const harness = new Harness(reproducer.masterArgs, goodIdFor(reproducer.seed));
  await harness.start();
  await Promise.race([replaySteps(reproducer.steps, harness.port), harness.finding]);
  if (harness.findings.length === 0) await harness.settle();
  const summary = await harness.finish();
  report(summary, []);
  for (const finding of summary.findings) console.log(`FINDING ${finding.kind}: ${finding.detail}`);
  console.log(summary.findings.length === 0 ? 'replay: not reproduced' : 'replay: reproduced');
  return summary.findings.length === 0 ? 0 : 1;
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  if (args[0] === '--replay' && args[1] !== undefined) {
    process.exitCode = await replay(args[1]);
  } else if (args.length === 0) {
    process.exitCode = await fuzz();
  } else {
    console.error(
      'usage: npm run fuzz [-- --replay <reproducer.json>]  (env FUZZ_SECONDS, FUZZ_SEED, FUZZ_CONNECTIONS)',
    );
    process.exitCode = 2;
  }
}

// The default action of these signals skips 'exit' handlers; the harness's one kills the children.
for (const name of ['SIGINT', 'SIGTERM'] as const) process.once(name, () => process.exit(130));

main().catch((err: unknown) => {
  console.error(err);
  // The harness's timers would keep the process alive; exiting runs its 'exit' handler, which kills the children.
  process.exit(2);
});
