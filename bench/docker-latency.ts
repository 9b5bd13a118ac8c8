/**
 * How long the Docker operations behind the fault actions take, idle and
 * with the machine's cores kept busy: from the API call until an inspect
 * confirms the new state, as the orchestrator's docker backend does it
 * (dockerode, then `inspect` until the state is as wanted).
 * `npm run bench docker-latency`; skipped when no engine answers or the image
 * is missing.
 */
import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import Docker from 'dockerode';
import { DEFAULT_DOCKER_IMAGE } from '../src/orchestrator';
import { removeLabelled, removeLabelledSync } from '../src/orchestrator/docker';
import {
  BUSY_PROCESSES,
  conditionTable,
  envNumber,
  inRounds,
  Interrupt,
  machineLine,
  type Condition,
} from './conditions';
import { fmt, median } from './stats';

/** Every container and network the benchmark creates carries this label, with the run's id as value. */
export const BENCH_LABEL = 'picluster.bench';
const ROUNDS = 3;
/** Interval between inspects while waiting for a state (the orchestrator polls every 50 ms). */
const POLL_MS = 5;
const READY_TIMEOUT_MS = 60_000;
const CONFIRM_TIMEOUT_MS = 30_000;

const OPERATIONS = ['kill', 'pause', 'unpause', 'network disconnect', 'network connect'] as const;
type Operation = (typeof OPERATIONS)[number];

/** One operation's duration: the call alone, and until an inspect confirmed it. */
interface Timing {
  callMs: number;
  confirmedMs: number;
  /** Inspects that still saw the old state after the call returned. */
  extraInspects: number;
}

/** Calls `call`, then inspects until `accept` holds; both times from just before the call. */
async function timed(
  container: Docker.Container,
  call: () => Promise<unknown>,
  accept: (info: Docker.ContainerInspectInfo) => boolean,
): Promise<Timing> {
  const t0 = performance.now();
  await call();
  const callMs = performance.now() - t0;
  for (let extraInspects = 0; ; extraInspects++) {
    if (accept(await container.inspect())) return { callMs, confirmedMs: performance.now() - t0, extraInspects };
    if (performance.now() - t0 > CONFIRM_TIMEOUT_MS) throw new Error(`not confirmed after ${CONFIRM_TIMEOUT_MS} ms`);
    await sleep(POLL_MS);
  }
}

class Bench {
  readonly runId = `latency-${randomBytes(4).toString('hex')}`;
  readonly label = `${BENCH_LABEL}=${this.runId}`;
  readonly network = `picluster-bench-${this.runId}`;
  private containers = 0;

  constructor(
    readonly docker: Docker,
    readonly image: string,
    readonly interrupt: Interrupt,
  ) {}

  createNetwork(): Promise<unknown> {
    return this.docker.createNetwork({ Name: this.network, Driver: 'bridge', Labels: { [BENCH_LABEL]: this.runId } });
  }

  /** A master container on the bench network, once it logged `listening` (its process idle, as a node's is). */
  async startNode(): Promise<Docker.Container> {
    this.containers += 1;
    const container = await this.docker.createContainer({
      name: `${this.network}-${this.containers}`,
      Image: this.image,
      Cmd: ['master'],
      Env: ['LOG_FORMAT=json'],
      Labels: { [BENCH_LABEL]: this.runId },
      HostConfig: { NetworkMode: this.network },
    });
    await container.start();
    const deadline = performance.now() + READY_TIMEOUT_MS;
    for (;;) {
      const logs = await container.logs({ stdout: true, stderr: true });
      if (logs.includes('"event":"listening"')) return container;
      if (performance.now() > deadline) throw new Error(`${this.image} logged no listening in ${READY_TIMEOUT_MS} ms`);
      await sleep(50, undefined, { signal: this.interrupt.signal });
    }
  }
}

/**
 * `kills` kills per condition, twice as many pause/unpause and
 * disconnect/connect cycles, spread over {@link ROUNDS} rounds. Each kill
 * takes a fresh container; pauses and cuts go to one long-lived container.
 */
export async function reportDockerLatency(
  kills = envNumber('PICLUSTER_BENCH_DOCKER_KILLS', 30),
  image = process.env.PICLUSTER_BENCH_IMAGE || DEFAULT_DOCKER_IMAGE,
): Promise<string[]> {
  const docker = new Docker();
  try {
    await docker.info();
  } catch (err) {
    return [`docker operations: skipped, no Docker engine answers (${(err as Error).message})`];
  }
  try {
    await docker.getImage(image).inspect();
  } catch {
    return [
      `docker operations: skipped, no image ${image} here (scripts/build-images.sh builds it; PICLUSTER_BENCH_IMAGE names another picluster image)`,
    ];
  }
  const interrupt = new Interrupt();
  const bench = new Bench(docker, image, interrupt);
  const unhook = interrupt.onExitSync(() => removeLabelledSync(bench.label, 'network'));
  const samples = Object.fromEntries(
    OPERATIONS.map((op) => [op, { idle: [] as Timing[], loaded: [] as Timing[] }]),
  ) as Record<Operation, Record<Condition, Timing[]>>;
  const started = performance.now();
  try {
    await bench.createNetwork();
    const target = await bench.startNode();
    const perRound = (total: number, round: number): number =>
      Math.floor((total * (round + 1)) / ROUNDS) - Math.floor((total * round) / ROUNDS);
    const network = docker.getNetwork(bench.network);
    const machine = await inRounds(
      ROUNDS,
      interrupt,
      async (condition, round) => {
        const record = (op: Operation, timing: Timing): void => {
          samples[op][condition].push(timing);
        };
        for (let i = 0; i < perRound(kills, round); i++) {
          interrupt.check();
          const victim = await bench.startNode();
          record(
            'kill',
            await timed(
              victim,
              () => victim.kill(),
              (info) => !info.State.Running,
            ),
          );
          await victim.remove({ force: true });
        }
        for (let i = 0; i < perRound(2 * kills, round); i++) {
          interrupt.check();
          record(
            'pause',
            await timed(
              target,
              () => target.pause(),
              (info) => info.State.Paused,
            ),
          );
          record(
            'unpause',
            await timed(
              target,
              () => target.unpause(),
              (info) => info.State.Running && !info.State.Paused,
            ),
          );
        }
        for (let i = 0; i < perRound(2 * kills, round); i++) {
          interrupt.check();
          record(
            'network disconnect',
            await timed(
              target,
              () => network.disconnect({ Container: target.id, Force: true }),
              (info) => info.NetworkSettings.Networks[bench.network] === undefined,
            ),
          );
          record(
            'network connect',
            await timed(
              target,
              () => network.connect({ Container: target.id }),
              (info) => info.NetworkSettings.Networks[bench.network] !== undefined,
            ),
          );
        }
      },
      // A busy process outlives no window by much, whatever happens to this one.
      30 * 60_000,
    );
    const seconds = (performance.now() - started) / 1000;
    const all = (c: Condition): Timing[] => OPERATIONS.flatMap((op) => samples[op][c]);
    const callShare = (c: Condition): string => `${fmt(median(all(c).map((t) => t.confirmedMs - t.callMs)), 1)} ms`;
    const extra = (c: Condition): number => all(c).reduce((sum, t) => sum + t.extraInspects, 0);
    return [
      `docker operations through the API, call until inspect confirms, in ms (${image} running \`master\`; ${ROUNDS} rounds of idle and loaded = ${BUSY_PROCESSES} CPU-bound processes; ${fmt(seconds)} s):`,
      machineLine(machine),
      ...conditionTable(
        OPERATIONS.map((op) => ({
          label: op,
          samples: {
            idle: samples[op].idle.map((t) => t.confirmedMs),
            loaded: samples[op].loaded.map((t) => t.confirmedMs),
          },
        })),
        1,
      ),
      `  of which the confirming inspect: median ${callShare('idle')} idle, ${callShare('loaded')} loaded; inspects that still saw the old state: ${extra('idle')} idle, ${extra('loaded')} loaded`,
    ];
  } finally {
    const { errors } = await removeLabelled(docker, bench.label);
    unhook();
    interrupt.dispose();
    if (errors.length > 0)
      console.error(`could not remove every bench resource (${bench.label}):\n${errors.join('\n')}`);
  }
}
