import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { arch } from 'node:process';
import { join } from 'node:path';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { Clock, Log } from '../common';
import {
  DISCONNECT_REASONS,
  PROTOCOL_ERROR_CODES,
  type DisconnectReason,
  type MasterEvent,
  type MasterLogWrite,
  type Message,
  type ProtocolErrorCode,
} from '../protocol';

/**
 * The master's Prometheus metrics (docs/metrics.md). Every metric but
 * `acks_sent_total` and `resends_deduplicated_total` is derived from the
 * lines the master logs, in one place: {@link MasterMetrics.observe} sees
 * each line as it is handed to the log (see {@link observedLog}), so a
 * metric's count is the count of its lines. No metric has a `node` label:
 * node ids are unbounded (any peer names one), and a label per id would grow
 * the registry, and every scrape, without limit. Labels take their values from
 * closed lists only (message types, disconnect reasons, protocol error codes).
 */

/** The start of every metric name of the master's own (the default process metrics keep theirs). */
export const METRIC_PREFIX = 'picluster_master_';

/** The message types the protocol knows, as the `type` label; every other `type` counts as `other`. */
const KNOWN_MESSAGE_TYPES: Readonly<Record<Exclude<Message['type'], 'other'>, true>> = {
  hello: true,
  heartbeat: true,
  legacy: true,
};

/** Values of the `type` label of `messages_received_total`: bounded, whatever types peers make up. */
export const MESSAGE_TYPE_LABELS: readonly string[] = [...Object.keys(KNOWN_MESSAGE_TYPES), 'other'];

/**
 * Buckets of the heartbeat inter-arrival histogram, in seconds: heartbeat
 * intervals of 0.1–10 s, with room on both sides (a resend burst after a
 * reconnect, a peer late by a whole timeout).
 */
export const INTER_ARRIVAL_BUCKETS_S: readonly number[] = [
  0.05, 0.1, 0.25, 0.5, 0.75, 1, 1.5, 2, 3, 5, 7.5, 10, 15, 30,
];

/**
 * Buckets of the detection time histogram, in seconds: a timeout is a few
 * heartbeat intervals (3 × 0.1–10 s by default), at most 60 s unless fixed.
 */
export const DETECTION_BUCKETS_S: readonly number[] = [0.25, 0.5, 1, 2, 3, 4, 5, 7.5, 10, 15, 20, 30, 45, 60, 120];

/** What `picluster_build_info` says: the package's version, the CPU architecture, the Node.js version. */
export interface BuildInfo {
  version: string;
  arch: string;
  node: string;
}

/** The running build: version from package.json (beside `dist/` and `src/` alike), `process.arch`, Node's version. */
export function currentBuildInfo(): BuildInfo {
  let version = 'unknown';
  try {
    const pkg = JSON.parse(readFileSync(join(__dirname, '..', '..', 'package.json'), 'utf8')) as { version?: unknown };
    if (typeof pkg.version === 'string') version = pkg.version;
  } catch {
    // A build without its package.json still serves metrics; the version says it is unknown.
  }
  return { version, arch, node: process.versions.node };
}

type LineOf<E extends MasterEvent> = Extract<MasterLogWrite, { event: E }>;

/** What each event of the log does to the metrics: one entry per event, so a new event must be thought of here. */
type Observers = { readonly [E in MasterEvent]: ((metrics: MasterMetrics, line: LineOf<E>) => void) | undefined };

const OBSERVERS: Observers = {
  connect: (m, line) => m.connected(line.conn),
  message: (m, line) => m.received(line.conn, line.type),
  disconnect: (m, line) => m.disconnected(line.conn, line.reason, line.silent_ms),
  protocol_error: (m, line) => m.protocolErrors(line.code, line.codes),
  gap: (m, line) => m.lost(line.from, line.to),
  listening: undefined,
  limit: undefined,
  recovered: undefined,
  checkpoint_failed: undefined,
  shutdown: undefined,
  server_error: undefined,
  tls_error: undefined,
  error: undefined,
  log_dropped: undefined,
};

/** A counter per label value, as plain numbers: every value there from the start, at 0. */
function tally<K extends string>(values: readonly K[]): Record<K, number> {
  return Object.fromEntries(values.map((value) => [value, 0])) as Record<K, number>;
}

/**
 * A histogram without labels whose observation is a scan of its bounds and
 * three additions. prom-client's own `observe` checks and hashes labels and
 * allocates per call (about 0.5 µs on the 2-core machine), a heartbeat line's
 * worth of work; this one is read in prom-client's format at each scrape.
 */
class BucketHistogram extends Histogram {
  /** Observations per bucket, not cumulated; the last one is beyond every bound. */
  private readonly counts: number[];
  private sum = 0;
  private count = 0;

  constructor(
    private readonly metricName: string,
    private readonly helpText: string,
    private readonly bounds: readonly number[],
    registers: Registry[],
  ) {
    super({ name: metricName, help: helpText, buckets: [...bounds], registers });
    this.counts = new Array<number>(bounds.length + 1).fill(0);
  }

  record(value: number): void {
    let i = 0;
    while (i < this.bounds.length && value > this.bounds[i]!) i += 1;
    this.counts[i]! += 1;
    this.sum += value;
    this.count += 1;
  }

  override reset(): void {
    super.reset();
    // prom-client's constructor calls reset() too, before this class's fields are set.
    (this.counts as number[] | undefined)?.fill(0);
    this.sum = 0;
    this.count = 0;
  }

  /** What the registry reads to write the exposition (and `get()` to answer JSON): prom-client's shape. */
  getForPromString(): Promise<object> {
    const bucket = `${this.metricName}_bucket`;
    let cumulated = 0;
    const values: object[] = this.bounds.map((le, i) => {
      cumulated += this.counts[i]!;
      return { labels: { le }, sharedLabels: {}, value: cumulated, metricName: bucket };
    });
    values.push(
      { labels: { le: '+Inf' }, sharedLabels: {}, value: this.count, metricName: bucket },
      { labels: {}, sharedLabels: {}, value: this.sum, metricName: `${this.metricName}_sum` },
      { labels: {}, sharedLabels: {}, value: this.count, metricName: `${this.metricName}_count` },
    );
    return Promise.resolve({
      name: this.metricName,
      help: this.helpText,
      type: 'histogram',
      values,
      aggregator: 'sum',
    });
  }
}

/**
 * The master's metrics, in a registry of their own (never prom-client's
 * global one), with prom-client's default process metrics. The counts are
 * plain numbers, copied into the registry's counters when it is scraped: an
 * update is an addition, with no label to hash and nothing allocated; a
 * histogram's, a scan of its 15 bounds ({@link BucketHistogram}).
 */
export class MasterMetrics {
  readonly registry = new Registry();
  private open = 0;
  private accepted = 0;
  private readonly messages: Record<string, number> = tally(MESSAGE_TYPE_LABELS);
  private readonly disconnects = tally(DISCONNECT_REASONS);
  private readonly errors = tally(PROTOCOL_ERROR_CODES);
  private acks = 0;
  private deduplicated = 0;
  private gaps = 0;
  private messagesLost = 0;
  private readonly interArrival: BucketHistogram;
  private readonly detection: BucketHistogram;
  /** When each open connection's last heartbeat was logged, by `conn`; an entry lives until its `disconnect`. */
  private readonly lastHeartbeatMs = new Map<number, number>();

  constructor(
    private readonly clock: Clock,
    build: BuildInfo = currentBuildInfo(),
  ) {
    const registers = [this.registry];
    const name = (suffix: string): string => METRIC_PREFIX + suffix;
    const counter = (suffix: string, help: string, read: () => number): void => {
      new Counter({ name: name(suffix), help, registers, collect: setCounter(() => [[{}, read()]]) });
    };
    const labelled = (suffix: string, help: string, label: string, counts: Record<string, number>): void => {
      const read = (): Array<[Record<string, string>, number]> =>
        Object.entries(counts).map(([value, count]) => [{ [label]: value }, count]);
      new Counter({ name: name(suffix), help, labelNames: [label], registers, collect: setCounter(read) });
    };
    const open = (): number => this.open;
    new Gauge({
      name: name('connections_open'),
      help: 'Connections open (connect lines minus disconnect lines)',
      registers,
      collect() {
        this.set(open());
      },
    });
    counter('connections_accepted_total', 'Connections accepted (connect lines)', () => this.accepted);
    labelled(
      'messages_received_total',
      'Messages logged, by type (message lines); types the protocol does not know count as other',
      'type',
      this.messages,
    );
    labelled('disconnects_total', 'Connections ended, by reason (disconnect lines)', 'reason', this.disconnects);
    labelled(
      'protocol_errors_total',
      'Frames refused, by code (protocol_error lines, with their repeated counts)',
      'code',
      this.errors,
    );
    counter('acks_sent_total', 'Acks written to slaves, resend requests included', () => this.acks);
    counter(
      'resends_deduplicated_total',
      'Resent messages not logged again (the duplicates of disconnect lines)',
      () => this.deduplicated,
    );
    counter('gaps_total', 'Gaps logged (gap lines)', () => this.gaps);
    counter('messages_lost_total', 'Seqs of the gaps logged (to - from + 1 per gap line)', () => this.messagesLost);
    this.interArrival = new BucketHistogram(
      name('heartbeat_interarrival_seconds'),
      'Time between two heartbeats logged on one connection',
      INTER_ARRIVAL_BUCKETS_S,
      registers,
    );
    this.detection = new BucketHistogram(
      name('detection_seconds'),
      'Silence before a timeout disconnect: its silent_ms, from the last frame to the disconnect',
      DETECTION_BUCKETS_S,
      registers,
    );
    new Gauge({
      name: 'picluster_build_info',
      help: 'The running build: always 1, its labels say which',
      labelNames: ['version', 'arch', 'node'],
      registers,
    }).set({ version: build.version, arch: build.arch, node: build.node }, 1);
    collectDefaultMetrics({ register: this.registry });
  }

  /** Updates the metrics that `line` counts; called for every line the master logs. */
  observe(line: MasterLogWrite): void {
    const observer = OBSERVERS[line.event] as ((metrics: MasterMetrics, line: MasterLogWrite) => void) | undefined;
    observer?.(this, line);
  }

  /** An ack was written to a slave (no log line says so). */
  ackSent(): void {
    this.acks += 1;
  }

  /**
   * A resend was not logged again: counted at once, where the `disconnect`
   * line of its connection counts it in `duplicates` when it ends.
   */
  resendDeduplicated(): void {
    this.deduplicated += 1;
  }

  connected(conn: number): void {
    this.accepted += 1;
    this.open += 1;
    // Until its first heartbeat, a connection has nothing to measure from.
    this.lastHeartbeatMs.delete(conn);
  }

  received(conn: number, type: string): void {
    // Own properties only: a peer's type "constructor" or "__proto__" is `other` like any unknown one.
    if (Object.hasOwn(this.messages, type)) this.messages[type]! += 1;
    else this.messages.other! += 1;
    if (type !== 'heartbeat') return;
    const now = this.clock.now();
    const last = this.lastHeartbeatMs.get(conn);
    if (last !== undefined) this.interArrival.record(Math.max(0, now - last) / 1000);
    this.lastHeartbeatMs.set(conn, now);
  }

  disconnected(conn: number, reason: DisconnectReason, silentMs: number | undefined): void {
    this.open -= 1;
    this.lastHeartbeatMs.delete(conn);
    this.disconnects[reason] += 1;
    // A timeout the kernel reported (ETIMEDOUT) has no silence measured: nothing to observe.
    if (reason === 'timeout' && silentMs !== undefined) this.detection.record(silentMs / 1000);
  }

  protocolErrors(code: ProtocolErrorCode, codes: Readonly<Record<string, number>> | undefined): void {
    if (codes === undefined) {
      this.errors[code] += 1;
      return;
    }
    for (const [each, count] of Object.entries(codes)) {
      if (Object.hasOwn(this.errors, each)) this.errors[each as ProtocolErrorCode] += count;
    }
  }

  lost(from: number, to: number): void {
    this.gaps += 1;
    this.messagesLost += to - from + 1;
  }

  /** The text exposition of every metric, and its content type. */
  async exposition(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }
}

/**
 * A counter's `collect`: at each scrape, sets it to the counts `read` gives
 * (a counter has no setter: reset, then add), so that the frame path only
 * adds to numbers.
 */
function setCounter(read: () => Array<[Record<string, string>, number]>): (this: Counter) => void {
  return function collect(this: Counter): void {
    this.reset();
    for (const [labels, count] of read()) this.inc(labels, count);
  };
}

/**
 * `log`, with every line also handed to `metrics` as it is written: the one
 * place where the metrics learn what the master logs.
 */
export function observedLog(log: Log<MasterLogWrite>, metrics: MasterMetrics): Log<MasterLogWrite> {
  return {
    get winston() {
      return log.winston;
    },
    write(line) {
      metrics.observe(line);
      log.write(line);
    },
    whenWritten: (callback) => log.whenWritten(callback),
    get backlogBytes() {
      return log.backlogBytes;
    },
    close: (graceMs) => log.close(graceMs),
  };
}

/**
 * The HTTP server of `GET /metrics` (anything else: 404), on a port of its
 * own, so that a scrape never queues behind slaves' frames. `close()` also
 * ends the keep-alive connections a Prometheus server holds open.
 */
export class MetricsServer {
  private readonly server: Server;

  /** `onError`: an error of the listening server (e.g. `EMFILE` on accept); the server keeps serving. */
  constructor(
    private readonly metrics: MasterMetrics,
    private readonly onError: (err: NodeJS.ErrnoException) => void,
  ) {
    this.server = createServer((request, response) => this.handle(request, response));
  }

  /** The port actually listened on (useful with port 0). */
  get port(): number | undefined {
    return (this.server.address() as AddressInfo | null)?.port;
  }

  listen(port: number, host?: string): Promise<void> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen({ port, host }, () => {
        this.server.off('error', reject);
        this.server.on('error', this.onError);
        resolve();
      });
    });
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      if (!this.server.listening) {
        resolve();
        return;
      }
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }

  private handle(request: IncomingMessage, response: ServerResponse): void {
    const path = (request.url ?? '').split('?', 1)[0];
    if (request.method !== 'GET' || path !== '/metrics') {
      response.writeHead(404, { 'Content-Type': 'text/plain; charset=utf-8' }).end('Not found: GET /metrics\n');
      return;
    }
    this.metrics.exposition().then(
      ({ contentType, body }) => response.writeHead(200, { 'Content-Type': contentType }).end(body),
      (err: Error) => response.writeHead(500, { 'Content-Type': 'text/plain; charset=utf-8' }).end(`${err.message}\n`),
    );
  }
}
