import { Master } from '../../src/master';
import { LogSink } from './log-sink';

/** A master on a free loopback port with its log parsed; `cleanups` gets its stop. */
export async function startInProcessMaster(
  options: ConstructorParameters<typeof Master>[0],
  cleanups: Array<() => Promise<unknown> | unknown>,
): Promise<{ master: Master; sink: LogSink }> {
  const sink = new LogSink();
  const master = await new Master({ port: 0, host: '127.0.0.1', ...options }, sink.log).start();
  cleanups.push(() => master.stop());
  return { master, sink };
}
