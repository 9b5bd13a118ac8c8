import { scriptedMaster } from '../helpers/hostile-master';
import { startInProcessSlave } from '../helpers/slave';

const cleanups: Array<() => Promise<unknown> | unknown> = [];

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

const ACK_TIMEOUT_MS = 100;
/** Longer than the ack timeout: the slave's timer is due when its process runs again. */
const FREEZE_MS = 400;
const FREEZES = 3;

/** Blocks this process, as a busy machine, a GC pause or SIGSTOP/SIGCONT would. */
function freeze(ms: number): void {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    // busy: nothing else in this process runs
  }
}

describe('a slave whose process was frozen', () => {
  it('keeps a connection whose acks came in time, although its ack timer is due before it reads them', async () => {
    let frozen = 0;
    let acked = 0;
    const master = await scriptedMaster((connection) => {
      // After the scripted master's own reader: `frames` already holds what this chunk brought.
      connection.socket.on('data', () => {
        for (const frame of connection.frames.slice(acked)) {
          connection.send({ type: 'ack', node: frame.node, seq: typeof frame.seq === 'number' ? frame.seq : 0 });
        }
        acked = connection.frames.length;
        // The ack is in the slave's socket, unread, when the process stops; when it runs again,
        // timers run before sockets are read.
        if (acked >= 2 && frozen < FREEZES) {
          frozen += 1;
          freeze(FREEZE_MS);
        }
      });
    });
    cleanups.push(() => master.close());
    const { slaveLog } = startInProcessSlave(
      { masterPort: master.port, node: 'frozen', heartbeatIntervalMs: 50, ackTimeoutMs: ACK_TIMEOUT_MS },
      cleanups,
    );
    await slaveLog.waitForEvent('connected');
    await slaveLog.waitFor(() => frozen === FREEZES, 20_000);
    // Live after the last freeze: later heartbeats are still sent and acked on the same connection.
    const after = slaveLog.events('sent').length;
    await slaveLog.waitFor((line) => line.event === 'sent' && slaveLog.events('sent').length >= after + 5, 20_000);
    expect(slaveLog.events('ack_timeout')).toEqual([]);
    expect(slaveLog.events('disconnected')).toEqual([]);
    expect(master.connections).toHaveLength(1);
  }, 60_000);
});
