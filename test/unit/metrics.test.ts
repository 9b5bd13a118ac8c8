import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { connect } from 'node:net';
import { once } from 'node:events';
import {
  DETECTION_BUCKETS_S,
  INTER_ARRIVAL_BUCKETS_S,
  MasterMetrics,
  MetricsServer,
  currentBuildInfo,
  observedLog,
} from '../../src/master/metrics';
import { DISCONNECT_REASONS, PROTOCOL_ERROR_CODES, type MasterLogWrite } from '../../src/protocol';
import { FakeClock } from '../helpers/fake-clock';
import { LogSink } from '../helpers/log-sink';
import { Scrape, httpGet, parseExposition, scrape } from '../helpers/metrics-text';

const BUILD = { version: '9.8.7', arch: 'riscv64', node: '20.0.0' };
const P = 'picluster_master_';

async function scraped(metrics: MasterMetrics): Promise<Scrape> {
  return Scrape.of((await metrics.exposition()).body);
}

const connect1 = (conn: number): MasterLogWrite => ({
  event: 'connect',
  message: 'Client connected',
  conn,
  remote: '127.0.0.1:1',
  node: '127.0.0.1:1',
});
const message = (conn: number, type: string): MasterLogWrite => ({
  event: 'message',
  message: 'Received message: x',
  node: `n${conn}`,
  type,
  conn,
});
const disconnect = (conn: number, reason: (typeof DISCONNECT_REASONS)[number], silentMs?: number): MasterLogWrite => ({
  event: 'disconnect',
  message: 'Client disconnected',
  node: `n${conn}`,
  reason,
  conn,
  silent_ms: silentMs,
});

describe('MasterMetrics', () => {
  it('starts every bounded label at 0, and has build info and the default process metrics', async () => {
    const scrape = await scraped(new MasterMetrics(new FakeClock(), BUILD));
    expect(scrape.byLabel(`${P}messages_received_total`, 'type')).toEqual({
      hello: 0,
      heartbeat: 0,
      legacy: 0,
      other: 0,
    });
    expect(Object.keys(scrape.byLabel(`${P}disconnects_total`, 'reason')).sort()).toEqual(
      [...DISCONNECT_REASONS].sort(),
    );
    expect(Object.keys(scrape.byLabel(`${P}protocol_errors_total`, 'code')).sort()).toEqual(
      [...PROTOCOL_ERROR_CODES].sort(),
    );
    expect(scrape.value('picluster_build_info', BUILD)).toBe(1);
    expect(scrape.value('process_cpu_user_seconds_total')).toBeGreaterThanOrEqual(0);
    expect(scrape.value('nodejs_eventloop_lag_seconds')).toBeGreaterThanOrEqual(0);
    for (const name of ['connections_open', 'connections_accepted_total', 'acks_sent_total', 'gaps_total']) {
      expect(scrape.value(P + name)).toBe(0);
    }
  });

  it('has no node label anywhere (node ids are unbounded); build info names the Node.js version', async () => {
    const metrics = new MasterMetrics(new FakeClock(), BUILD);
    for (let conn = 1; conn <= 50; conn++) {
      metrics.observe(connect1(conn));
      metrics.observe(message(conn, 'heartbeat'));
    }
    const samples = (await scraped(metrics)).samples;
    expect(samples.filter((s) => 'node' in s.labels).map((s) => s.name)).toEqual(['picluster_build_info']);
    expect(samples.filter((s) => s.name === `${P}messages_received_total`)).toHaveLength(4);
  });

  it('counts connections and messages per type, an unknown type as other', async () => {
    const metrics = new MasterMetrics(new FakeClock(), BUILD);
    metrics.observe(connect1(1));
    metrics.observe(connect1(2));
    for (const type of ['hello', 'heartbeat', 'heartbeat', 'legacy', 'status', 'constructor', '__proto__']) {
      metrics.observe(message(1, type));
    }
    metrics.observe(disconnect(2, 'closed'));
    const scrape = await scraped(metrics);
    expect(scrape.value(`${P}connections_accepted_total`)).toBe(2);
    expect(scrape.value(`${P}connections_open`)).toBe(1);
    expect(scrape.byLabel(`${P}messages_received_total`, 'type')).toEqual({
      hello: 1,
      heartbeat: 2,
      legacy: 1,
      other: 3,
    });
    expect(scrape.value(`${P}disconnects_total`, { reason: 'closed' })).toBe(1);
  });

  it('observes the silence of a timeout disconnect, not of other reasons nor of a timeout without silent_ms', async () => {
    const metrics = new MasterMetrics(new FakeClock(), BUILD);
    metrics.observe(connect1(1));
    metrics.observe(connect1(2));
    metrics.observe(connect1(3));
    metrics.observe(disconnect(1, 'timeout', 3100));
    metrics.observe(disconnect(2, 'timeout'));
    metrics.observe(disconnect(3, 'closed', 999));
    const scrape = await scraped(metrics);
    expect(scrape.value(`${P}disconnects_total`, { reason: 'timeout' })).toBe(2);
    expect(scrape.value(`${P}detection_seconds_count`)).toBe(1);
    expect(scrape.value(`${P}detection_seconds_sum`)).toBeCloseTo(3.1);
    expect(scrape.value(`${P}detection_seconds_bucket`, { le: '3' })).toBe(0);
    expect(scrape.value(`${P}detection_seconds_bucket`, { le: '4' })).toBe(1);
    expect(scrape.value(`${P}connections_open`)).toBe(0);
  });

  it("measures heartbeat inter-arrival per connection, from a connection's first heartbeat on", async () => {
    const clock = new FakeClock();
    const metrics = new MasterMetrics(clock, BUILD);
    metrics.observe(connect1(1));
    metrics.observe(connect1(2));
    metrics.observe(message(1, 'hello'));
    clock.advance(400);
    metrics.observe(message(1, 'heartbeat'));
    clock.advance(100);
    metrics.observe(message(2, 'heartbeat'));
    clock.advance(900);
    metrics.observe(message(1, 'heartbeat')); // 1.0 s after conn 1's last
    metrics.observe(message(1, 'legacy')); // not a heartbeat: no observation
    clock.advance(1100);
    metrics.observe(message(2, 'heartbeat')); // 2.0 s after conn 2's last
    metrics.observe(disconnect(1, 'closed'));
    clock.advance(5000);
    metrics.observe(connect1(3));
    metrics.observe(message(3, 'heartbeat')); // a new connection's first: nothing to measure from
    const scrape = await scraped(metrics);
    expect(scrape.value(`${P}heartbeat_interarrival_seconds_count`)).toBe(2);
    expect(scrape.value(`${P}heartbeat_interarrival_seconds_sum`)).toBeCloseTo(3);
    expect(scrape.value(`${P}heartbeat_interarrival_seconds_bucket`, { le: '0.75' })).toBe(0);
    expect(scrape.value(`${P}heartbeat_interarrival_seconds_bucket`, { le: '1' })).toBe(1);
    expect(scrape.value(`${P}heartbeat_interarrival_seconds_bucket`, { le: '2' })).toBe(2);
    expect(scrape.value(`${P}heartbeat_interarrival_seconds_bucket`, { le: '+Inf' })).toBe(2);
  });

  it('reads its histograms as JSON too, and a registry reset empties them', async () => {
    const metrics = new MasterMetrics(new FakeClock(), BUILD);
    metrics.observe(connect1(1));
    metrics.observe(disconnect(1, 'timeout', 1500));
    const json = await metrics.registry.getMetricsAsJSON();
    const detection = json.find((m) => m.name === `${P}detection_seconds`);
    expect(detection).toMatchObject({ type: 'histogram' });
    expect(detection?.values).toContainEqual(
      expect.objectContaining({ metricName: `${P}detection_seconds_bucket`, labels: { le: 2 }, value: 1 }),
    );
    expect(detection?.values).toContainEqual(
      expect.objectContaining({ metricName: `${P}detection_seconds_sum`, value: 1.5 }),
    );
    metrics.registry.resetMetrics();
    const scrape = await scraped(metrics);
    expect(scrape.value(`${P}detection_seconds_count`)).toBe(0);
    expect(scrape.value(`${P}detection_seconds_bucket`, { le: '+Inf' })).toBe(0);
  });

  it('counts protocol errors by code, a burst line by its codes', async () => {
    const metrics = new MasterMetrics(new FakeClock(), BUILD);
    const base = { event: 'protocol_error', level: 'warn', message: 'x', excerpt: 'x', node: 'n', conn: 1 } as const;
    metrics.observe({ ...base, code: 'PICLUSTER_ERR_INVALID_JSON' as const });
    metrics.observe({
      ...base,
      code: 'PICLUSTER_ERR_NOT_AN_OBJECT' as const,
      repeated: 5,
      codes: { PICLUSTER_ERR_INVALID_JSON: 3, PICLUSTER_ERR_NOT_AN_OBJECT: 2 },
    });
    const scrape = await scraped(metrics);
    expect(scrape.byLabel(`${P}protocol_errors_total`, 'code')).toMatchObject({
      PICLUSTER_ERR_INVALID_JSON: 4,
      PICLUSTER_ERR_NOT_AN_OBJECT: 2,
      PICLUSTER_ERR_FRAME_TOO_LARGE: 0,
    });
  });

  it('counts gaps and the seqs they lost, acks and deduplicated resends', async () => {
    const metrics = new MasterMetrics(new FakeClock(), BUILD);
    const gap = { event: 'gap', level: 'warn', message: 'x', node: 'n', conn: 1 } as const;
    metrics.observe({ ...gap, from: 4, to: 4 });
    metrics.observe({ ...gap, from: 10, to: 19 });
    metrics.ackSent();
    metrics.ackSent();
    metrics.resendDeduplicated();
    const scrape = await scraped(metrics);
    expect(scrape.value(`${P}gaps_total`)).toBe(2);
    expect(scrape.value(`${P}messages_lost_total`)).toBe(11);
    expect(scrape.value(`${P}acks_sent_total`)).toBe(2);
    expect(scrape.value(`${P}resends_deduplicated_total`)).toBe(1);
  });

  it('reads the same counts at every scrape, and the counts since at the next', async () => {
    const metrics = new MasterMetrics(new FakeClock(), BUILD);
    metrics.observe(connect1(1));
    metrics.observe(message(1, 'heartbeat'));
    const first = await scraped(metrics);
    const second = await scraped(metrics);
    for (const scrape of [first, second]) {
      expect(scrape.value(`${P}messages_received_total`, { type: 'heartbeat' })).toBe(1);
      expect(scrape.value(`${P}connections_open`)).toBe(1);
    }
    metrics.observe(message(1, 'heartbeat'));
    metrics.observe(disconnect(1, 'reset'));
    const third = await scraped(metrics);
    expect(third.value(`${P}messages_received_total`, { type: 'heartbeat' })).toBe(2);
    expect(third.value(`${P}disconnects_total`, { reason: 'reset' })).toBe(1);
    expect(third.value(`${P}connections_open`)).toBe(0);
  });

  it('ignores the lines it does not count', async () => {
    const metrics = new MasterMetrics(new FakeClock(), BUILD);
    const before = (await metrics.exposition()).body;
    metrics.observe({ event: 'shutdown', message: 'Master stopped', connections: 0 });
    metrics.observe({ event: 'listening', message: 'x', port: 1, host: 'h' });
    const strip = (text: string): string =>
      parseExposition(text)
        .filter((s) => s.name.startsWith(P))
        .map((s) => `${s.name}${JSON.stringify(s.labels)} ${s.value}`)
        .join('\n');
    expect(strip((await metrics.exposition()).body)).toBe(strip(before));
  });

  it('has histogram buckets for heartbeat intervals of 0.1–10 s and their timeouts', () => {
    expect(INTER_ARRIVAL_BUCKETS_S[0]).toBeLessThanOrEqual(0.1);
    expect(INTER_ARRIVAL_BUCKETS_S.at(-1)).toBeGreaterThanOrEqual(10);
    expect(DETECTION_BUCKETS_S.at(-1)).toBeGreaterThanOrEqual(60);
  });

  it("knows the package's version", () => {
    expect(currentBuildInfo()).toEqual({
      version: (JSON.parse(readFileSync(join(__dirname, '..', '..', 'package.json'), 'utf8')) as { version: string })
        .version,
      arch: process.arch,
      node: process.versions.node,
    });
  });
});

describe('observedLog', () => {
  it('hands every line to the metrics and to the log, and delegates the rest', async () => {
    const sink = new LogSink();
    const metrics = new MasterMetrics(new FakeClock(), BUILD);
    const log = observedLog(sink.log, metrics);
    log.write(connect1(7));
    log.write(message(7, 'hello'));
    expect(log.backlogBytes).toBe(sink.log.backlogBytes);
    expect(log.winston).toBe(sink.log.winston);
    await new Promise<void>((resolve) => log.whenWritten(resolve));
    await sink.waitForEvent('message', { conn: 7 });
    expect(sink.lines.map((l) => l.event)).toEqual(['connect', 'message']);
    expect((await scraped(metrics)).value(`${P}messages_received_total`, { type: 'hello' })).toBe(1);
    expect(await log.close()).toEqual([]);
  });
});

describe('MetricsServer', () => {
  const servers: MetricsServer[] = [];
  afterEach(async () => {
    for (const server of servers.splice(0)) await server.close();
  });

  async function started(metrics = new MasterMetrics(new FakeClock(), BUILD)): Promise<MetricsServer> {
    const server = new MetricsServer(metrics, (err) => {
      throw err;
    });
    servers.push(server);
    await server.listen(0, '127.0.0.1');
    return server;
  }

  it("serves GET /metrics in prom-client's content type, and 404 for anything else", async () => {
    const metrics = new MasterMetrics(new FakeClock(), BUILD);
    metrics.observe(connect1(1));
    const server = await started(metrics);
    const port = server.port!;
    const ok = await httpGet(port, '/metrics?x=1');
    expect(ok.status).toBe(200);
    expect(ok.contentType).toBe('text/plain; version=0.0.4; charset=utf-8');
    expect(Scrape.of(ok.body).value(`${P}connections_accepted_total`)).toBe(1);
    for (const [path, method] of [
      ['/', 'GET'],
      ['/metrics/', 'GET'],
      ['/metricsx', 'GET'],
      ['/metrics', 'POST'],
      ['/metrics', 'DELETE'],
    ] as const) {
      expect(await httpGet(port, path, method)).toMatchObject({ status: 404 });
    }
    // The path was live after the refusals too.
    expect((await scrape(port)).value(`${P}connections_accepted_total`)).toBe(1);
  });

  it('closes with a keep-alive connection open, and closing twice or unstarted is harmless', async () => {
    const server = await started();
    const socket = connect({ port: server.port!, host: '127.0.0.1' });
    await once(socket, 'connect');
    socket.write('GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: keep-alive\r\n\r\n');
    await once(socket, 'data');
    const closed = once(socket, 'close');
    await server.close();
    await closed;
    await server.close();
    await new MetricsServer(new MasterMetrics(new FakeClock(), BUILD), () => undefined).close();
  });

  it('rejects listening on a port in use', async () => {
    const server = await started();
    const second = new MetricsServer(new MasterMetrics(new FakeClock(), BUILD), () => undefined);
    await expect(second.listen(server.port!, '127.0.0.1')).rejects.toMatchObject({ code: 'EADDRINUSE' });
  });
});
