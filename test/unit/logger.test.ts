import { Writable } from 'node:stream';
import { createLog } from '../../src/common';

/** A destination that takes `delayMs` per write, as a slow disk or a lagging reader does. */
function slowDestination(delayMs: number): Writable {
  return new Writable({
    write(_chunk, _encoding, callback) {
      setTimeout(callback, delayMs);
    },
  });
}

const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe('Log.whenWritten', () => {
  it('calls back once the lines so far are written, while later writes are still in flight', async () => {
    const log = createLog({ destination: slowDestination(10) });
    let written = false;
    log.write({ event: 'a', message: 'first' });
    log.whenWritten(() => (written = true));
    // Keep the destination busy: a write is always in flight from here on.
    for (let i = 0; i < 20 && !written; i++) {
      log.write({ event: 'b', message: `more ${i}` });
      await turn();
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    expect(written).toBe(true);
    await log.close();
  });

  it('calls back at once when nothing is waiting to be written', () => {
    const log = createLog({ destination: slowDestination(10) });
    let written = false;
    log.whenWritten(() => (written = true));
    expect(written).toBe(true);
  });
});
