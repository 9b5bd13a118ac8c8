import { once } from 'node:events';
import { connect, type Socket } from 'node:net';
import { Backoff, systemClock, type Clock, type Log, type TimerHandle } from '../common';
import { encodeFrame, heartbeatText, helloText, toFrame, type Message } from '../protocol';
import { resolveSlaveOptions, type SlaveOptions } from './options';

/** How long `stop()` waits for the master to acknowledge our FIN before dropping the socket. */
const CLOSE_GRACE_MS = 2000;

/**
 * A slave: connects to the master, says hello, then sends a heartbeat every
 * interval, numbering every message across reconnects. Any failure leads to a
 * reconnect after a jittered, capped, exponential backoff. It never needs the
 * master to write anything back.
 */
export class Slave {
  readonly options: SlaveOptions;
  private socket: Socket | undefined;
  private seq = 0;
  private heartbeatsSent = 0;
  private timer: TimerHandle | undefined;
  private stopping = false;
  private readonly backoff: Backoff;
  private resolveDone!: () => void;
  /** Settles once the slave has stopped, by `stop()` or after `heartbeatCount` heartbeats. */
  readonly done = new Promise<void>((resolve) => (this.resolveDone = resolve));

  constructor(
    options: Partial<SlaveOptions>,
    private readonly log: Log,
    private readonly clock: Clock = systemClock,
  ) {
    this.options = resolveSlaveOptions(options);
    this.backoff = new Backoff(this.options.backoff);
  }

  /** Messages sent so far; the last one's seq. */
  get lastSeq(): number {
    return this.seq;
  }

  /** `idSource` only goes into the `starting` line, to say where the node id came from. */
  start(idSource?: string): this {
    const { node, masterHost, masterPort, heartbeatIntervalMs } = this.options;
    this.write('starting', `Slave ${node} starting`, {
      master: `${masterHost}:${masterPort}`,
      interval_ms: heartbeatIntervalMs,
      id_source: idSource,
    });
    this.connect(1);
    return this;
  }

  /** Closes the connection cleanly (FIN) and stops. Idempotent. */
  async stop(): Promise<void> {
    if (!this.stopping) {
      this.stopping = true;
      this.cancelTimer();
      const socket = this.socket;
      if (socket !== undefined && !socket.destroyed) {
        const closed = once(socket, 'close');
        socket.end();
        const grace = this.clock.setTimeout(() => socket.destroy(), CLOSE_GRACE_MS);
        await closed;
        this.clock.clearTimeout(grace);
      }
      this.write('stopped', `Slave ${this.options.node} stopped`, { sent: this.seq });
      this.resolveDone();
    }
    return this.done;
  }

  private connect(attempt: number): void {
    const { masterHost, masterPort, connectTimeoutMs } = this.options;
    this.write('connecting', `Connecting to ${masterHost}:${masterPort}`, { attempt });
    const socket = connect({ host: masterHost, port: masterPort, noDelay: true });
    this.socket = socket;
    let failure = 'closed';
    // A cut network drops SYNs silently; without this a connect would hang for minutes.
    socket.setTimeout(connectTimeoutMs, () => {
      failure = 'connect_timeout';
      socket.destroy();
    });
    socket.on('connect', () => {
      socket.setTimeout(0);
      this.backoff.reset();
      this.write('connected', `Connected to ${masterHost}:${masterPort}`, { local_port: socket.localPort });
      this.send('hello');
      this.scheduleHeartbeat();
    });
    // Whatever the master says (nothing, for the seed's master) must not fill our buffers.
    socket.resume();
    socket.on('error', (err: NodeJS.ErrnoException) => {
      failure = err.code ?? err.message;
    });
    socket.on('close', () => this.onClose(socket, failure));
  }

  private onClose(socket: Socket, reason: string): void {
    if (socket !== this.socket) return;
    this.cancelTimer();
    if (this.stopping) return;
    this.write('disconnected', 'Disconnected from master', { reason });
    const { attempt, delayMs } = this.backoff.next();
    this.write('reconnecting', `Reconnecting in ${delayMs} ms`, { attempt, delay_ms: delayMs });
    this.timer = this.clock.setTimeout(() => this.connect(attempt + 1), delayMs);
  }

  private scheduleHeartbeat(): void {
    const { heartbeatCount, heartbeatIntervalMs } = this.options;
    if (heartbeatCount !== undefined && this.heartbeatsSent >= heartbeatCount) {
      void this.stop();
      return;
    }
    this.timer = this.clock.setTimeout(() => {
      this.send('heartbeat');
      this.heartbeatsSent += 1;
      this.scheduleHeartbeat();
    }, heartbeatIntervalMs);
  }

  private send(type: 'hello' | 'heartbeat'): void {
    const { node, heartbeatIntervalMs } = this.options;
    this.seq += 1;
    const message: Message =
      type === 'hello'
        ? { type, node, seq: this.seq, ts: this.clock.now(), msg: helloText(node), heartbeatIntervalMs }
        : { type, node, seq: this.seq, ts: this.clock.now(), msg: heartbeatText(node) };
    this.socket?.write(encodeFrame(toFrame(message)));
    this.write('sent', message.msg, { seq: this.seq, type });
  }

  private cancelTimer(): void {
    if (this.timer !== undefined) this.clock.clearTimeout(this.timer);
    this.timer = undefined;
  }

  private write(event: string, message: string, fields: Record<string, unknown>): void {
    this.log.write({ event, message, node: this.options.node, ...fields });
  }
}
