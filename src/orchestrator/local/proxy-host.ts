/**
 * The lone slaves' fault proxies, in a process of their own.
 *
 * A proxy forwards every beat of its slave: in the runner, a beat waited for
 * the runner's event loop (reading the master's log, writing the slaves'),
 * and for the runner's share of the CPU, which it has with whatever else its
 * terminal session runs (Linux weighs a session's processes as one group).
 * At 10,000 slaves a lone slave's beat took a median 33 ms through the
 * runner, against under 1 ms straight to the master. In a process of its own
 * (its own session, weighed like a slave process) a proxy is a wire again.
 *
 * The runner talks to the process over its IPC channel: one reply to each
 * request, matched by its id. When the channel closes (the runner stopped, or died) the
 * process closes every proxy and so runs out of work: nothing is left behind.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { ExitGuard } from '../../common';
import { mulberry32 } from '../generate';
import type { LinkFault } from '../link-fault';
import { FaultProxy } from './fault-proxy';

/** What the runner asks of the proxies' process. */
export type ProxyRequest =
  | { id: number; op: 'open'; seed: number }
  | { id: number; op: 'upstream'; port: number }
  | { id: number; op: 'cut' | 'heal' | 'reset'; proxy: number }
  | { id: number; op: 'degrade'; proxy: number; link: LinkFault };

/** The answer to the request `id`: a new proxy's port, or why it failed. */
export interface ProxyReply {
  id: number;
  port?: number;
  error?: string;
}

/** The side of an IPC channel {@link serveFaultProxies} needs: a child process's `process`. */
export interface ProxyChannel {
  on(event: 'message', listener: (message: unknown) => void): unknown;
  on(event: 'disconnect', listener: () => void): unknown;
  send?(message: ProxyReply): unknown;
  readonly connected?: boolean;
}

/**
 * Serves the runner's requests on `channel` (the proxies' process's own
 * `process`) until it disconnects, then closes every proxy.
 */
export function serveFaultProxies(channel: ProxyChannel): void {
  const proxies: FaultProxy[] = [];
  let upstream = 0;
  let disconnected = false;
  const reply = (message: ProxyReply): void => {
    // A reply after the runner went has no one to go to (and a send then would throw).
    if (channel.connected === true) channel.send?.(message);
  };
  const handle = async (request: ProxyRequest): Promise<number | undefined> => {
    switch (request.op) {
      case 'open': {
        const next = mulberry32(request.seed);
        const proxy = new FaultProxy({ upstreamPort: () => upstream, random: () => next() / 2 ** 32 });
        proxies.push(proxy);
        await proxy.listen();
        // Listening only after the runner went: nobody will close it but this.
        if (disconnected) void proxy.close();
        return proxy.port;
      }
      case 'upstream':
        upstream = request.port;
        return undefined;
      case 'degrade':
        proxyAt(proxies, request.proxy).degrade(request.link);
        return undefined;
      default:
        proxyAt(proxies, request.proxy)[request.op]();
        return undefined;
    }
  };
  channel.on('message', (message) => {
    const request = message as ProxyRequest;
    handle(request).then(
      (port) => reply(port === undefined ? { id: request.id } : { id: request.id, port }),
      (err: unknown) => reply({ id: request.id, error: (err as Error).message }),
    );
  });
  channel.on('disconnect', () => {
    disconnected = true;
    for (const proxy of proxies) void proxy.close();
  });
}

function proxyAt(proxies: readonly FaultProxy[], index: number): FaultProxy {
  const proxy = proxies[index];
  if (proxy === undefined) throw new Error(`no proxy ${index} (there are ${proxies.length})`);
  return proxy;
}

/** Proxies' processes this process started and that have not exited: killed if it exits first. */
const liveHosts = new ExitGuard<ChildProcess>((child) => child.kill('SIGKILL'));

/** The runner's side: starts the proxies' process and asks it for proxies. */
export class ProxyHost {
  private readonly child: ChildProcess;
  private readonly pending = new Map<
    number,
    { resolve: (reply: ProxyReply) => void; reject: (err: Error) => void; timer: NodeJS.Timeout }
  >();
  private nextId = 1;
  /** Proxies asked for: the next one's index in the process. */
  private opened = 0;
  private stderrTail = '';
  /** Why the process can no longer serve; set once it exited. */
  private gone: string | undefined;
  private closing = false;
  private endedEarly: string | undefined;
  private readonly exited: Promise<void>;

  /**
   * Starts `entry` (the built `proxy-host.js`) as a process of its own: its
   * own session, so its own scheduling group. A request it has not answered
   * within `timeoutMs` fails.
   */
  constructor(
    entry: string,
    private readonly timeoutMs: number,
  ) {
    this.child = fork(entry, [], {
      env: { PATH: process.env.PATH ?? '' },
      // Not the runner's own flags: an --inspect-brk would stop it before it served anything.
      execArgv: [],
      stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
      detached: true,
      serialization: 'advanced',
    });
    liveHosts.hold(this.child);
    this.child.stderr!.setEncoding('utf8').on('data', (text: string) => {
      this.stderrTail = (this.stderrTail + text).slice(-2000);
    });
    this.child.on('message', (message: ProxyReply) => {
      const waiter = this.pending.get(message.id);
      if (waiter === undefined) return;
      this.pending.delete(message.id);
      clearTimeout(waiter.timer);
      if (message.error === undefined) waiter.resolve(message);
      else waiter.reject(new Error(message.error));
    });
    this.exited = new Promise((resolve) => {
      const end = (why: string): void => {
        liveHosts.release(this.child);
        this.gone ??= `${why}${this.stderrTail.trim() === '' ? '' : `; stderr: ${this.stderrTail.trim()}`}`;
        if (!this.closing) this.endedEarly = this.gone;
        for (const waiter of this.pending.values()) {
          clearTimeout(waiter.timer);
          waiter.reject(new Error(this.gone));
        }
        this.pending.clear();
        resolve();
      };
      this.child.on('error', (err) => {
        if (this.child.pid === undefined) end(`the fault proxies' process could not start: ${err.message}`);
      });
      // Not 'close': that waits for the IPC channel too, which a disconnect by this side leaves uncounted.
      this.child.once('exit', (code, signal) => {
        const why = `the fault proxies' process exited (${signal ?? `code ${code}`})`;
        // Its last words first: its stderr ends with it.
        const stderr = this.child.stderr!;
        if (stderr.destroyed) end(why);
        else stderr.once('close', () => end(why));
      });
    });
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  /**
   * Why the process ended before {@link close} asked it to: every lone
   * slave's link went with it. Unset while it serves, and when it ended
   * because it was closed.
   */
  get failure(): string | undefined {
    return this.endedEarly;
  }

  /** A new proxy whose jitter and losses are drawn from `seed`. */
  async open(seed: number): Promise<RemoteFaultProxy> {
    const index = this.opened++;
    const { port } = await this.request({ op: 'open', seed });
    return new RemoteFaultProxy(this, index, port!);
  }

  /** Where the proxies connect from now on: the master's port. */
  async upstream(port: number): Promise<void> {
    await this.request({ op: 'upstream', port });
  }

  /** @internal */
  async request(request: DistributiveOmit<ProxyRequest, 'id'>): Promise<ProxyReply> {
    if (this.gone !== undefined) throw new Error(this.gone);
    const id = this.nextId++;
    return new Promise<ProxyReply>((resolve, reject) => {
      const timer = setTimeout(() => {
        if (!this.pending.delete(id)) return;
        reject(new Error(`the fault proxies' process did not answer ${request.op} within ${this.timeoutMs} ms`));
      }, this.timeoutMs);
      this.pending.set(id, { resolve, reject, timer });
      this.child.send({ ...request, id } as ProxyRequest, (err) => {
        if (err === null || !this.pending.delete(id)) return;
        clearTimeout(timer);
        // The channel closes only as the process ends: say how it ended.
        void this.exited.then(() => reject(new Error(this.gone)));
      });
    });
  }

  /**
   * Closes every proxy (the process's connections end) and waits for the
   * process to exit; SIGKILL after `graceMs`.
   */
  async close(graceMs: number): Promise<void> {
    this.closing = true;
    if (this.child.connected) this.child.disconnect();
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<void>((resolve) => {
      timer = setTimeout(() => {
        this.child.kill('SIGKILL');
        resolve();
      }, graceMs);
    });
    await Promise.race([this.exited, late]);
    clearTimeout(timer);
    await this.exited;
  }
}

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;

/** One proxy in the proxies' process: each action resolves once that process has carried it out. */
export class RemoteFaultProxy {
  constructor(
    private readonly host: ProxyHost,
    private readonly index: number,
    /** The port the proxy listens on. */
    readonly port: number,
  ) {}

  /** See {@link FaultProxy.cut}. */
  async cut(): Promise<void> {
    await this.host.request({ op: 'cut', proxy: this.index });
  }

  /** See {@link FaultProxy.heal}. */
  async heal(): Promise<void> {
    await this.host.request({ op: 'heal', proxy: this.index });
  }

  /** See {@link FaultProxy.reset}. */
  async reset(): Promise<void> {
    await this.host.request({ op: 'reset', proxy: this.index });
  }

  /** See {@link FaultProxy.degrade}. */
  async degrade(link: LinkFault): Promise<void> {
    await this.host.request({ op: 'degrade', proxy: this.index, link });
  }
}
