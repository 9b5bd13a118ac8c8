import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, Writable } from 'node:stream';
import { createLog } from '../../src/common';
import { jsonLinesOf } from '../helpers/json-lines';
import { pollUntil, waitUntil } from '../helpers/wait';

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

/** A destination that takes nothing until `resume()`: a reader of stdout that stopped reading. */
function stalledDestination(): { destination: Writable; resume(): void; text(): string } {
  let stalled = true;
  const held: Array<() => void> = [];
  let text = '';
  const destination = new Writable({
    highWaterMark: 1024,
    write(chunk: Buffer, _encoding, callback) {
      text += chunk.toString('utf8');
      if (stalled) held.push(callback);
      else callback();
    },
  });
  return {
    destination,
    resume: () => {
      stalled = false;
      held.splice(0).forEach((callback) => callback());
    },
    text: () => text,
  };
}

function tempFile(): string {
  return join(mkdtempSync(join(tmpdir(), 'picluster-log-')), 'log.jsonl');
}

const lines = (text: string): Array<Record<string, unknown>> => jsonLinesOf(text);

describe('a log file and a stdout that stops reading', () => {
  it('waits for the file only, drops what stdout cannot take beyond its limit, and counts it once stdout catches up', async () => {
    const file = tempFile();
    const stdout = stalledDestination();
    const log = createLog({ destination: stdout.destination, file, stdoutBacklogLimitBytes: 4096 });
    for (let i = 0; i < 200; i++) {
      log.write({ event: 'line', message: `line ${i}`, i });
      await turn();
    }
    // Acks wait for this: the file has every line while stdout takes none.
    await new Promise<void>((resolve) => log.whenWritten(resolve));
    expect(lines(readFileSync(file, 'utf8')).map((l) => l.i)).toEqual(Array.from({ length: 200 }, (_, i) => i));
    expect(log.backlogBytes).toBe(0);

    stdout.resume();
    log.write({ event: 'after', message: 'stdout reads again' });
    await pollUntil(
      () => lines(stdout.text()).find((l) => l.event === 'log_dropped'),
      5000,
      () => `stdout:\n${stdout.text().slice(-500)}`,
    );
    const shown = lines(stdout.text()).filter((l) => l.event === 'line').length;
    expect(shown).toBeLessThan(200);
    const dropped = lines(stdout.text()).find((l) => l.event === 'log_dropped')!;
    expect(dropped).toMatchObject({ level: 'warn', destination: 'stdout', lines: 200 - shown });
    // The file's copy of that line is written on its own schedule: wait for it, as acks do.
    await new Promise<void>((resolve) => log.whenWritten(resolve));
    expect(lines(readFileSync(file, 'utf8')).some((l) => l.event === 'log_dropped')).toBe(true);
    expect(await log.close(5000)).toEqual([]);
  });

  it('drops nothing from stdout when there is no file: stdout is then the record', async () => {
    const stdout = stalledDestination();
    const log = createLog({ destination: stdout.destination, stdoutBacklogLimitBytes: 1024 });
    for (let i = 0; i < 100; i++) log.write({ event: 'line', message: `line ${i}`, i });
    let written = false;
    log.whenWritten(() => (written = true));
    await turn();
    expect(written).toBe(false);
    stdout.resume();
    await waitUntil(
      () => written,
      5000,
      () => 'whenWritten never called back',
    );
    expect(lines(stdout.text()).map((l) => l.i)).toEqual(Array.from({ length: 100 }, (_, i) => i));
    expect(await log.close()).toEqual([]);
  });

  it('closes within its grace, naming the destination that did not take its lines', async () => {
    const stdout = stalledDestination();
    const log = createLog({ destination: stdout.destination, file: tempFile() });
    log.write({ event: 'last', message: 'never read' });
    // The file takes the line however long a busy machine makes it; stdout never does.
    await new Promise<void>((resolve) => log.whenWritten(resolve));
    expect(await log.close(200)).toEqual(['stdout']);
    stdout.resume();
  });
});

describe('a log file whose last line was torn', () => {
  it('starts the first new line on a line of its own', async () => {
    const file = tempFile();
    writeFileSync(file, '{"event":"message","message":"cut off by a kill');
    const log = createLog({ destination: new PassThrough().resume(), file });
    log.write({ event: 'recovered', message: 'first line of the new process' });
    await log.close();
    const [torn, first] = readFileSync(file, 'utf8').split('\n');
    expect(torn).toBe('{"event":"message","message":"cut off by a kill');
    expect(JSON.parse(first!)).toMatchObject({ event: 'recovered' });
  });
});

describe('the text format', () => {
  it('escapes controls and bidirectional characters a peer sent, in the message and in every field', async () => {
    const destination = new PassThrough();
    let text = '';
    destination.setEncoding('utf8').on('data', (chunk: string) => (text += chunk));
    const log = createLog({ destination, format: 'text' });
    log.write({ event: 'message', message: 'Received message: a\nb\u202Ec\u2028d', node: 'n\u202E1' });
    await log.close();
    expect(text.split('\n')).toHaveLength(2); // one line, and the newline that ends it
    expect(text).toContain('Received message: a\\nb\\u202ec\\u2028d');
    expect(text).toContain('node="n\\u202e1"');
    expect(text).not.toMatch(/[\u202E\u2028]/);
  });
});
