import { Slave, type SlaveOptions } from '../../src/slave';
import { LogSink } from './log-sink';

/** A slave on loopback with its log parsed, started; `cleanups` gets its stop. */
export function startInProcessSlave(
  options: Partial<SlaveOptions> & Pick<SlaveOptions, 'masterPort' | 'node'>,
  cleanups: Array<() => Promise<unknown> | unknown>,
): { slave: Slave; slaveLog: LogSink } {
  const slaveLog = new LogSink();
  const slave = new Slave({ masterHost: '127.0.0.1', ...options }, slaveLog.log).start();
  cleanups.push(() => slave.stop());
  return { slave, slaveLog };
}
