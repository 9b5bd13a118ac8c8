import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { checkRun, type CheckReport } from '../../src/orchestrator/checker';
import { verdictLine, escapeXml } from '../../src/orchestrator/report';
import {
  BAND_BUDGET,
  MASTER_LANE,
  buildHtmlModel,
  clientScript,
  faultWindows,
  laneMessages,
  renderHtml,
  SINGLE_MESSAGE_BUDGET,
} from '../../src/orchestrator/report-html';
import type { LoggedMessage } from '../../src/orchestrator/report-html/messages';
import { openRunDirectory } from '../../src/orchestrator/run-directory';
import type { TimelineEntry } from '../../src/orchestrator/types';
import { RUN_FIXTURES } from '../helpers/run-fixtures';
import { pageFacts } from '../helpers/report-page';

async function pageOf(dir: string): Promise<{ html: string; report: CheckReport }> {
  const report = checkRun(await openRunDirectory(dir));
  return { html: renderHtml(buildHtmlModel(await openRunDirectory(dir), report), report), report };
}

function messagesVisitor(messages: readonly LoggedMessage[]): (fn: (m: LoggedMessage) => void) => void {
  return (fn) => messages.forEach(fn);
}

/** `count` messages over `spanMs`, every 10 ms, each logged 1 to 5 ms later; a few much later (a resend). */
function evenMessages(count: number, spanMs: number): LoggedMessage[] {
  return Array.from({ length: count }, (_, i) => {
    const sentMs = (i * spanMs) / count;
    return { seq: i + 1, incarnation: 1, sentMs, loggedMs: sentMs + (i % 97 === 0 ? 900 : 1 + (i % 5)) };
  });
}

describe('report.html: a lane of messages', () => {
  it('draws each message while the lanes hold few, and keeps every message in the count', () => {
    const messages = evenMessages(40, 10_000);
    const lane = laneMessages(messagesVisitor(messages), { spanMs: 10_000, lanes: 50 });
    expect(lane.kind).toBe('single');
    expect(lane.count).toBe(40);
    if (lane.kind === 'single') expect(lane.messages).toEqual(messages);
  });

  it.each([
    [50, 1000],
    [5, 5000],
    [10_000, 60],
    [1, SINGLE_MESSAGE_BUDGET + 1],
  ])('with %i lanes, a dense lane of %i messages becomes bands whose counts add up to them', (lanes, count) => {
    const spanMs = 60_000;
    const messages = evenMessages(count, spanMs);
    const lane = laneMessages(messagesVisitor(messages), { spanMs, lanes });
    expect(lane.kind).toBe('bands');
    if (lane.kind !== 'bands') return;
    expect(lane.count).toBe(count);
    expect(lane.bands.reduce((sum, b) => sum + b.count, 0)).toBe(count);
    expect(lane.bands.length).toBeLessThanOrEqual(Math.max(1, Math.floor(BAND_BUDGET / lanes)));
    for (const b of lane.bands) {
      expect(b.sentFromMs).toBeLessThanOrEqual(b.sentToMs);
      expect(b.loggedFromMs).toBeLessThanOrEqual(b.loggedToMs);
      expect(b.maxLatencyMs).toBeGreaterThanOrEqual(b.meanLatencyMs);
    }
    // The resends are in the bands that hold them, not averaged away.
    expect(Math.max(...lane.bands.map((b) => b.maxLatencyMs))).toBeCloseTo(900, 6);
  });
});

describe('report.html: fault windows', () => {
  const t0 = Date.parse('2025-03-14T09:26:40.000Z');
  const iso = (ms: number): string => new Date(t0 + ms).toISOString();
  const entry = (index: number, action: TimelineEntry['action'], target: string, ms: number): TimelineEntry => ({
    action,
    target,
    atMs: ms,
    requestedAt: iso(ms),
    startedAt: iso(ms),
    confirmedAt: iso(ms + 10 + index),
  });

  it('pairs each fault with the first later entry that ends it on the same target; endings are no windows', () => {
    const timeline = [
      entry(0, 'disconnect', 'slave-1', 1000),
      entry(1, 'kill', 'slave-2', 1500),
      entry(2, 'reconnect', 'slave-1', 3000),
      entry(3, 'disconnect', 'slave-1', 4000),
      entry(4, 'reset', 'slave-3', 4500),
      entry(5, 'reconnect', 'slave-1', 5000),
      entry(6, 'master-restart', 'master', 5500),
      entry(7, 'pause', 'slave-3', 6000),
    ];
    const windows = faultWindows(timeline, t0, 8000, new Set(['slave-1', 'slave-2', 'slave-3']));
    expect(
      windows.map((w) => [w.index, w.action, w.lane, w.requestedMs, w.endMs, w.endedBy?.index, w.instant]),
    ).toEqual([
      [0, 'disconnect', 'slave-1', 1000, 3012, 2, false],
      [1, 'kill', 'slave-2', 1500, 8000, undefined, false],
      [3, 'disconnect', 'slave-1', 4000, 5015, 5, false],
      [4, 'reset', 'slave-3', 4500, 4514, undefined, true],
      [6, 'master-restart', MASTER_LANE, 5500, 5516, undefined, true],
      [7, 'pause', 'slave-3', 6000, 8000, undefined, false],
    ]);
    expect(windows[0]?.confirmedMs).toBe(1010);
  });

  it('keeps a fault that was never confirmed, with its error', () => {
    const failed: TimelineEntry = { ...entry(0, 'kill', 'slave-1', 1000), error: 'no such process' };
    delete failed.confirmedAt;
    const [w] = faultWindows([failed], t0, 8000, new Set(['slave-1']));
    expect(w).toMatchObject({ index: 0, action: 'kill', requestedMs: 1000, endMs: 8000, error: 'no such process' });
    expect(w?.confirmedMs).toBeUndefined();
  });
});

describe('report.html of the fixture runs', () => {
  const fixtures = readdirSync(RUN_FIXTURES);

  it.each(fixtures)('%s: the page holds what the contract names, counted as the run has them', async (name) => {
    const dir = join(RUN_FIXTURES, name);
    const { html, report } = await pageOf(dir);
    const facts = pageFacts(html);
    expect(facts.verdict).toBe(report.verdict);
    expect(facts.verdictText).toBe(escapeXml(verdictLine(report)));
    expect(facts.nodeRows).toEqual(report.nodes.map((n) => n.name));
    expect(facts.faultRows).toEqual(report.expectations.map((e) => e.fault.index));
    expect(facts.failures).toEqual(report.failures.map((f, k) => [k, f.kind]));
    expect(facts.lanes).toEqual([MASTER_LANE, ...report.nodes.map((n) => n.name)]);
    const timeline = readFileSync(join(dir, 'timeline.jsonl'), 'utf8')
      .split('\n')
      .filter((l) => l.trim() !== '')
      .map((l) => JSON.parse(l) as TimelineEntry);
    const endings = new Set(['reconnect', 'start', 'unpause', 'heal']);
    expect(facts.faults.map((f) => f.index).sort((a, b) => a - b)).toEqual(
      timeline.flatMap((e, i) => (endings.has(e.action) ? [] : [i])),
    );
    const masterDisconnects = readFileSync(join(dir, 'master.jsonl'), 'utf8')
      .split('\n')
      .filter((l) => l.includes('"event":"disconnect"'));
    expect(facts.disconnects).toHaveLength(masterDisconnects.length);
    expect(facts.failureMarkers).toEqual(report.failures.map((_, k) => k));
    for (const node of report.nodes) expect(facts.messagesPerNode.get(node.name)).toBe(node.logged);
    expect(facts.scripts).toBe(1);
    expect(html).not.toMatch(/https?:|\/\/|src=/);
    expect(html).toContain('<link rel="icon" href="data:,">');
  });

  it("matches a disconnect to the fault it detects, with the checker's detection latency", async () => {
    const { html, report } = await pageOf(join(RUN_FIXTURES, 'clean'));
    const kill = report.expectations.find((e) => e.fault.action === 'kill' && e.check === 'disconnect');
    expect(kill?.seen?.latencyMs).toBeDefined();
    expect(html).toMatch(
      new RegExp(
        `<g class="disconnect" data-node="slave-2" data-reason="closed">.*fault #0 detected in ${kill?.seen?.latencyMs} ms`,
      ),
    );
  });
});

describe('report.html of a hostile run', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'picluster-html-'));
    cpSync(join(RUN_FIXTURES, 'clean'), dir, { recursive: true });
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('escapes what a slave and the master logged: node ids, message texts, failure details', async () => {
    const hostile = `pc-"><img src=x onerror=alert(1)><script>alert(2)</script>`;
    for (const file of ['run.json', 'slave-1.jsonl', 'master.jsonl']) {
      const text = readFileSync(join(dir, file), 'utf8');
      writeFileSync(join(dir, file), text.replaceAll('pc-7f3a-slave-1', JSON.stringify(hostile).slice(1, -1)));
    }
    // A message logged with markup of its own: a wrong_content failure whose detail quotes it.
    const master = readFileSync(join(dir, 'master.jsonl'), 'utf8')
      .split('\n')
      .filter((l) => l.trim() !== '')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    const line = master.find((l) => l.node === hostile && l.seq === 4 && l.type === 'heartbeat');
    if (line === undefined) throw new Error('the fixture has no heartbeat seq 4 of slave-1');
    line.message = '</title></svg><b>bold</b>';
    writeFileSync(join(dir, 'master.jsonl'), master.map((l) => JSON.stringify(l)).join('\n') + '\n');
    const { html, report } = await pageOf(dir);
    expect(report.failures.map((f) => f.kind)).toContain('wrong_content');
    expect(html).not.toContain('<img');
    expect(html).not.toContain('<b>');
    expect(html).not.toContain('</title></svg>');
    const facts = pageFacts(html);
    expect(facts.scripts).toBe(1);
    expect(facts.nodeRows).toEqual(['slave-1', 'slave-2', 'slave-3']);
    expect(facts.failures.map(([, kind]) => kind)).toEqual(report.failures.map((f) => f.kind));
    expect(html).toContain(escapeXml(hostile));
  });
});

describe("report.html's script", () => {
  it('is valid JavaScript with no URL and no line comment', () => {
    const script = clientScript();
    expect(() => new Function(script)).not.toThrow();
    expect(script).not.toMatch(/https?:|\/\//);
    expect(script).toContain('startPage(document);');
  });
});
