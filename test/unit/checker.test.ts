import { mkdtempSync, readFileSync, rmSync, writeFileSync, cpSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  checkRun,
  CLOCK_SKEW_MS,
  IN_FLIGHT_SLACK_MS,
  KILL_DETECT_MS,
  type CheckReport,
  type FailureKind,
  type RunLogLine,
  type RunRecord,
} from '../../src/orchestrator/checker';
import { CONFIRM_LIMIT_MS, SCHEDULING_SLACK_MS } from '../../src/orchestrator/bounds';
import { escapeXml, toJUnitXml } from '../../src/orchestrator/junit';
import { formatTable } from '../../src/orchestrator/report';
import { writeReports } from '../../src/orchestrator/report-files';
import { readRunDirectory, RunDirectoryError } from '../../src/orchestrator/run-directory';
import type { Action, TimelineEntry } from '../../src/orchestrator/types';
import { RUN_FIXTURES, useScratchRun } from '../helpers/run-fixtures';

// ---------------------------------------------------------------------------
// A 1 ms-step simulator of a correct cluster: what the slaves and a correct
// master would log for a list of faults. Tests then doctor the master's log.

const T0 = Date.parse('2025-03-14T09:00:00.000Z');
const iso = (ms: number): string => new Date(T0 + ms).toISOString();
const ms = (timestamp: string): number => Date.parse(timestamp) - T0;

interface SimFault {
  /** When the fault takes effect in the simulated cluster. */
  atMs: number;
  action: Action;
  target: string;
  error?: string;
  /** How long before `atMs` the runner requested it (an engine slow to act). Default 0. */
  appliedAfterMs?: number;
  /** How long after the request it was confirmed. Default 10. */
  confirmedAfterMs?: number;
}

interface SimSpec {
  slaves?: number;
  intervalMs?: number;
  timeoutMs?: number;
  durationMs?: number;
  faults?: SimFault[];
}

interface SimConn {
  id: number;
  node: string;
  open: boolean;
  lastFrame: number;
  lastSeq?: number;
}

interface SimSlave {
  name: string;
  node: string;
  alive: boolean;
  paused: boolean;
  cut: boolean;
  seq: number;
  conn?: SimConn;
  reconnectAt: number;
  nextBeat: number;
  attempt: number;
}

function simulate(spec: SimSpec = {}): RunRecord {
  const count = spec.slaves ?? 2;
  const intervalMs = spec.intervalMs ?? 300;
  const timeoutMs = spec.timeoutMs ?? 1000;
  const durationMs = spec.durationMs ?? 6000;
  const master: RunLogLine[] = [];
  const logs: Record<string, RunLogLine[]> = {};
  const timeline: TimelineEntry[] = [];
  const mlog = (t: number, event: string, fields: Record<string, unknown> = {}): void => {
    master.push({ timestamp: iso(t), level: 'info', event, message: event, ...fields });
  };
  const slog = (s: SimSlave, t: number, event: string, fields: Record<string, unknown> = {}): void => {
    (logs[s.name] ??= []).push({ timestamp: iso(t), level: 'info', event, message: event, node: s.node, ...fields });
  };
  let masterUp = true;
  let nextConn = 1;
  let conns: SimConn[] = [];
  const later: Array<{ t: number; run: () => void }> = [];
  const slaves: SimSlave[] = [];
  for (let i = 1; i <= count; i += 1) {
    const s: SimSlave = {
      name: `slave-${i}`,
      node: `node-${i}`,
      alive: true,
      paused: false,
      cut: false,
      seq: 0,
      reconnectAt: 10 + i,
      nextBeat: Infinity,
      attempt: 1,
    };
    slaves.push(s);
    slog(s, 5 + i, 'starting');
  }
  const byName = (name: string): SimSlave => slaves.find((s) => s.name === name) as SimSlave;
  mlog(0, 'listening', { port: 9000 });

  const close = (c: SimConn, reason: string, t: number): void => {
    if (!c.open) return;
    c.open = false;
    mlog(t, 'disconnect', { node: c.node, seq: c.lastSeq, reason, conn: c.id });
  };
  const send = (s: SimSlave, t: number, type: 'hello' | 'heartbeat'): void => {
    const c = s.conn as SimConn;
    s.seq += 1;
    const text = type === 'hello' ? `Hello World, I am client ${s.node}` : `I am still alive, client: ${s.node}`;
    slog(s, t, 'sent', { message: text, seq: s.seq, type });
    s.nextBeat = t + intervalMs;
    if (s.cut) return; // lost on the wire; the slave can't tell
    if (c.open) {
      mlog(t, 'message', { message: `Received message: ${text}`, node: s.node, seq: s.seq, type, conn: c.id });
      c.lastFrame = t;
      c.lastSeq = s.seq;
    } else {
      // The master had dropped the connection: this write is refused.
      slog(s, t, 'disconnected', { reason: 'ECONNRESET' });
      s.conn = undefined;
      s.reconnectAt = t + 100;
    }
  };
  const connect = (s: SimSlave, t: number): void => {
    slog(s, t, 'connecting', { attempt: s.attempt });
    slog(s, t, 'connected');
    s.attempt += 1;
    const c: SimConn = { id: nextConn++, node: s.node, open: true, lastFrame: t };
    conns.push(c);
    s.conn = c;
    const remote = `10.0.0.${s.name.slice(6)}:${40000 + c.id}`;
    mlog(t, 'connect', { conn: c.id, remote, node: remote });
    send(s, t, 'hello');
  };
  const end = (s: SimSlave, t: number, graceful: boolean): void => {
    if (!s.alive) return;
    s.alive = false;
    s.paused = false;
    if (graceful) slog(s, t, 'stopped', { sent: s.seq });
    const c = s.conn;
    s.conn = undefined;
    if (c !== undefined && !s.cut) later.push({ t: t + 3, run: () => close(c, 'closed', t + 3) });
  };
  const begin = (s: SimSlave, t: number): void => {
    later.push({
      t: t + 50,
      run: () => {
        s.alive = true;
        s.seq = 0;
        s.attempt = 1;
        slog(s, t + 50, 'starting');
        s.reconnectAt = t + 52;
      },
    });
  };

  const faults = [...(spec.faults ?? [])].sort((a, b) => a.atMs - b.atMs);
  for (let t = 0; t <= durationMs; t += 1) {
    for (const f of faults.filter((x) => x.atMs === t)) {
      const requested = t - (f.appliedAfterMs ?? 0);
      timeline.push({
        action: f.action,
        target: f.target,
        atMs: requested,
        requestedAt: iso(requested),
        startedAt: iso(requested),
        ...(f.error === undefined ? { confirmedAt: iso(requested + (f.confirmedAfterMs ?? 10)) } : { error: f.error }),
      });
      if (f.error !== undefined) continue;
      if (f.action === 'master-restart') {
        for (const c of conns) close(c, 'shutdown', t);
        mlog(t, 'shutdown', { connections: 0, signal: 'SIGTERM' });
        masterUp = false;
        for (const s of slaves) {
          if (s.conn !== undefined && s.alive && !s.paused && !s.cut) {
            slog(s, t + 1, 'disconnected', { reason: 'closed' });
            s.conn = undefined;
            s.reconnectAt = t + 101;
          }
        }
        later.push({
          t: t + 200,
          run: () => {
            conns = [];
            nextConn = 1;
            masterUp = true;
            mlog(t + 200, 'listening', { port: 9000 });
          },
        });
        continue;
      }
      const s = byName(f.target);
      switch (f.action) {
        case 'kill':
        case 'stop':
          end(s, t, f.action === 'stop');
          break;
        case 'start':
          begin(s, t);
          break;
        case 'restart':
          end(s, t, true);
          begin(s, t);
          break;
        case 'pause':
          s.paused = true;
          break;
        case 'unpause':
          s.paused = false;
          break;
        case 'disconnect':
          s.cut = true;
          break;
        case 'reconnect':
          s.cut = false;
          break;
      }
    }
    for (const job of later.filter((j) => j.t === t)) job.run();
    if (masterUp) {
      for (const c of conns) if (c.open && t - c.lastFrame >= timeoutMs) close(c, 'timeout', t);
    }
    for (const s of slaves) {
      if (!s.alive || s.paused) continue;
      if (s.conn === undefined) {
        if (t >= s.reconnectAt && masterUp && !s.cut) connect(s, t);
      } else if (t >= s.nextBeat) {
        send(s, t, 'heartbeat');
      }
    }
  }
  // Teardown: slaves stop, then the master.
  slaves.forEach((s, i) => end(s, durationMs + 5 + i, true));
  for (const job of later.filter((j) => j.t > durationMs)) job.run();
  for (const c of conns) close(c, 'shutdown', durationMs + 50);
  mlog(durationMs + 50, 'shutdown', { connections: 0, signal: 'SIGTERM' });
  master.sort((a, b) => ms(a.timestamp) - ms(b.timestamp));
  return {
    info: {
      scenario: 'sim',
      backend: 'local',
      startedAt: iso(0),
      endedAt: iso(durationMs + 80),
      heartbeatIntervalMs: intervalMs,
      heartbeatTimeoutMs: timeoutMs,
      durationMs,
      nodes: Object.fromEntries(slaves.map((s) => [s.name, s.node])),
    },
    timeline,
    master,
    slaves: logs,
  };
}

// --- doctoring helpers -------------------------------------------------------

type Match = (line: RunLogLine) => boolean;
const msg =
  (node: string, seq: number, nth = 0): Match =>
  (line) =>
    line.event === 'message' && line.node === node && line.seq === seq && nth-- === 0;
const disc =
  (node: string, reason?: string): Match =>
  (line) =>
    line.event === 'disconnect' && line.node === node && (reason === undefined || line.reason === reason);

function indexOf(run: RunRecord, match: Match): number {
  const i = run.master.findIndex(match);
  if (i < 0) throw new Error('no such master line');
  return i;
}
function remove(run: RunRecord, match: Match): RunLogLine {
  return run.master.splice(indexOf(run, match), 1)[0] as RunLogLine;
}
function edit(run: RunRecord, match: Match, fields: Partial<RunLogLine>): void {
  const i = indexOf(run, match);
  run.master[i] = { ...(run.master[i] as RunLogLine), ...fields };
}
/** A master `disconnect` line inserted before line `i`, with that line's timestamp. */
function insertDisconnect(run: RunRecord, i: number, fields: Partial<RunLogLine>): void {
  run.master.splice(i, 0, {
    timestamp: run.master[i]?.timestamp as string,
    level: 'info',
    event: 'disconnect',
    message: 'Client disconnected',
    ...fields,
  });
}

function sentAt(run: RunRecord, name: string, seq: number, incarnation = 1): number {
  let inc = 0;
  for (const line of run.slaves[name] ?? []) {
    if (line.event === 'starting') inc += 1;
    if (line.event === 'sent' && line.seq === seq && inc === incarnation) return ms(line.timestamp);
  }
  throw new Error(`${name} never sent seq ${seq} in incarnation ${incarnation}`);
}

const kinds = (report: CheckReport): FailureKind[] => report.failures.map((f) => f.kind);
const only = (report: CheckReport, kind: FailureKind) => report.failures.filter((f) => f.kind === kind);
const row = (report: CheckReport, name: string) => report.nodes.find((n) => n.name === name)!;

/** Asserts a pass, showing the table when it is not one. */
function expectPass(report: CheckReport): void {
  if (report.verdict !== 'pass') throw new Error(`expected pass:\n${formatTable(report)}`);
}

const KILL_CUT_PAUSE: SimFault[] = [
  { atMs: 1500, action: 'kill', target: 'slave-2' },
  { atMs: 2000, action: 'disconnect', target: 'slave-3' },
  { atMs: 3000, action: 'start', target: 'slave-2' },
  { atMs: 3600, action: 'pause', target: 'slave-1' },
  { atMs: 4600, action: 'reconnect', target: 'slave-3' },
  { atMs: 5000, action: 'unpause', target: 'slave-1' },
];
const kcp = (): RunRecord => simulate({ slaves: 3, faults: KILL_CUT_PAUSE });

// ---------------------------------------------------------------------------

describe('checkRun on correct runs', () => {
  it('passes a run without faults, every message logged once', () => {
    const report = checkRun(simulate({ slaves: 3 }));
    expectPass(report);
    for (const n of report.nodes) {
      expect(n.sent).toBeGreaterThan(15);
      expect(n).toMatchObject({ logged: n.sent, missing: [], duplicated: [], outOfOrder: [], inFlight: [] });
    }
    expect(report.endOfRunDisconnects).toBe(3);
  });

  it("takes a timeout at the run's end for the stop's only when the slave beat until then", () => {
    // Slaves stopping by the thousand close their connections later than phi's deadline.
    const endOf = (run: RunRecord, node: string): RunLogLine =>
      run.master.find((l) => l.event === 'disconnect' && l.node === node && ms(l.timestamp) >= 6000)!;
    const beating = simulate({ slaves: 3 });
    endOf(beating, 'node-1').reason = 'timeout';
    const report = checkRun(beating);
    expectPass(report);
    expect(report.endOfRunDisconnects).toBe(3);

    // Silent for two intervals before the end: its timeout is no stop's.
    const silent = simulate({ slaves: 3 });
    endOf(silent, 'node-1').reason = 'timeout';
    silent.master = silent.master.filter(
      (l) => !(l.event === 'message' && l.node === 'node-1' && ms(l.timestamp) >= 6000 - 600),
    );
    const failed = checkRun(silent);
    expect(only(failed, 'spurious_disconnect').map((f) => f.node)).toEqual(['slave-1']);
    expect(failed.endOfRunDisconnects).toBe(2);
  });

  it('passes a kill, a long cut and a pause, with the expectations it derived', () => {
    const report = checkRun(kcp());
    expectPass(report);
    const disconnects = report.expectations.filter((e) => e.check === 'disconnect');
    expect(disconnects.map((e) => [e.fault.action, e.node, e.expect, e.seen?.reason])).toEqual([
      ['kill', 'slave-2', 'must', 'closed'],
      ['disconnect', 'slave-3', 'must', 'timeout'],
      ['pause', 'slave-1', 'may', 'timeout'],
    ]);
    expect(
      report.expectations.filter((e) => e.check === 'recovery').map((e) => [e.fault.action, e.status === 'pass']),
    ).toEqual([
      ['start', true],
      ['reconnect', true],
      ['unpause', true],
    ]);
    expect(row(report, 'slave-2').incarnations).toBe(2);
    expect(row(report, 'slave-3').inFlight.length).toBeGreaterThan(5);
    expect(report.latency.killStop).toEqual({ count: 1, p50Ms: 3, maxMs: 3 });
    expect(report.latency.cutPause.count).toBe(2);
  });

  it.each<[string, SimFault[]]>([
    [
      'stop and start',
      [
        { atMs: 1000, action: 'stop', target: 'slave-1' },
        { atMs: 2000, action: 'start', target: 'slave-1' },
      ],
    ],
    ['restart', [{ atMs: 1500, action: 'restart', target: 'slave-2' }]],
    ['master-restart', [{ atMs: 2000, action: 'master-restart', target: 'master' }]],
    [
      'a short cut (no timeout)',
      [
        { atMs: 2000, action: 'disconnect', target: 'slave-1' },
        { atMs: 2400, action: 'reconnect', target: 'slave-1' },
      ],
    ],
    [
      'a flapping link',
      [1000, 1600, 2200, 2800].flatMap((t): SimFault[] => [
        { atMs: t, action: 'disconnect', target: 'slave-1' },
        { atMs: t + 300, action: 'reconnect', target: 'slave-1' },
      ]),
    ],
    [
      'a long pause',
      [
        { atMs: 1000, action: 'pause', target: 'slave-2' },
        { atMs: 4000, action: 'unpause', target: 'slave-2' },
      ],
    ],
    [
      'a kill during a cut',
      [
        { atMs: 1000, action: 'disconnect', target: 'slave-1' },
        { atMs: 1200, action: 'kill', target: 'slave-1' },
        { atMs: 3800, action: 'reconnect', target: 'slave-1' },
        { atMs: 4000, action: 'start', target: 'slave-1' },
      ],
    ],
  ])('passes %s', (_name, faults) => {
    expectPass(checkRun(simulate({ slaves: 2, faults })));
  });

  it('walks the faults in the order they began, not the order the timeline recorded them', () => {
    const run = simulate({
      slaves: 2,
      faults: [
        { atMs: 2000, action: 'kill', target: 'slave-2' },
        { atMs: 3000, action: 'master-restart', target: 'master' },
        { atMs: 3100, action: 'start', target: 'slave-2' },
      ],
    });
    // A slow master restart is confirmed, and recorded, after the start that began later.
    run.timeline = [run.timeline[0]!, run.timeline[2]!, run.timeline[1]!];
    expectPass(checkRun(run));
  });

  it('expects a shutdown disconnect per connected slave at a master restart, and each seen again', () => {
    const report = checkRun(
      simulate({ slaves: 3, faults: [{ atMs: 2000, action: 'master-restart', target: 'master' }] }),
    );
    expectPass(report);
    const restart = report.expectations.filter((e) => e.fault.action === 'master-restart');
    expect(restart.filter((e) => e.check === 'disconnect').map((e) => [e.expect, e.seen?.reason])).toEqual([
      ['must', 'shutdown'],
      ['must', 'shutdown'],
      ['must', 'shutdown'],
    ]);
    expect(
      restart.filter((e) => e.check === 'recovery').every((e) => e.status === 'pass' && e.seen !== undefined),
    ).toBe(true);
    expect(report.latency.masterRestart.count).toBe(3);
  });
});

describe('rule a: every sent message logged exactly once', () => {
  it('reports a deleted message by node, incarnation and seq', () => {
    const run = kcp();
    remove(run, msg('node-1', 5));
    const report = checkRun(run);
    expect(report.verdict).toBe('fail');
    expect(report.failures).toEqual([
      expect.objectContaining({ node: 'slave-1', kind: 'missing', seq: 5, incarnation: 1 }),
    ]);
    expect(row(report, 'slave-1').missing).toEqual([{ incarnation: 1, seq: 5 }]);
  });

  it('keys by incarnation: a missing seq 4 of the second process is not covered by the first one’s seq 4', () => {
    const run = kcp();
    remove(run, msg('node-2', 4, 1)); // the second time the master logged a seq 4 of node-2: incarnation 2
    const report = checkRun(run);
    expect(report.failures).toEqual([
      expect.objectContaining({ node: 'slave-2', kind: 'missing', seq: 4, incarnation: 2 }),
    ]);
  });

  it('reports a duplicated message', () => {
    const run = kcp();
    const i = indexOf(run, msg('node-3', 3));
    run.master.splice(i + 1, 0, { ...(run.master[i] as RunLogLine) });
    const report = checkRun(run);
    expect(report.failures).toEqual([expect.objectContaining({ node: 'slave-3', kind: 'duplicated', seq: 3 })]);
    expect(row(report, 'slave-3').duplicated).toEqual([{ incarnation: 1, seq: 3 }]);
  });

  it('reports a message logged after a higher seq of the same incarnation as out of order', () => {
    const run = kcp();
    const six = remove(run, msg('node-1', 6));
    const i = indexOf(run, msg('node-1', 7));
    run.master.splice(i + 1, 0, { ...six, timestamp: run.master[i]?.timestamp as string });
    const report = checkRun(run);
    expect(report.failures).toEqual([expect.objectContaining({ node: 'slave-1', kind: 'out_of_order', seq: 6 })]);
  });

  it('reports messages no slave sent as unexpected: an unknown node, an unknown seq, a seq logged before it was sent', () => {
    const run = kcp();
    const i = indexOf(run, msg('node-1', 3));
    const three = run.master[i] as RunLogLine;
    run.master.splice(i + 1, 0, { ...three, node: 'intruder', conn: 99 }, { ...three, seq: 999 });
    // seq 10 of node-1 stamped well before node-1 sent it
    edit(run, msg('node-1', 10), { timestamp: iso(sentAt(run, 'slave-1', 10) - CLOCK_SKEW_MS - 200) });
    const report = checkRun(run);
    expect(report.verdict).toBe('fail');
    expect(only(report, 'unexpected').map((f) => [f.node, f.seq])).toEqual(
      expect.arrayContaining([
        ['intruder', 3],
        ['slave-1', 999],
        ['slave-1', 10],
      ]),
    );
    // seq 10 then counts as missing: the one line claiming it can't be it.
    expect(only(report, 'missing').map((f) => [f.node, f.seq])).toEqual([['slave-1', 10]]);
    expect(row(report, 'slave-1').unexpected).toBe(2);
  });

  it('reports each message of a node the run does not know once: its hello and a heartbeat, two failures', () => {
    const run = kcp();
    const i = indexOf(run, msg('node-1', 3));
    const at = run.master[i]?.timestamp as string;
    const line = (fields: Partial<RunLogLine>): RunLogLine => ({
      timestamp: at,
      level: 'info',
      event: 'message',
      message: '',
      ...fields,
    });
    run.master.splice(
      i + 1,
      0,
      line({
        event: 'connect',
        message: 'Client connected',
        conn: 99,
        remote: '10.0.0.9:40099',
        node: '10.0.0.9:40099',
      }),
      line({
        message: 'Received message: Hello World, I am client stranger',
        node: 'stranger',
        seq: 1,
        type: 'hello',
        conn: 99,
      }),
      line({
        message: 'Received message: I am still alive, client: stranger',
        node: 'stranger',
        seq: 2,
        type: 'heartbeat',
        conn: 99,
      }),
    );
    const report = checkRun(run);
    expect(report.failures.map((f) => [f.kind, f.node, f.seq])).toEqual([
      ['unexpected', 'stranger', 1],
      ['unexpected', 'stranger', 2],
    ]);
    expect(report.failures.map((f) => f.detail)).toEqual([
      expect.stringContaining('a hello message from node "stranger", which is no slave of this run (on conn 99'),
      expect.stringContaining('a heartbeat message from node "stranger", which is no slave of this run (on conn 99'),
    ]);
  });
});

describe('rule a2: the master logs what the slave sent', () => {
  it('reports a message logged with another text or another type as wrong_content, by node and seq', () => {
    const run = kcp();
    edit(run, msg('node-1', 5), { message: 'Received message: \ufffd garbage' });
    edit(run, msg('node-2', 3), { type: 'legacy' });
    const report = checkRun(run);
    expect(report.verdict).toBe('fail');
    expect(report.failures.map((f) => [f.node, f.kind, f.seq, f.incarnation])).toEqual([
      ['slave-1', 'wrong_content', 5, 1],
      ['slave-2', 'wrong_content', 3, 1],
    ]);
    expect(report.failures[0]?.detail).toContain('"Received message: I am still alive, client: node-1"');
    expect(report.failures[1]?.detail).toContain('type "legacy", expected "heartbeat"');
    // Still logged once: not also missing.
    expect(row(report, 'slave-1').missing).toEqual([]);
  });
});

describe('rule b: messages in flight at a fault are excused, counted and shown', () => {
  it('excuses messages lost in a cut with the fault and window they used', () => {
    const report = checkRun(kcp());
    const cut = report.excused.filter((x) => x.node === 'slave-3');
    expect(cut.length).toBeGreaterThan(5);
    for (const x of cut) {
      expect(x.fault).toMatchObject({ action: 'disconnect', target: 'slave-3', index: 1 });
      expect(ms(x.window.from)).toBe(2000 - IN_FLIGHT_SLACK_MS);
      expect(x.window.bound).toBe(
        `from in-flight slack ${IN_FLIGHT_SLACK_MS} ms before the start, to its end's confirmation + cut recovery slack 2000 ms`,
      );
      expect(ms(x.window.to)).toBe(4610 + 2000);
    }
    expect(row(report, 'slave-3').sent).toBe(row(report, 'slave-3').logged + cut.length);
  });

  it('excuses a message sent within interval + slack before a kill, but not one sent before that', () => {
    const run = kcp();
    const lastBeforeKill = [...(run.slaves['slave-2'] ?? [])]
      .filter((l) => l.event === 'sent' && ms(l.timestamp) < 1500)
      .map((l) => l.seq as number);
    const last = Math.max(...lastBeforeKill);
    remove(run, msg('node-2', last)); // sent at 1262, within 1500 - (300 + 500)
    remove(run, msg('node-2', last - 2)); // sent at 662: outside
    expect(sentAt(run, 'slave-2', last)).toBeGreaterThanOrEqual(1500 - 300 - IN_FLIGHT_SLACK_MS);
    expect(sentAt(run, 'slave-2', last - 2)).toBeLessThan(1500 - 300 - IN_FLIGHT_SLACK_MS);
    const report = checkRun(run);
    expect(report.excused).toContainEqual(
      expect.objectContaining({
        node: 'slave-2',
        seq: last,
        incarnation: 1,
        fault: expect.objectContaining({ action: 'kill' }),
      }),
    );
    expect(report.failures).toEqual([expect.objectContaining({ node: 'slave-2', kind: 'missing', seq: last - 2 })]);
  });

  describe('a kill that took the last "sent" lines with the process', () => {
    /** slave-2's log as if SIGKILL came between its last frames and their `sent` lines. */
    const killedBeforeLogging = (lost: number): { run: RunRecord; last: number } => {
      const run = simulate({ faults: [{ atMs: 1500, action: 'kill', target: 'slave-2' }] });
      const log = run.slaves['slave-2']!;
      const sent = log.filter((l) => l.event === 'sent' && ms(l.timestamp) < 1500);
      const last = sent.at(-1)!.seq as number;
      run.slaves['slave-2'] = log.filter(
        (l) => !(l.event === 'sent' && ms(l.timestamp) < 1500 && (l.seq as number) > last - lost),
      );
      return { run, last };
    };

    it('takes the logged seqs right after the last "sent" one, in the kill’s window, as sent', () => {
      const { run, last } = killedBeforeLogging(2);
      const report = checkRun(run);
      expectPass(report);
      expect(report.sentLinesLost).toEqual([
        expect.objectContaining({
          node: 'slave-2',
          incarnation: 1,
          seq: last - 1,
          fault: expect.objectContaining({ index: 0 }),
        }),
        expect.objectContaining({ node: 'slave-2', incarnation: 1, seq: last }),
      ]);
      expect(formatTable(report)).toContain(`slave-2 incarnation 1 seq ${last - 1} at #0 kill`);
    });

    it('still reports such a seq logged outside the kill’s window, with other text, or after a hole', () => {
      const { run, last } = killedBeforeLogging(1);
      const early = indexOf(run, msg('node-2', last));
      run.master[early] = {
        ...run.master[early]!,
        timestamp: iso(1500 - 300 - IN_FLIGHT_SLACK_MS - CLOCK_SKEW_MS - 1),
      };
      expect(only(checkRun(run), 'unexpected')).toEqual([expect.objectContaining({ node: 'slave-2', seq: last })]);

      const forged = killedBeforeLogging(1).run;
      edit(forged, msg('node-2', last), { message: 'Received message: forged' });
      expect(only(checkRun(forged), 'unexpected')).toEqual([expect.objectContaining({ node: 'slave-2', seq: last })]);

      const hole = killedBeforeLogging(2).run;
      remove(hole, msg('node-2', last - 1));
      expect(only(checkRun(hole), 'unexpected')).toEqual([expect.objectContaining({ node: 'slave-2', seq: last })]);
    });
  });

  it('does not let a kill excuse the next process’s messages', () => {
    const run = simulate({ slaves: 1, faults: [{ atMs: 1500, action: 'restart', target: 'slave-1' }] });
    remove(run, msg('node-1', 1, 1)); // the new process's hello, sent within confirmedAt + slack
    expect(sentAt(run, 'slave-1', 1, 2)).toBeLessThanOrEqual(1510 + IN_FLIGHT_SLACK_MS);
    const report = checkRun(run);
    expect(report.failures).toEqual([
      // Without its hello the new process is not "seen again" either.
      expect.objectContaining({ node: 'slave-1', kind: 'not_seen_again', fault: 0 }),
      expect.objectContaining({ node: 'slave-1', kind: 'missing', seq: 1, incarnation: 2 }),
    ]);
  });

  describe('at the run’s end', () => {
    const lastSeq = (run: RunRecord): number =>
      Math.max(...(run.slaves['slave-1'] ?? []).filter((l) => l.event === 'sent').map((l) => l.seq as number));
    const endDisc: Match = (l) => l.event === 'disconnect' && l.node === 'node-1' && ms(l.timestamp) > 6000;

    it('does not excuse the last message before a clean FIN (closed)', () => {
      const run = simulate();
      const last = lastSeq(run);
      expect(sentAt(run, 'slave-1', last)).toBeGreaterThan(6050 - IN_FLIGHT_SLACK_MS);
      remove(run, msg('node-1', last));
      edit(run, endDisc, { seq: last - 1 });
      const report = checkRun(run);
      expect(report.failures).toEqual([expect.objectContaining({ node: 'slave-1', kind: 'missing', seq: last })]);
      expect(report.excused).toEqual([]);
    });

    it('does not excuse a message whose seq a later disconnect carries', () => {
      const run = simulate();
      const last = lastSeq(run);
      remove(run, msg('node-1', last));
      edit(run, endDisc, { reason: 'shutdown' });
      expect(checkRun(run).failures).toEqual([
        expect.objectContaining({ node: 'slave-1', kind: 'missing', seq: last }),
      ]);
    });

    it('excuses, and lists, the last message of a connection the master shut down', () => {
      const run = simulate();
      const last = lastSeq(run);
      remove(run, msg('node-1', last));
      edit(run, endDisc, { reason: 'shutdown', seq: last - 1 });
      const report = checkRun(run);
      expectPass(report);
      expect(report.excused).toEqual([
        expect.objectContaining({ node: 'slave-1', seq: last, fault: expect.objectContaining({ action: 'run-end' }) }),
      ]);
    });
  });

  it('excuses messages around a master restart until the first message logged after it', () => {
    const run = simulate({ slaves: 2, faults: [{ atMs: 2000, action: 'master-restart', target: 'master' }] });
    const beforeRestart = (run.slaves['slave-1'] ?? []).filter(
      (l) => l.event === 'sent' && ms(l.timestamp) >= 1600 && ms(l.timestamp) < 2000,
    );
    remove(run, msg('node-1', beforeRestart.at(-1)?.seq as number));
    const report = checkRun(run);
    expectPass(report);
    expect(report.excused).toEqual([
      expect.objectContaining({ node: 'slave-1', fault: expect.objectContaining({ action: 'master-restart' }) }),
    ]);
  });
});

/** The same run, as slaves that ask for acks would log it: their `starting` lines say so, with a process id. */
function withAcks(run: RunRecord): RunRecord {
  for (const [name, lines] of Object.entries(run.slaves)) {
    let process = 0;
    for (const line of lines.filter((l) => l.event === 'starting')) {
      line.acks = true;
      line.boot = `${name}-boot-${++process}`;
    }
  }
  return run;
}

describe('rule b with acks: only a kill, or a fault that outlasts the run, may lose a message', () => {
  it('fails messages lost in a cut or a pause: they should have been resent', () => {
    const report = checkRun(withAcks(kcp()));
    expect(report.excused.filter((x) => x.node === 'slave-3' || x.node === 'slave-1')).toEqual([]);
    const missing = only(report, 'missing');
    expect(missing.length).toBeGreaterThan(5);
    expect(new Set(missing.map((f) => f.node))).toEqual(new Set(['slave-3', 'slave-1']));
  });

  it('still excuses what a kill took with the process', () => {
    const run = withAcks(simulate({ slaves: 1, faults: [{ atMs: 1500, action: 'kill', target: 'slave-1' }] }));
    const last = Math.max(
      ...(run.slaves['slave-1'] ?? [])
        .filter((l) => l.event === 'sent' && ms(l.timestamp) < 1500)
        .map((l) => l.seq as number),
    );
    remove(run, msg('node-1', last));
    const report = checkRun(run);
    expectPass(report);
    expect(report.excused).toEqual([
      expect.objectContaining({ seq: last, fault: expect.objectContaining({ action: 'kill' }) }),
    ]);
  });

  it('lets a kill during a cut, or just after it, excuse what the cut kept unacked; not a kill long after', () => {
    const cutThenKill = (killAtMs: number): RunRecord =>
      withAcks(
        simulate({
          slaves: 1,
          faults: [
            { atMs: 2000, action: 'disconnect', target: 'slave-1' },
            { atMs: 3000, action: 'reconnect', target: 'slave-1' },
            { atMs: killAtMs, action: 'kill', target: 'slave-1' },
          ],
        }),
      );
    for (const killAtMs of [2500, 4000]) {
      const report = checkRun(cutThenKill(killAtMs));
      expect(only(report, 'missing')).toEqual([]);
      expect(report.excused.length).toBeGreaterThan(0);
      expect(report.excused.every((x) => x.fault.action === 'kill')).toBe(true);
    }
    // 3010 + 2000 ms after the cut ended, the resend was due: the cut's losses are failures again.
    expect(only(checkRun(cutThenKill(5500)), 'missing').length).toBeGreaterThan(0);
  });

  it('excuses nothing at a clean stop, a master restart or the run’s end', () => {
    const lastBefore = (run: RunRecord, atMs: number): number =>
      Math.max(
        ...(run.slaves['slave-1'] ?? [])
          .filter((l) => l.event === 'sent' && ms(l.timestamp) < atMs)
          .map((l) => l.seq as number),
      );
    const stop = withAcks(simulate({ slaves: 1, faults: [{ atMs: 1500, action: 'stop', target: 'slave-1' }] }));
    remove(stop, msg('node-1', lastBefore(stop, 1500)));
    const restart = withAcks(
      simulate({ slaves: 1, faults: [{ atMs: 2000, action: 'master-restart', target: 'master' }] }),
    );
    remove(restart, msg('node-1', lastBefore(restart, 2000)));
    const end = withAcks(simulate({ slaves: 1 }));
    const last = lastBefore(end, Infinity);
    remove(end, msg('node-1', last));
    edit(end, (l) => l.event === 'disconnect' && ms(l.timestamp) > 6000, { reason: 'shutdown', seq: last - 1 });
    for (const run of [stop, restart, end]) {
      const report = checkRun(run);
      expect(kinds(report)).toEqual(['missing']);
      expect(report.excused).toEqual([]);
    }
  });

  it('excuses a cut that lasts to the run’s end: nothing could be resent', () => {
    const run = withAcks(simulate({ slaves: 1, faults: [{ atMs: 5000, action: 'disconnect', target: 'slave-1' }] }));
    const report = checkRun(run);
    expect(report.excused.length).toBeGreaterThan(0);
    expect(only(report, 'missing')).toEqual([]);
  });

  it('excuses a message the slave dropped from a full outbox only when the master logged the gap', () => {
    const run = withAcks(simulate({ slaves: 1 }));
    const lines = run.slaves['slave-1']!;
    const sent5 = lines.find((l) => l.event === 'sent' && l.seq === 5)!;
    lines.splice(lines.indexOf(sent5) + 1, 0, { ...sent5, event: 'dropped', level: 'warn' });
    remove(run, msg('node-1', 5));
    expect(only(checkRun(run), 'missing')).toEqual([expect.objectContaining({ seq: 5 })]);
    const at = indexOf(run, msg('node-1', 6));
    const gap = { ...run.master[at]!, event: 'gap', level: 'warn', boot: 'slave-1-boot-1', from: 5, to: 5 };
    run.master.splice(at, 0, gap);
    const report = checkRun(run);
    expectPass(report);
    expect(report.excused).toEqual([
      expect.objectContaining({ seq: 5, fault: expect.objectContaining({ action: 'dropped', index: -2 }) }),
    ]);
  });

  it('takes a gap only for the slave process that it names: a new process numbers from 1 again', () => {
    const run = withAcks(simulate({ slaves: 1, faults: [{ atMs: 3000, action: 'restart', target: 'slave-1' }] }));
    const lines = run.slaves['slave-1']!;
    const second = lines.filter((l) => l.event === 'starting')[1]!;
    const sent2 = lines.find((l, i) => i > lines.indexOf(second) && l.event === 'sent' && l.seq === 2)!;
    lines.splice(lines.indexOf(sent2) + 1, 0, { ...sent2, event: 'dropped', level: 'warn' });
    remove(run, msg('node-1', 2, 1));
    // The first process's gap, logged before the restart, covers seq 2 too.
    const at = indexOf(run, msg('node-1', 3));
    run.master.splice(at, 0, {
      ...run.master[at]!,
      event: 'gap',
      level: 'warn',
      boot: 'slave-1-boot-1',
      from: 2,
      to: 2,
    });
    expect(only(checkRun(run), 'missing')).toEqual([expect.objectContaining({ seq: 2 })]);
  });

  it('takes a hello that asked for acks, without a seq, as the connection’s opening, not a message', () => {
    const run = simulate({ slaves: 1 });
    const hello = (l: RunLogLine): boolean => l.type === 'hello';
    for (const line of run.slaves['slave-1']!.filter(hello)) {
      line.acks = true;
      delete line.seq;
    }
    for (const line of run.master.filter(hello)) {
      line.acks = true;
      delete line.seq;
    }
    // Seqs then start at 2 (the simulator numbered the hello 1): still one message each, nothing unexpected.
    const report = checkRun(run);
    expectPass(report);
    expect(row(report, 'slave-1').unexpected).toBe(0);
  });
});

describe('rule c: one disconnect per fault, with a fitting reason, in time', () => {
  it('reports a kill without a disconnect', () => {
    const run = kcp();
    remove(run, disc('node-2', 'closed'));
    const report = checkRun(run);
    expect(report.failures).toEqual([
      expect.objectContaining({ node: 'slave-2', kind: 'missing_disconnect', fault: 0 }),
    ]);
  });

  it('reports a wrong reason and a late disconnect', () => {
    const wrong = kcp();
    edit(wrong, disc('node-2', 'closed'), { reason: 'timeout' });
    expect(checkRun(wrong).failures).toEqual([
      expect.objectContaining({ node: 'slave-2', kind: 'wrong_reason', fault: 0 }),
    ]);

    const late = kcp();
    edit(late, disc('node-2', 'closed'), { timestamp: iso(1510 + KILL_DETECT_MS + 1) });
    const report = checkRun(late);
    expect(report.failures).toEqual([expect.objectContaining({ node: 'slave-2', kind: 'late_disconnect', fault: 0 })]);
    expect(report.expectations[0]?.seen?.latencyMs).toBe(KILL_DETECT_MS + 11);
  });

  it('requires a timeout for a cut longer than timeout + interval + slack, and for a long pause', () => {
    const cut = kcp();
    remove(cut, disc('node-3', 'timeout'));
    expect(checkRun(cut).failures).toEqual([
      expect.objectContaining({ node: 'slave-3', kind: 'missing_disconnect', fault: 1 }),
    ]);

    const pause = simulate({
      faults: [
        { atMs: 1000, action: 'pause', target: 'slave-1' },
        { atMs: 4000, action: 'unpause', target: 'slave-1' },
      ],
    });
    remove(pause, disc('node-1', 'timeout'));
    expect(kinds(checkRun(pause))).toContain('missing_disconnect');
  });

  it('allows a cut between the timeout and the bound to yield a timeout or none', () => {
    const faults: SimFault[] = [
      { atMs: 1000, action: 'disconnect', target: 'slave-1' },
      { atMs: 2500, action: 'reconnect', target: 'slave-1' },
    ];
    const withTimeout = checkRun(simulate({ faults }));
    expectPass(withTimeout);
    expect(withTimeout.expectations[0]).toMatchObject({ expect: 'may', seen: { reason: 'timeout' } });
    const run = simulate({ faults });
    remove(run, disc('node-1', 'timeout'));
    const report = checkRun(run);
    // No fault requires it; but conn 1 now never ends, which "exactly one disconnect per connection" catches.
    expect(report.failures.map((f) => [f.node, f.kind, f.fault])).toEqual([
      ['slave-1', 'missing_disconnect', undefined],
    ]);
    expect(report.failures[0]?.detail).toContain('conn 1 ');
  });

  it('requires shutdown disconnects from the old master before its shutdown line', () => {
    const missing = simulate({ faults: [{ atMs: 2000, action: 'master-restart', target: 'master' }] });
    remove(missing, disc('node-2', 'shutdown'));
    expect(checkRun(missing).failures).toEqual([
      expect.objectContaining({ node: 'slave-2', kind: 'missing_disconnect', fault: 0 }),
    ]);

    const after = simulate({ faults: [{ atMs: 2000, action: 'master-restart', target: 'master' }] });
    const line = remove(after, disc('node-1', 'shutdown'));
    after.master.splice(indexOf(after, (l) => l.event === 'shutdown') + 1, 0, line);
    expect(checkRun(after).failures).toEqual([expect.objectContaining({ node: 'slave-1', kind: 'late_disconnect' })]);
  });
});

describe('rule d: spurious disconnects', () => {
  it('fails a disconnect no fault explains, but not the end of the run or other connections', () => {
    const run = kcp();
    const i = indexOf(run, msg('node-1', 8));
    insertDisconnect(run, i, { node: 'node-1', seq: 7, reason: 'timeout', conn: 1 });
    insertDisconnect(run, i, { node: '10.9.9.9:5000', reason: 'closed', conn: 42 });
    const report = checkRun(run);
    expect(report.failures).toEqual([expect.objectContaining({ node: 'slave-1', kind: 'spurious_disconnect' })]);
    expect(report.otherConnections).toBe(1);
    expect(report.endOfRunDisconnects).toBe(3);
  });

  it('fails a connection the master refused for want of the token, though it never named a slave', () => {
    const run = kcp();
    expectPass(checkRun(run));
    const i = indexOf(run, msg('node-1', 8));
    insertDisconnect(run, i, { node: '10.9.9.9:5000', reason: 'auth_failed', code: 'bad_proof', conn: 42 });
    const report = checkRun(run);
    expect(report.verdict).toBe('fail');
    expect(report.failures).toEqual([
      expect.objectContaining({
        node: '10.9.9.9:5000',
        kind: 'auth_failed',
        detail: expect.stringContaining('bad_proof'),
      }),
    ]);
    expect(report.otherConnections).toBe(0);
  });

  it('counts an extra disconnect after a kill as duplicated ("exactly one")', () => {
    const run = kcp();
    const i = indexOf(run, disc('node-2', 'closed'));
    run.master.splice(i + 1, 0, { ...(run.master[i] as RunLogLine), reason: 'reset' });
    const report = checkRun(run);
    expect(report.failures).toEqual([expect.objectContaining({ node: 'slave-2', kind: 'duplicated_disconnect' })]);
    expect(report.expectations[0]?.seen?.reason).toBe('closed');
  });
});

describe('rule g: exactly one disconnect per connection', () => {
  it('fails a run-end connection logged as disconnected twice, even with end-of-run reasons', () => {
    const run = kcp();
    const i = indexOf(run, (l) => l.event === 'disconnect' && l.node === 'node-3' && ms(l.timestamp) > 6000);
    const line = run.master[i] as RunLogLine;
    run.master.splice(i + 1, 0, { ...line, reason: 'shutdown' });
    const report = checkRun(run);
    expect(report.verdict).toBe('fail');
    expect(report.failures).toEqual([expect.objectContaining({ node: 'slave-3', kind: 'duplicated_disconnect' })]);
    expect(report.failures[0]?.detail).toContain(`conn ${line.conn as number} `);
    expect(report.endOfRunDisconnects).toBe(3);
  });

  it('fails connections that never end, naming each conn, but not twice for a fault’s missing disconnect', () => {
    const run = kcp();
    const ends = run.master.filter((l) => l.event === 'disconnect' && ms(l.timestamp) > 6000);
    run.master = run.master.filter((l) => !ends.includes(l));
    const report = checkRun(run);
    expect(ends).toHaveLength(3);
    expect(report.failures.map((f) => [f.node, f.kind, f.fault]).sort()).toEqual([
      ['slave-1', 'missing_disconnect', undefined],
      ['slave-2', 'missing_disconnect', undefined],
      ['slave-3', 'missing_disconnect', undefined],
    ]);
    for (const end of ends) {
      expect(report.failures.map((f) => f.detail)).toContainEqual(
        expect.stringContaining(`conn ${end.conn as number} `),
      );
    }

    const kill = kcp();
    remove(kill, disc('node-2', 'closed'));
    expect(checkRun(kill).failures).toEqual([
      expect.objectContaining({ node: 'slave-2', kind: 'missing_disconnect', fault: 0 }),
    ]);
  });

  it('does not count a disconnect followed by messages on the same connection as its end', () => {
    const run = kcp();
    const i = indexOf(run, msg('node-1', 8));
    run.master.splice(i, 0, { ...(run.master[i] as RunLogLine), event: 'disconnect', reason: 'timeout', seq: 7 });
    expect(kinds(checkRun(run))).toEqual(['spurious_disconnect']);
  });
});

describe('rule e: recovery', () => {
  it('fails when a started slave never connects again', () => {
    const run = simulate({
      slaves: 1,
      faults: [
        { atMs: 1000, action: 'kill', target: 'slave-1' },
        { atMs: 2000, action: 'start', target: 'slave-1' },
      ],
    });
    // The master "forgets" the new connection: no connect line.
    remove(run, (l) => l.event === 'connect' && l.conn === 2);
    const report = checkRun(run);
    expect(report.failures).toEqual([expect.objectContaining({ node: 'slave-1', kind: 'not_seen_again', fault: 1 })]);
  });

  it('fails when the node is seen again only after the deadline', () => {
    const run = kcp();
    // Every line of slave-1's reconnection after the unpause is stamped too late.
    const late = iso(5010 + 1000 + 5000 + 1);
    run.info.endedAt = iso(20_000);
    for (const line of run.master) {
      if (line.node === 'node-1' && ms(line.timestamp) > 5000 && line.event === 'message') line.timestamp = late;
    }
    expect(kinds(checkRun(run))).toContain('not_seen_again');
  });
});

describe('timing: from the request to the confirmation plus the bound', () => {
  // The engine carried the cut out 2.5 s after the request and confirmed it at 3 s, as Docker does
  // on a loaded machine: the timeout comes later than the bound counted from the request.
  const slowCut = (confirmedAfterMs: number): SimFault[] => [
    { atMs: 4500, action: 'disconnect', target: 'slave-1', appliedAfterMs: 2500, confirmedAfterMs },
    { atMs: 9000, action: 'reconnect', target: 'slave-1' },
  ];

  it('accepts an effect after the bound of the request when it is within the bound of the confirmation', () => {
    const report = checkRun(simulate({ durationMs: 12000, faults: slowCut(3000) }));
    expectPass(report);
    const cut = report.expectations.find((e) => e.fault.action === 'disconnect')!;
    expect(cut.status).toBe('pass');
    expect(ms(cut.seen!.at)).toBeGreaterThan(2000 + 1000 + 300 + SCHEDULING_SLACK_MS);
    expect(ms(cut.deadline)).toBe(5000 + 1000 + 300 + SCHEDULING_SLACK_MS);
    expect(cut.bound).toBe(
      `confirmation + timeout 1000 + interval 300 + scheduling slack ${SCHEDULING_SLACK_MS} = ${2300} ms`,
    );
    expect([cut.fault.requestedAt, cut.fault.confirmedAt].map((t) => ms(t!))).toEqual([2000, 5000]);
  });

  it('still fails an effect beyond the bound of a confirmation that came in time', () => {
    const run = simulate({ durationMs: 12000, faults: slowCut(3000) });
    const disc = (l: RunLogLine): boolean => l.event === 'disconnect' && l.node === 'node-1' && l.reason === 'timeout';
    edit(run, disc, { timestamp: iso(5000 + 2300 + 1) });
    const report = checkRun(run);
    expect(report.verdict).toBe('fail');
    expect(kinds(report)).toEqual(['late_disconnect']);
  });

  it('judges inconclusive, not failed, an effect late for a fault confirmed beyond the limit', () => {
    const report = checkRun(simulate({ durationMs: 16000, faults: slowCut(CONFIRM_LIMIT_MS + 1) }));
    expect(report.failures).toEqual([]);
    expect(report.verdict).toBe('inconclusive');
    expect(report.inconclusive).toEqual([
      expect.objectContaining({ node: 'slave-1', kind: 'slow_confirmation', fault: 0 }),
    ]);
    expect(report.expectations.find((e) => e.fault.action === 'disconnect')?.status).toBe('inconclusive');
    expect(formatTable(report)).toMatch(/VERDICT: INCONCLUSIVE — 1 check cannot be judged, none failed/);
    expect(toJUnitXml(report, 'r')).toMatch(/<skipped message="inconclusive: slave-1: the disconnect of slave-1/);
  });

  it('passes a fault confirmed beyond the limit whose effect came within the bound of its request', () => {
    const report = checkRun(
      simulate({ faults: [{ atMs: 1500, action: 'kill', target: 'slave-2', confirmedAfterMs: CONFIRM_LIMIT_MS + 1 }] }),
    );
    expectPass(report);
  });

  it('lets a definite failure outweigh a check that cannot be judged', () => {
    const run = simulate({ durationMs: 16000, faults: slowCut(CONFIRM_LIMIT_MS + 1) });
    run.master = run.master.filter((l) => !(l.event === 'message' && l.node === 'node-2' && l.seq === 5));
    const report = checkRun(run);
    expect(report.verdict).toBe('fail');
    expect(kinds(report)).toEqual(['missing']);
    expect(report.inconclusive.map((x) => x.kind)).toEqual(['slow_confirmation']);
  });

  it('cannot judge an interrupted run, and does not blame the master for its teardown', () => {
    const run = simulate({ faults: [{ atMs: 1500, action: 'kill', target: 'slave-2' }] });
    run.info.interrupted = { signal: 'SIGINT', at: iso(2500) };
    // The runner stopped the cluster at the interruption, long before the scenario's end.
    for (const line of run.master) {
      if (line.event === 'disconnect' && ms(line.timestamp) > 5000) line.timestamp = iso(2600);
    }
    const report = checkRun(run);
    expect(report.verdict).toBe('inconclusive');
    expect(report.failures).toEqual([]);
    expect(report.inconclusive).toEqual([expect.objectContaining({ kind: 'interrupted' })]);
    expect(report.inconclusive[0]?.detail).toMatch(/interrupted \(SIGINT\) at \+2\.500s/);
    expect(formatTable(report)).toMatch(/VERDICT: INCONCLUSIVE — the run cannot be judged: interrupted/);
    const junit = toJUnitXml(report, 'r');
    expect(junit).not.toMatch(/<testcase [^>]*\/>/); // nothing shown as passed
    expect(junit).toMatch(/<skipped message="not judged: the run was interrupted \(SIGINT\)/);
  });
});

describe('rule f and unusable records', () => {
  it('makes the verdict "inconclusive" when a fault was not confirmed', () => {
    const run = simulate({
      faults: [{ atMs: 1000, action: 'kill', target: 'slave-1', error: 'docker: no such container' }],
    });
    const report = checkRun(run);
    expect(report.verdict).toBe('inconclusive');
    expect(report.inconclusive).toContainEqual(
      expect.objectContaining({ node: 'slave-1', kind: 'fault_not_confirmed', fault: 0 }),
    );
  });

  it.each<[string, (run: RunRecord) => void]>([
    ['a slave without a log', (run) => delete run.slaves['slave-2']],
    ['a master that never listened', (run) => (run.master = [])],
    ['no message sent at all', (run) => (run.slaves = { 'slave-1': [], 'slave-2': [] })],
    ['two slaves with one node id', (run) => (run.info.nodes['slave-2'] = 'node-1')],
    [
      'a fault on an unknown slave',
      (run) => run.timeline.push({ ...(run.timeline[0] as TimelineEntry), target: 'slave-9' }),
    ],
  ])('makes the verdict "inconclusive" for %s', (_name, doctor) => {
    const run = simulate({ faults: [{ atMs: 1000, action: 'kill', target: 'slave-1' }] });
    doctor(run);
    const report = checkRun(run);
    expect(report.verdict).toBe('inconclusive');
    expect(report.inconclusive.map((x) => x.kind)).toContain('invalid_run');
  });

  it('never passes a master that logged nothing but its start', () => {
    const run = kcp();
    run.master = run.master.filter((l) => l.event === 'listening');
    const report = checkRun(run);
    expect(report.verdict).toBe('fail');
    const sent = report.nodes.reduce((sum, n) => sum + n.sent, 0);
    expect(only(report, 'missing').length).toBeGreaterThan(sent / 2);
    expect(only(report, 'missing').length + report.excused.length).toBe(sent);
    expect(kinds(report)).toEqual(expect.arrayContaining(['missing_disconnect', 'not_seen_again']));
  });
});

// ---------------------------------------------------------------------------

const FIXTURES = RUN_FIXTURES;

describe('the run-directory fixtures', () => {
  it('reads and passes the clean run', async () => {
    const report = checkRun(await readRunDirectory(join(FIXTURES, 'clean')));
    expectPass(report);
    expect(report.nodes.map((n) => [n.name, n.disconnectsSeen])).toEqual([
      ['slave-1', 1],
      ['slave-2', 1],
      ['slave-3', 1],
    ]);
  });

  it.each<[string, Partial<Record<'node' | 'kind', string>> & { seq?: number; fault?: number }]>([
    ['missing-message', { node: 'slave-1', kind: 'missing', seq: 5 }],
    ['duplicated-message', { node: 'slave-3', kind: 'duplicated', seq: 4 }],
    ['missing-disconnect', { node: 'slave-3', kind: 'missing_disconnect', fault: 1 }],
    ['spurious-disconnect', { node: 'slave-1', kind: 'spurious_disconnect' }],
    ['late-disconnect', { node: 'slave-2', kind: 'late_disconnect', fault: 0 }],
    ['wrong-reason', { node: 'slave-2', kind: 'wrong_reason', fault: 0 }],
    ['wrong-content', { node: 'slave-1', kind: 'wrong_content', seq: 4 }],
    ['duplicated-disconnect', { node: 'slave-3', kind: 'duplicated_disconnect' }],
    ['unended-connection', { node: 'slave-2', kind: 'missing_disconnect' }],
    ['lost-last-message', { node: 'slave-2', kind: 'missing', seq: 9 }],
  ])('fails %s with exactly the doctored failure', async (name, failure) => {
    const report = checkRun(await readRunDirectory(join(FIXTURES, name)));
    expect(report.verdict).toBe('fail');
    expect(report.failures).toEqual([expect.objectContaining(failure)]);
  });

  it('reports a stranger that said hello once in the wrong-content run as one failure, beside the doctored one', async () => {
    const run = await readRunDirectory(join(FIXTURES, 'wrong-content'));
    // slave-2 says hello twice (a second process after its kill): the stranger comes after the first one only.
    const i = run.master.findIndex((l) => l.event === 'message' && l.node === 'pc-7f3a-slave-2' && l.seq === 1);
    const hello = run.master[i] as RunLogLine;
    const at = '2025-03-14T09:26:40.070Z';
    const connect = { timestamp: at, level: 'info', event: 'connect', message: 'Client connected', conn: 99 };
    run.master.splice(
      i + 1,
      0,
      { ...connect, remote: '127.0.0.1:1', node: '127.0.0.1:1' },
      { ...hello, timestamp: at, node: 'stranger', conn: 99, message: 'Received message: Hello World, stranger' },
    );
    const report = checkRun(run);
    expect(report.failures.map((f) => [f.kind, f.node, f.seq])).toEqual([
      ['wrong_content', 'slave-1', 4],
      ['unexpected', 'stranger', 1],
    ]);
  });

  it('judges slow-confirmation inconclusive: a cut Docker confirmed 10.5 s after the request, detected after the request’s bound', async () => {
    const report = checkRun(await readRunDirectory(join(FIXTURES, 'slow-confirmation')));
    expect(report.failures).toEqual([]);
    expect(report.inconclusive).toEqual([
      expect.objectContaining({ node: 'slave-3', kind: 'slow_confirmation', fault: 2 }),
    ]);
    expect(report.verdict).toBe('inconclusive');
  });
});

describe('readRunDirectory', () => {
  let dir: string;
  useScratchRun('picluster-check-', (scratch) => (dir = scratch));

  const rejection = async (): Promise<RunDirectoryError> => {
    const error = await readRunDirectory(dir).then(
      () => undefined,
      (err: unknown) => err,
    );
    expect(error).toBeInstanceOf(RunDirectoryError);
    return error as RunDirectoryError;
  };

  it('names the file and line of a malformed JSON line', async () => {
    const file = join(dir, 'slave-2.jsonl');
    const lines = readFileSync(file, 'utf8').split('\n');
    lines[3] = '{"timestamp": "2025-03-14T09:26:40.400Z", "event": "sent", ';
    writeFileSync(file, lines.join('\n'));
    const error = await rejection();
    expect(error).toMatchObject({ code: 'PICLUSTER_ERR_INVALID_RUN', file, line: 4 });
    expect(error.message).toContain('slave-2.jsonl:4');
  });

  it('rejects a missing run.json, a missing slave log, a line without a timestamp', async () => {
    rmSync(join(dir, 'run.json'));
    expect(await rejection()).toMatchObject({ code: 'PICLUSTER_ERR_INVALID_RUN', file: join(dir, 'run.json') });
    cpSync(join(FIXTURES, 'clean', 'run.json'), join(dir, 'run.json'));
    rmSync(join(dir, 'slave-3.jsonl'));
    expect(await rejection()).toMatchObject({ file: join(dir, 'slave-3.jsonl') });
    cpSync(join(FIXTURES, 'clean', 'slave-3.jsonl'), join(dir, 'slave-3.jsonl'));
    writeFileSync(join(dir, 'master.jsonl'), '{"event":"listening"}\n');
    expect(await rejection()).toMatchObject({ file: join(dir, 'master.jsonl'), line: 1 });
  });

  it('rejects a run.json with a bad field, naming it', async () => {
    const info = JSON.parse(readFileSync(join(dir, 'run.json'), 'utf8')) as Record<string, unknown>;
    writeFileSync(join(dir, 'run.json'), JSON.stringify({ ...info, heartbeatTimeoutMs: -1 }));
    expect((await rejection()).message).toContain('"heartbeatTimeoutMs" must be a positive number');
    writeFileSync(join(dir, 'run.json'), JSON.stringify({ ...info, nodes: { '../etc/passwd': 'x' } }));
    expect((await rejection()).message).toContain('"nodes"');
    for (const warnings of ['abc', { length: 1 }, [1]]) {
      writeFileSync(join(dir, 'run.json'), JSON.stringify({ ...info, warnings }));
      expect((await rejection()).message).toContain('"warnings" must be an array of strings');
    }
  });
});

describe('reports', () => {
  it('prints a table with a row per node, the failures and the verdict', async () => {
    const report = checkRun(await readRunDirectory(join(FIXTURES, 'missing-message')));
    const text = formatTable(report);
    expect(text).toMatch(/^slave-1\s+pc-7f3a-slave-1\s+16\s+14\s+1\s+0/m);
    expect(text).toContain('missing');
    expect(text).toContain('seq 5');
    expect(text.trimEnd().split('\n').at(-1)).toBe('VERDICT: FAIL — 1 failure');
  });

  it('writes JUnit XML with a testcase per node and per expectation, escaped', () => {
    const run = kcp();
    remove(run, msg('node-1', 5));
    run.info.scenario = 'a<b>&"c"';
    const xml = toJUnitXml(checkRun(run), 'run&1');
    expect(xml).toContain('<testsuite name="run&amp;1"');
    expect(xml).toContain('picluster.a&lt;b&gt;&amp;&quot;c&quot;.messages');
    expect(xml).toMatch(
      /<testcase [^>]*name="slave-1 \(node-1\): \d+ sent, each logged once"[^>]*>\s*<failure message="slave-1 seq 5/,
    );
    expect((xml.match(/<testcase /g) ?? []).length).toBe(1 + 3 * 2 + checkRun(run).expectations.length);
    expect((xml.match(/<failure /g) ?? []).length).toBe(1);
    expect(escapeXml('a\u0001b<')).toBe('a\uFFFDb&lt;');
  });

  it('names a phi detector in the report and its heading; the fixed one is the default and unnamed', () => {
    const fixed = checkRun(simulate());
    expect(fixed.detector).toBeUndefined();
    expect(formatTable(fixed).split('\n')[0]).toMatch(/timeout \d+ ms$/);
    const run = simulate();
    run.info.detector = { kind: 'phi', threshold: 8, minStdDevMs: 100, acceptablePauseMs: 250 };
    const phi = checkRun(run);
    expect(phi.detector).toEqual(run.info.detector);
    expect(formatTable(phi).split('\n')[0]).toMatch(
      /timeout \d+ ms; detector phi \(threshold 8, min std dev 100 ms, acceptable pause 250 ms\)$/,
    );
  });

  it('writes report.json and junit.xml into the run directory', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'picluster-report-'));
    try {
      const report = checkRun(simulate());
      const files = await writeReports(dir, report);
      expect(files).toEqual([join(dir, 'report.json'), join(dir, 'junit.xml')]);
      expect(JSON.parse(readFileSync(files[0] as string, 'utf8'))).toMatchObject({ verdict: 'pass' });
      expect(readFileSync(files[1] as string, 'utf8')).toMatch(/^<\?xml/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
