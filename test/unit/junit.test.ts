import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { checkRun, type CheckReport, type NodeRow } from '../../src/orchestrator/checker';
import { escapeXml, problemText, toJUnitXml } from '../../src/orchestrator/junit';
import { formatTable } from '../../src/orchestrator/report';
import { readRunDirectory } from '../../src/orchestrator/run-directory';
import { RUN_FIXTURES } from '../helpers/run-fixtures';

// ---------------------------------------------------------------------------
// A small reader of the XML toJUnitXml writes: well-formedness by a stack of
// tags, then the suite, its properties and its test cases by structure.

function unescapeXml(text: string): string {
  return text
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&quot;/g, '"')
    .replace(/&apos;/g, "'")
    .replace(/&amp;/g, '&');
}

/** Throws unless every tag closes in order, attribute values hold no `<`, and every `&` starts an entity. */
function assertWellFormed(xml: string): void {
  const body = xml.replace(/^<\?xml [^?]*\?>\n/, '');
  const stack: string[] = [];
  const tag = /<(\/?)([A-Za-z][\w-]*)((?:\s+[\w.-]+="[^"<]*")*)\s*(\/?)>/y;
  let at = 0;
  while (at < body.length) {
    const lt = body.indexOf('<', at);
    const text = body.slice(at, lt < 0 ? body.length : lt);
    if (/&(?!(?:lt|gt|amp|quot|apos);)/.test(text)) throw new Error(`bare & in text at ${at}: ${text}`);
    if (lt < 0) break;
    tag.lastIndex = lt;
    const m = tag.exec(body);
    if (m === null) throw new Error(`not a tag at ${lt}: ${body.slice(lt, lt + 80)}`);
    const [whole, closing, name, attrs, selfClosing] = m;
    if (/&(?!(?:lt|gt|amp|quot|apos);)/.test(attrs ?? '')) throw new Error(`bare & in attributes: ${whole}`);
    if (closing === '/') {
      if (stack.pop() !== name) throw new Error(`</${name}> closes nothing open`);
    } else if (selfClosing !== '/') {
      stack.push(name as string);
    }
    at = lt + whole.length;
  }
  if (stack.length > 0) throw new Error(`unclosed: ${stack.join(', ')}`);
}

function attributes(tagText: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const m of tagText.matchAll(/([\w.-]+)="([^"]*)"/g)) out[m[1] as string] = unescapeXml(m[2] as string);
  return out;
}

interface ParsedCase {
  classname: string;
  name: string;
  time: string;
  failure?: { tag: string; message: string; type: string; text: string };
  skipped?: string;
}

interface ParsedSuite {
  suite: Record<string, string>;
  properties: Map<string, string>;
  cases: ParsedCase[];
}

function parseJUnit(xml: string): ParsedSuite {
  assertWellFormed(xml);
  const suiteTag = /<testsuite [^>]*>/.exec(xml)?.[0] ?? '';
  const properties = new Map<string, string>();
  for (const m of xml.matchAll(/<property [^>]*\/>/g)) {
    const { name, value } = attributes(m[0]);
    properties.set(name as string, value as string);
  }
  const cases: ParsedCase[] = [];
  for (const m of xml.matchAll(/<testcase ([^>]*?)(?:\/>|>([\s\S]*?)<\/testcase>)/g)) {
    const { classname, name, time } = attributes(m[1] as string);
    const c: ParsedCase = { classname: classname as string, name: name as string, time: time as string };
    const body = m[2] ?? '';
    const failure = /<(failure|error) ([^>]*)>([\s\S]*?)<\/\1>/.exec(body);
    if (failure !== null) {
      const a = attributes(failure[2] as string);
      c.failure = {
        tag: failure[1] as string,
        message: a.message as string,
        type: a.type as string,
        text: unescapeXml(failure[3] as string),
      };
    }
    const skipped = /<skipped ([^>]*)\/>/.exec(body);
    if (skipped !== null) c.skipped = attributes(skipped[1] as string).message;
    cases.push(c);
  }
  return { suite: attributes(suiteTag), properties, cases };
}

const seconds = (fromIso: string, toIso: string): string =>
  ((Date.parse(toIso) - Date.parse(fromIso)) / 1000).toFixed(3);

const caseNamed = (parsed: ParsedSuite, classSuffix: string, nameStart: string): ParsedCase => {
  const found = parsed.cases.find((c) => c.classname.endsWith(classSuffix) && c.name.startsWith(nameStart));
  if (found === undefined) throw new Error(`no ${classSuffix} case named ${nameStart}…`);
  return found;
};

async function fixtureReport(name: string): Promise<CheckReport> {
  return checkRun(await readRunDirectory(join(RUN_FIXTURES, name)));
}

interface LogLine {
  timestamp: string;
  event: string;
  node?: string;
}

function logLines(fixture: string, file: string): LogLine[] {
  return readFileSync(join(RUN_FIXTURES, fixture, file), 'utf8')
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as LogLine);
}

// ---------------------------------------------------------------------------
// A report written by hand, with round times, for spans known in advance.

const T0 = Date.parse('2026-01-02T03:04:05.000Z');
const at = (ms: number): string => new Date(T0 + ms).toISOString();
const none = { count: 0, p50Ms: null, maxMs: null };

function row(name: string, extra: Partial<NodeRow>): NodeRow {
  return {
    name,
    node: `node-${name}`,
    incarnations: 1,
    sent: 10,
    logged: 10,
    missing: [],
    duplicated: [],
    outOfOrder: [],
    unexpected: 0,
    inFlight: [],
    disconnectsExpected: 0,
    disconnectsOptional: 0,
    disconnectsSeen: 0,
    detectionLatenciesMs: [],
    ...extra,
  };
}

function handReport(): CheckReport {
  const kill = { index: 0, action: 'kill' as const, target: 'slave-2', atMs: 2000 };
  return {
    verdict: 'fail',
    scenario: 'hand',
    backend: 'local',
    seed: 7,
    startedAt: at(0),
    endedAt: at(10_000),
    heartbeatIntervalMs: 500,
    heartbeatTimeoutMs: 1500,
    nodes: [
      row('slave-1', { firstSentAt: at(100), lastLoggedAt: at(9_100) }),
      row('slave-2', {
        logged: 9,
        missing: [{ incarnation: 1, seq: 4 }],
        firstSentAt: at(200),
        lastLoggedAt: at(8_000),
        disconnectsExpected: 1,
        disconnectsSeen: 1,
        detectionLatenciesMs: [350],
      }),
      row('slave-3', { sent: 0, logged: 0 }),
    ],
    expectations: [
      {
        fault: { ...kill, requestedAt: at(2_000), confirmedAt: at(2_040) },
        node: 'slave-2',
        nodeId: 'node-slave-2',
        check: 'disconnect',
        expect: 'must',
        reasons: ['closed', 'reset'],
        from: at(1_500),
        deadline: at(4_000),
        bound: 'confirmation + 1960 ms',
        seen: { at: at(2_350), latencyMs: 350, reason: 'closed', conn: 2 },
        status: 'pass',
      },
      {
        fault: {
          index: 1,
          action: 'start',
          target: 'slave-2',
          atMs: 3000,
          requestedAt: at(3_000),
          confirmedAt: at(3_400),
        },
        node: 'slave-2',
        nodeId: 'node-slave-2',
        check: 'recovery',
        expect: 'must',
        from: at(3_000),
        deadline: at(6_500),
        bound: 'confirmation + 3100 ms',
        status: 'fail',
      },
    ],
    failures: [
      {
        node: 'slave-2',
        kind: 'missing',
        seq: 4,
        incarnation: 1,
        detail: 'slave-2 seq 4 (incarnation 1) was never logged',
      },
      { node: 'slave-2', kind: 'not_seen_again', fault: 1, detail: 'slave-2 was not seen again by +6.500s' },
    ],
    inconclusive: [],
    excused: [],
    sentLinesLost: [],
    latency: {
      killStop: { count: 1, p50Ms: 350, maxMs: 350 },
      cutPause: none,
      masterRestart: none,
      network: none,
    },
    messageLatency: {
      all: { count: 29, p50Ms: 2, p99Ms: 9, maxMs: 11 },
      nodes: {},
    },
    delayChecks: [
      {
        node: 'slave-1',
        fault: {
          index: 2,
          action: 'delay',
          target: 'slave-1',
          atMs: 5000,
          requestedAt: at(5_000),
          confirmedAt: at(5_020),
        },
        from: at(5_020),
        to: at(7_500),
        judgedUntil: at(7_200),
        closedBy: '#3 heal requested',
        delayMs: 300,
        jitterMs: 0,
        count: 5,
        disrupted: 0,
        p50Ms: 301,
        baselineP50Ms: 2,
        withinMs: [240, 362],
        status: 'pass',
      },
    ],
    otherConnections: 0,
    endOfRunDisconnects: 3,
  };
}

describe('JUnit: the spans of the test cases', () => {
  it('times each case by the span of its evidence, and the suite by the run', () => {
    const parsed = parseJUnit(toJUnitXml(handReport(), 'hand-1'));
    expect(parsed.suite.time).toBe('10.000');
    expect(parsed.suite.timestamp).toBe('2026-01-02T03:04:05');
    const times = parsed.cases.map((c) => [c.classname.replace('picluster.hand.', ''), c.name.split(':')[0], c.time]);
    expect(times).toEqual([
      ['run', 'run record is usable, the run was not interrupted, and every fault was carried out', '10.000'],
      // First send to last logged message.
      ['messages', 'slave-1 (node-slave-1)', '9.000'],
      ['disconnects', 'slave-1 (node-slave-1)', '10.000'],
      // A missing message is judged at the run's end.
      ['messages', 'slave-2 (node-slave-2)', '9.800'],
      ['disconnects', 'slave-2 (node-slave-2)', '10.000'],
      // Nothing sent: the run.
      ['messages', 'slave-3 (node-slave-3)', '10.000'],
      ['disconnects', 'slave-3 (node-slave-3)', '10.000'],
      // Request to what was seen; request to the deadline when nothing was.
      ['faults', '#0 kill slave-2 @2000ms', '0.350'],
      ['faults', '#1 start slave-2 @3000ms', '3.500'],
      // The delay's window.
      ['delays', '#2 delay slave-1 @5000ms', '2.480'],
    ]);
  });

  it('never counts past the run end, nor below zero', () => {
    const report = handReport();
    const [kill, start] = report.expectations;
    report.expectations = [
      { ...kill!, seen: undefined, deadline: at(12_000) },
      { ...start!, fault: { ...start!.fault, requestedAt: 'not a time' }, from: 'never' },
    ];
    const parsed = parseJUnit(toJUnitXml(report, 'hand-1'));
    const faults = parsed.cases.filter((c) => c.classname.endsWith('.faults'));
    expect(faults.map((c) => c.time)).toEqual(['8.000', '0.000']);
  });

  it('matches the first send and the last logged message of each slave in a recorded run', async () => {
    const report = await fixtureReport('clean');
    const parsed = parseJUnit(toJUnitXml(report, 'clean'));
    const master = logLines('clean', 'master.jsonl');
    const run = JSON.parse(readFileSync(join(RUN_FIXTURES, 'clean', 'run.json'), 'utf8')) as {
      startedAt: string;
      endedAt: string;
      nodes: Record<string, string>;
    };
    expect(parsed.suite.time).toBe(seconds(run.startedAt, run.endedAt));
    for (const [name, node] of Object.entries(run.nodes)) {
      const firstSent = logLines('clean', `${name}.jsonl`).find((l) => l.event === 'sent')?.timestamp as string;
      const lastLogged = master.filter((l) => l.event === 'message' && l.node === node).at(-1)?.timestamp as string;
      const messages = caseNamed(parsed, '.messages', `${name} (`);
      expect(messages.time).toBe(seconds(firstSent, lastLogged));
      expect(Number(messages.time)).toBeGreaterThan(0);
    }
    for (const c of parsed.cases) expect(Number(c.time)).toBeGreaterThan(0);
    const kill = report.expectations.find((e) => e.fault.action === 'kill' && e.check === 'disconnect');
    expect(caseNamed(parsed, '.faults', '#0 kill').time).toBe(seconds(kill!.fault.requestedAt!, kill!.seen!.at));
  });
});

describe('JUnit: failures, skipped checks and properties', () => {
  it("words each failure as the terminal's failure table does", async () => {
    for (const report of [await fixtureReport('missing-message'), handReport()]) {
      const parsed = parseJUnit(toJUnitXml(report, 'r'));
      const failed = parsed.cases.filter((c) => c.failure !== undefined);
      expect(failed.length).toBeGreaterThan(0);
      const table = formatTable(report).split('\n');
      const rows = table.slice(table.findIndex((l) => l.startsWith('Failures (')) + 2);
      for (const f of report.failures) {
        const line = problemText(f);
        const terminalRow = rows.find((r) => r.trim().split(/ {2,}/).join('  ') === line);
        expect(terminalRow).toBeDefined();
        expect(failed.some((c) => c.failure?.text.split('\n').includes(line))).toBe(true);
      }
      expect(failed.map((c) => c.failure?.tag)).toEqual(failed.map(() => 'failure'));
    }
  });

  it('puts a single failure in the message and several in the text', () => {
    const report = handReport();
    report.failures.push({ node: 'slave-2', kind: 'duplicated', seq: 6, incarnation: 1, detail: 'seq 6 twice' });
    const parsed = parseJUnit(toJUnitXml(report, 'r'));
    const messages = caseNamed(parsed, '.messages', 'slave-2 (');
    expect(messages.failure).toEqual({
      tag: 'failure',
      message: '2 × missing, duplicated',
      type: 'missing, duplicated',
      text: 'slave-2  missing  seq 4  slave-2 seq 4 (incarnation 1) was never logged\nslave-2  duplicated  seq 6  seq 6 twice',
    });
    const recovery = caseNamed(parsed, '.faults', '#1 start');
    expect(recovery.failure?.message).toBe('slave-2 was not seen again by +6.500s');
    expect(recovery.failure?.text).toBe('slave-2  not_seen_again  -  slave-2 was not seen again by +6.500s');
    expect(parsed.suite).toMatchObject({ tests: '10', failures: '2', errors: '0', skipped: '0' });
  });

  it('marks an inconclusive check skipped with its reason, never passed nor failed', async () => {
    const report = await fixtureReport('slow-confirmation');
    expect(report.verdict).toBe('inconclusive');
    const slow = report.inconclusive.find((x) => x.kind === 'slow_confirmation');
    expect(slow).toBeDefined();
    const parsed = parseJUnit(toJUnitXml(report, 'slow'));
    const cut = caseNamed(parsed, '.faults', '#2 disconnect slave-3');
    expect(cut.skipped).toBe(`inconclusive: ${slow!.detail}`);
    expect(cut.failure).toBeUndefined();
    expect(Number(cut.time)).toBeGreaterThan(0);
    // The other checks of the run are judged: the path to a plain pass is live.
    expect(caseNamed(parsed, '.faults', '#0 kill slave-2').skipped).toBeUndefined();
    expect(parsed.properties.get('verdict')).toBe('inconclusive');
  });

  it('skips every check of a run that cannot be judged, with real times still', async () => {
    const run = await readRunDirectory(join(RUN_FIXTURES, 'clean'));
    run.info.interrupted = { signal: 'SIGTERM', at: run.info.endedAt };
    const parsed = parseJUnit(toJUnitXml(checkRun(run), 'r'));
    expect(parsed.cases.length).toBeGreaterThan(1);
    for (const c of parsed.cases) {
      expect(c.skipped).toMatch(/interrupted \(SIGTERM\)/);
      expect(Number(c.time)).toBeGreaterThan(0);
    }
    expect(parsed.properties.get('interrupted')).toBe('SIGTERM');
    expect(parsed.suite.skipped).toBe(String(parsed.cases.length));
  });

  it('lists what ran, the verdict and the figures as properties', async () => {
    const hand = parseJUnit(toJUnitXml(handReport(), 'r')).properties;
    expect(Object.fromEntries(hand)).toEqual({
      scenario: 'hand',
      backend: 'local',
      seed: '7',
      verdict: 'fail',
      startedAt: '2026-01-02T03:04:05.000Z',
      endedAt: '2026-01-02T03:04:15.000Z',
      heartbeatIntervalMs: '500',
      heartbeatTimeoutMs: '1500',
      slaves: '3',
      'messages.sent': '20',
      'messages.logged': '19',
      'messages.missing': '1',
      'messages.duplicated': '0',
      'messages.inFlight': '0',
      'messageLatency.count': '29',
      'messageLatency.p50Ms': '2',
      'messageLatency.p99Ms': '9',
      'messageLatency.maxMs': '11',
      'detectionLatency.killStop.count': '1',
      'detectionLatency.killStop.p50Ms': '350',
      'detectionLatency.killStop.maxMs': '350',
      'detectionLatency.cutPause.count': '0',
      'detectionLatency.masterRestart.count': '0',
      'detectionLatency.network.count': '0',
      failures: '2',
      inconclusiveChecks: '0',
    });
    // From a recorded run: the seed run.json holds, and the figures the report holds.
    const run = await readRunDirectory(join(RUN_FIXTURES, 'missing-message'));
    expect(checkRun(run).seed).toBeUndefined();
    expect(parseJUnit(toJUnitXml(checkRun(run), 'r')).properties.has('seed')).toBe(false);
    run.info.seed = 12345;
    const report = checkRun(run);
    expect(report.seed).toBe(12345);
    const props = parseJUnit(toJUnitXml(report, 'r')).properties;
    expect(props.get('seed')).toBe('12345');
    expect(props.get('backend')).toBe('docker');
    expect(props.get('messages.sent')).toBe(String(report.nodes.reduce((t, n) => t + n.sent, 0)));
    expect(props.get('messages.missing')).toBe('1');
    expect(props.get('messageLatency.p99Ms')).toBe(String(report.messageLatency.all.p99Ms));
    expect(props.get('detectionLatency.cutPause.maxMs')).toBe(String(report.latency.cutPause.maxMs));
  });
});

describe('JUnit: hostile text', () => {
  it('escapes names and details, and replaces what XML 1.0 cannot hold', () => {
    const report = handReport();
    const hostile = `a<b>&"c"'d</testcase>]]>\u0001\uD800z`;
    report.scenario = hostile;
    report.nodes[0] = { ...report.nodes[0]!, name: hostile, node: `<node attr="x">` };
    report.failures.push({ node: hostile, kind: 'missing', seq: 9, detail: `</failure><testcase name="x"/>&amp;` });
    report.seed = undefined;
    const xml = toJUnitXml(report, `run"&<1>`);
    const parsed = parseJUnit(xml);
    expect(parsed.suite.name).toBe('run"&<1>');
    expect(parsed.properties.get('scenario')).toBe(`a<b>&"c"'d</testcase>]]>\uFFFD\uFFFDz`);
    expect(parsed.cases).toHaveLength(10);
    const messages = parsed.cases.find((c) => c.classname.endsWith('.messages') && c.name.includes('<node'));
    expect(messages?.failure?.text).toBe(
      `a<b>&"c"'d</testcase>]]>\uFFFD\uFFFDz  missing  seq 9  </failure><testcase name="x"/>&amp;`,
    );
    expect(escapeXml('\t\n\r ok')).toBe('\t\n\r ok');
  });
});
