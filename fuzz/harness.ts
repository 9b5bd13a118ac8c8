import { mkdtempSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseJsonLine, readJsonLines } from '../test/helpers/json-lines';
import { LogTail, mainThreadCpuMs, rssBytes, signal, startNode, type Node } from './processes';
import type { FindingKind } from './reproducer';
import { firstEvent } from './sockets';
import {
  STALL_LIMIT_MS,
  judgeGoodSlave,
  rssGrowth,
  rssOverLimit,
  stallMs,
  type LogRecord,
  type ProbeSample,
  type RssSample,
} from './rules';

export const FUZZ_MAX_FRAME_BYTES = 65_536;
/** What the master runs with: the production defaults but a 64 KiB frame limit, so frames at the limit are cheap to send often. */
export const FUZZ_MASTER_ARGS = [
  'master',
  '--port',
  '0',
  '--host',
  '127.0.0.1',
  '--health-port',
  '0',
  '--max-frame-bytes',
  String(FUZZ_MAX_FRAME_BYTES),
];
/** The good slave's heartbeat interval: the master's timeout for it is 3 × this. */
const GOOD_INTERVAL_MS = 100;
const PROBE_EVERY_MS = 100;
const RSS_EVERY_MS = 250;
const LAG_TICK_MS = 10;
/** Waits for a process to start or stop, generous for a busy machine. */
const PROCESS_WAIT_MS = 30_000;

export interface Finding {
  kind: FindingKind;
  detail: string;
  /** The master's connection numbers to blame, when it named them. */
  masterConns?: number[];
  /** When the cause was sent at the latest (`performance.now()`): a stall's probe start, else when it was seen. */
  atMs?: number;
}

export interface Summary {
  findings: Finding[];
  notes: string[];
  peakRssBytes: number;
  maxStallMs: number;
  maxProbeLatencyMs: number;
  probes: number;
  goodMessages: number;
  masterLogFile: string;
}

/** The fuzzer's own event-loop lag, summed: what to take off a probe's latency. */
class OwnLag {
  totalMs = 0;
  private last = performance.now();
  private readonly timer = setInterval(() => {
    const now = performance.now();
    this.totalMs += Math.max(0, now - this.last - LAG_TICK_MS);
    this.last = now;
  }, LAG_TICK_MS);

  stop(): void {
    clearInterval(this.timer);
  }
}

/**
 * The master under test and a good slave beside it, as child processes, and
 * the watchers that turn what they do into findings: exit or internal error
 * (crash), a stall of the event loop (hang), memory, and at the end lost good
 * messages. `finding` settles at the first finding during the run.
 */
export class Harness {
  readonly findings: Finding[] = [];
  port = 0;
  private healthPort = 0;
  private master!: Node;
  private slave: Node | undefined;
  private masterTail!: LogTail;
  private readonly dir = mkdtempSync(join(tmpdir(), 'picluster-fuzz-'));
  private readonly masterLog = join(this.dir, 'master.log');
  private readonly slaveLog = join(this.dir, 'slave.log');
  /** The good slave's lines in the master's log, and the remote port of each connection. */
  private readonly goodLines: LogRecord[] = [];
  private readonly remotePorts = new Map<number, number>();
  private readonly rss: RssSample[] = [];
  private readonly started = performance.now();
  private readonly lag = new OwnLag();
  private timers: NodeJS.Timeout[] = [];
  private stopping = false;
  private maxStall = 0;
  private maxLatency = 0;
  private probes = 0;
  private onFinding: (finding: Finding) => void = () => undefined;
  /** Settles with the first finding. */
  readonly finding = new Promise<Finding>((resolve) => (this.onFinding = resolve));

  constructor(
    readonly masterArgs: string[],
    readonly goodId: string,
  ) {}

  async start(): Promise<void> {
    // Whatever ends the fuzzer (an error, a CI timeout's signal), its children must not outlive it.
    process.once('exit', () => this.kill());
    this.master = startNode(this.masterArgs, this.masterLog);
    let listening: LogRecord | undefined;
    this.masterTail = new LogTail(this.masterLog, (line) => {
      const record = this.readMasterLine(line);
      if (record?.event === 'listening') listening = record;
    });
    void this.master.exited.then(({ code, signal: sig }) => {
      if (!this.stopping)
        this.found({ kind: 'crash', detail: `master exited (code ${code}, signal ${sig}): ${this.master.stderr()}` });
    });
    await this.until(() => listening !== undefined, 'the master to listen');
    this.port = listening!.port as number;
    this.healthPort = listening!.health_port as number;
    this.timers.push(
      setInterval(() => this.masterTail.poll(), 100),
      setInterval(() => this.sampleRss(), RSS_EVERY_MS),
    );
    void this.probeLoop();
    this.slave = startNode(
      [
        'slave',
        '--master',
        `127.0.0.1:${this.port}`,
        '--id',
        this.goodId,
        '--heartbeat-interval-ms',
        `${GOOD_INTERVAL_MS}`,
      ],
      this.slaveLog,
    );
    await this.until(
      () => this.goodLines.some((l) => l.event === 'message' && l.seq === 1),
      'the good slave to be logged',
    );
  }

  /** Stops the slave, then the master, and judges what the logs say. Keeps the logs when there is a finding. */
  async finish(): Promise<Summary> {
    if (this.slave !== undefined) {
      signal(this.slave, 'SIGTERM');
      await this.slave.exited;
    }
    this.stopping = true;
    signal(this.master, 'SIGTERM');
    const exit = await this.master.exited;
    for (const timer of this.timers) clearInterval(timer);
    this.lag.stop();
    this.masterTail.close();
    if (exit.code !== 0)
      this.found({
        kind: 'crash',
        detail: `master exited ${exit.code ?? exit.signal} on SIGTERM: ${this.master.stderr()}`,
      });
    const growth = rssGrowth(this.rss);
    if (growth !== undefined) this.found({ kind: 'memory', detail: growth });
    const slaveLines = readJsonLines<LogRecord>(this.slaveLog, { nonJson: 'skip' });
    const verdict = judgeGoodSlave(slaveLines, this.goodLines, this.goodId);
    for (const problem of verdict.problems) this.found({ kind: 'lost', detail: problem });
    if (this.findings.length === 0) rmSync(this.dir, { recursive: true, force: true });
    return {
      findings: this.findings,
      notes: verdict.notes,
      peakRssBytes: Math.max(0, ...this.rss.map((s) => s.bytes)),
      maxStallMs: this.maxStall,
      maxProbeLatencyMs: this.maxLatency,
      probes: this.probes,
      goodMessages: slaveLines.filter((l) => l.event === 'sent' && l.seq !== undefined).length,
      masterLogFile: this.masterLog,
    };
  }

  /** Kills both processes at once: for a fuzzer that stops abnormally. */
  kill(): void {
    for (const node of [this.slave, this.master]) if (node !== undefined) signal(node, 'SIGKILL');
  }

  /** The local ports of the connections the master blamed, for mapping to the fuzzer's. */
  remotePortsOf(conns: readonly number[]): number[] {
    return conns.map((c) => this.remotePorts.get(c)).filter((p): p is number => p !== undefined);
  }

  /** Waits for the next `count` probes to complete: proof the master's loop turned after what came before. */
  async settle(count = 5): Promise<void> {
    const target = this.probes + count;
    await this.until(() => this.probes >= target || this.findings.length > 0, 'the master to answer probes', false);
  }

  /** Records a finding; a crash, hang or memory finding is said once, however long it lasts. */
  private found(finding: Finding): void {
    if (finding.kind !== 'lost' && this.findings.some((f) => f.kind === finding.kind)) return;
    this.findings.push({ atMs: performance.now(), ...finding });
    this.onFinding(finding);
  }

  /** Keeps what the judges need and raises crashes as they are logged; most lines are not even parsed. */
  private readMasterLine(line: string): LogRecord | undefined {
    const interesting =
      line.includes(`"node":${JSON.stringify(this.goodId)}`) ||
      line.includes('"event":"connect"') ||
      line.includes('"event":"listening"') ||
      line.includes('internal_error') ||
      line.includes('"event":"server_error"');
    if (!interesting) return undefined;
    const record = parseJsonLine<LogRecord>(line);
    if (record === undefined) throw new Error(`the master wrote a line that is not JSON: ${line.slice(0, 200)}`);
    if (record.node === this.goodId) this.goodLines.push(record);
    if (record.event === 'connect' && typeof record.remote === 'string') {
      this.remotePorts.set(record.conn as number, Number(record.remote.slice(record.remote.lastIndexOf(':') + 1)));
    }
    if (record.event === 'disconnect' && record.reason === 'internal_error') {
      this.found({
        kind: 'crash',
        detail: `internal_error on conn ${String(record.conn)}: ${String(record.error)}`,
        masterConns: [record.conn as number],
      });
    }
    if (record.event === 'server_error') this.found({ kind: 'crash', detail: `server_error: ${line}` });
    return record;
  }

  private sampleRss(): void {
    const bytes = rssBytes(this.master.pid);
    if (bytes === undefined) return;
    const sample = { atMs: performance.now() - this.started, bytes };
    this.rss.push(sample);
    const over = rssOverLimit(sample);
    if (over !== undefined) this.found({ kind: 'memory', detail: over });
  }

  /**
   * One probe at a time, every {@link PROBE_EVERY_MS}: connect to the health
   * port and wait for the master's FIN. While one is out, the master's CPU is
   * checked each tick, so a loop that never turns again is found too.
   */
  private async probeLoop(): Promise<void> {
    while (!this.stopping) {
      const t0 = performance.now();
      const lag0 = this.lag.totalMs;
      const cpu0 = mainThreadCpuMs(this.master.pid);
      const sample = (): ProbeSample => {
        const cpu = mainThreadCpuMs(this.master.pid);
        return {
          latencyMs: performance.now() - t0,
          ownLagMs: this.lag.totalMs - lag0,
          masterCpuMs: cpu === undefined || cpu0 === undefined ? undefined : cpu - cpu0,
        };
      };
      const socket = connect({ port: this.healthPort, host: '127.0.0.1' });
      socket.on('error', () => undefined);
      const watch = setInterval(() => this.judgeStall(sample(), t0, true), PROBE_EVERY_MS);
      await firstEvent(socket, ['close']);
      clearInterval(watch);
      if (this.stopping) return;
      this.probes += 1;
      this.judgeStall(sample(), t0, false);
      await new Promise((resolve) => setTimeout(resolve, PROBE_EVERY_MS));
    }
  }

  private judgeStall(sample: ProbeSample, startedMs: number, open: boolean): void {
    const stall = stallMs(sample);
    this.maxStall = Math.max(this.maxStall, stall);
    if (!open) this.maxLatency = Math.max(this.maxLatency, sample.latencyMs);
    if (stall > STALL_LIMIT_MS && !this.stopping) {
      this.found({
        kind: 'hang',
        atMs: startedMs,
        detail: `the master's event loop stalled ${Math.round(stall)} ms (probe ${open ? 'still open' : 'answered'} after ${Math.round(sample.latencyMs)} ms, own lag ${Math.round(sample.ownLagMs)} ms, master CPU ${sample.masterCpuMs ?? '?'} ms)`,
      });
    }
  }

  /** Waits for `done`; a finding meanwhile means start-up failed, unless `findingsEnd` is false. */
  private async until(done: () => boolean, what: string, findingsEnd = true): Promise<void> {
    const deadline = performance.now() + PROCESS_WAIT_MS;
    while (!done()) {
      this.masterTail?.poll();
      if (findingsEnd && this.findings.length > 0) throw new Error(`waiting for ${what}: ${this.findings[0]!.detail}`);
      if (performance.now() > deadline) throw new Error(`waited ${PROCESS_WAIT_MS} ms for ${what}`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }
}
