import { OptionError, checkInRange, systemClock, type Clock, type Log, type TimerHandle } from '../common';
import { isValidNodeId, MAX_NODE_ID_LENGTH, type SlaveLogWrite } from '../protocol';
import { resolveSlaveOptions, type SlaveOptions } from './options';
import { Slave } from './slave';

/** Replicas one process runs, and the first replica number. */
export const SLAVE_GROUP_RANGES = {
  replicas: { min: 1, max: 10_000 },
  firstReplica: { min: 1, max: 1_000_000 },
} as const;

export interface SlaveGroupOptions {
  /** How many slave identities the process runs. Default 1. */
  replicas: number;
  /** The number of the first replica: ids run `<node>-<firstReplica>` … Default 1. */
  firstReplica: number;
  /**
   * Replica `i` (0-based) starts `i × startSpreadMs / replicas` ms after the
   * first, so that their heartbeats, which follow each one's connect, do not
   * go out in lockstep. Default: the heartbeat interval.
   */
  startSpreadMs?: number;
}

export const DEFAULT_SLAVE_GROUP_OPTIONS: Readonly<SlaveGroupOptions> = { replicas: 1, firstReplica: 1 };

/** The node ids of a group: `<node>-<first>` … `<node>-<first + replicas - 1>`, each a valid node id. */
export function replicaIds(node: string, options: Pick<SlaveGroupOptions, 'replicas' | 'firstReplica'>): string[] {
  const { replicas, firstReplica } = options;
  checkInRange('replicas', replicas, SLAVE_GROUP_RANGES.replicas);
  checkInRange('firstReplica', firstReplica, SLAVE_GROUP_RANGES.firstReplica);
  const last = `${node}-${firstReplica + replicas - 1}`;
  if (node === '' || !isValidNodeId(last)) {
    throw new OptionError(
      'node',
      `with ${replicas} replicas the node ids run up to "${last}": they must be 1 to ${MAX_NODE_ID_LENGTH} characters`,
    );
  }
  return Array.from({ length: replicas }, (_, index) => `${node}-${firstReplica + index}`);
}

/**
 * Many slaves in one process: one {@link Slave} per replica id, each with its
 * own connection, hello, heartbeats, acks, outbox and reconnect backoff,
 * sharing the process's logger (every line names its node) and nothing else.
 * Signal handling is the caller's, once for the group: {@link stop} stops
 * every replica.
 */
export class SlaveGroup {
  readonly slaves: readonly Slave[];
  readonly options: SlaveGroupOptions;
  /** Replicas whose start is still to come. */
  private readonly pending = new Map<Slave, TimerHandle>();
  private stopping = false;
  private resolveDone!: () => void;
  /** Settles once every replica has stopped, by `stop()` or after its `heartbeatCount` heartbeats. */
  readonly done = new Promise<void>((resolve) => (this.resolveDone = resolve));

  /** `slave.node` is the group's base id; every other slave option applies to each replica. */
  constructor(
    slave: Partial<SlaveOptions>,
    group: Partial<SlaveGroupOptions>,
    log: Log<SlaveLogWrite>,
    private readonly clock: Clock = systemClock,
  ) {
    this.options = { ...DEFAULT_SLAVE_GROUP_OPTIONS, ...group };
    const base = resolveSlaveOptions(slave);
    const { startSpreadMs } = this.options;
    if (startSpreadMs !== undefined) checkInRange('startSpreadMs', startSpreadMs, { min: 0, max: 3_600_000 });
    this.slaves = replicaIds(base.node, this.options).map((node) => new Slave({ ...base, node }, log, clock));
    void Promise.all(this.slaves.map((replica) => replica.done)).then(() => this.resolveDone());
  }

  /** Node ids, in replica order. */
  get nodes(): string[] {
    return this.slaves.map((replica) => replica.options.node);
  }

  /** Starts the first replica now and the others spread over `startSpreadMs`; `idSource` as for {@link Slave.start}. */
  start(idSource?: string): this {
    const count = this.slaves.length;
    const spreadMs = this.options.startSpreadMs ?? this.slaves[0]!.options.heartbeatIntervalMs;
    for (const [index, replica] of this.slaves.entries()) {
      const delayMs = Math.floor((index * spreadMs) / count);
      if (delayMs === 0) {
        replica.start(idSource);
        continue;
      }
      const timer = this.clock.setTimeout(() => {
        this.pending.delete(replica);
        replica.start(idSource);
      }, delayMs);
      this.pending.set(replica, timer);
    }
    return this;
  }

  /**
   * Stops every replica at once (each waits a little for its acks, then
   * closes its connection); one not started yet never starts, nor logs
   * anything. Idempotent.
   */
  async stop(): Promise<void> {
    if (!this.stopping) {
      this.stopping = true;
      for (const timer of this.pending.values()) this.clock.clearTimeout(timer);
      const started = this.slaves.filter((replica) => !this.pending.has(replica));
      this.pending.clear();
      await Promise.all(started.map((replica) => replica.stop()));
      this.resolveDone();
    }
    return this.done;
  }
}
