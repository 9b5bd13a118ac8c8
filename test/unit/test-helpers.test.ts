import { JsonLinesReader, jsonLinesOf, parseJsonLine } from '../helpers/json-lines';
import { LogLines } from '../helpers/log-lines';
import { pollUntil, waitUntil } from '../helpers/wait';

const line = (fields: Record<string, unknown>): string => `${JSON.stringify(fields)}\n`;
type Line = Record<string, unknown> & { event: string };

describe('the JSON-lines reader of the tests', () => {
  it('hands on each line once its newline has come, however the text is cut', () => {
    const text = line({ event: 'a', n: 1 }) + line({ event: 'b', n: 2 }) + line({ event: 'c', n: 3 });
    for (let cut = 0; cut <= text.length; cut++) {
      const read: unknown[] = [];
      const reader = new JsonLinesReader((l) => read.push(l.n));
      reader.push(text.slice(0, cut));
      reader.push(text.slice(cut));
      expect(read).toEqual([1, 2, 3]);
    }
  });

  it('leaves out the unfinished last line of a growing text, and reads it in a whole one', () => {
    const text = line({ event: 'a' }) + '{"event":"b"';
    expect(jsonLinesOf(text, { growing: true }).map((l) => l.event)).toEqual(['a']);
    expect(() => jsonLinesOf(text)).toThrow('not a JSON line: "{\\"event\\":\\"b\\""');
    expect(jsonLinesOf(`${text}}`).map((l) => l.event)).toEqual(['a', 'b']);
  });

  it('refuses text that is not a JSON object, unless told to skip it', () => {
    const text = `2026-01-01T00:00:00.000Z info listening\n${line({ event: 'a' })}[1]\n\n`;
    expect(() => jsonLinesOf(text)).toThrow('not a JSON line');
    expect(jsonLinesOf(text, { nonJson: 'skip' }).map((l) => l.event)).toEqual(['a']);
    expect(parseJsonLine('{"torn":')).toBeUndefined();
    expect(parseJsonLine('"text"')).toBeUndefined();
  });
});

describe('the event waiter of the tests', () => {
  it('resolves with a line read already, or with the first matching line when it comes', async () => {
    const log = new LogLines(5000);
    log.push(line({ event: 'connect', node: 'x' }));
    expect(await log.waitForEvent('connect', { node: 'x' })).toMatchObject({ event: 'connect' });
    const later = log.waitForEvent('message', { n: 2 });
    log.push(line({ event: 'message', n: 1 }) + line({ event: 'message', n: 2 }));
    expect(await later).toMatchObject({ n: 2 });
    expect(log.events('message')).toHaveLength(2);
  });

  it('looks from index `from` on', async () => {
    const log = new LogLines<Line>(5000);
    log.add({ event: 'connected' });
    const again = log.waitFor((l) => l.event === 'connected', 5000, 1);
    log.add({ event: 'connected', n: 2 });
    expect(await again).toEqual({ event: 'connected', n: 2 });
  });

  it('names what it waited for and shows the last lines when it times out', async () => {
    const log = new LogLines<Line>(20);
    for (let n = 0; n < 12; n++) log.add({ event: 'beat', n });
    await expect(log.waitForEvent('disconnect', { node: 'x' })).rejects.toThrow(
      /^waited 20 ms for event "disconnect" with \{"node":"x"\}; 12 lines read, the last 10:\n\{"event":"beat","n":2\}/,
    );
    await expect(log.waitFor((l) => l.n === 99, 20)).rejects.toThrow(/for a line matching \(l\) => l\.n === 99;/);
  });

  it('rejects with the error of a check that throws', async () => {
    const log = new LogLines<Line>(5000);
    const waiting = log.waitFor(() => {
      throw new Error('bad check');
    });
    log.add({ event: 'a' });
    await expect(waiting).rejects.toThrow('bad check');
  });
});

describe('the poller of the tests', () => {
  it('resolves once a check holds, sync or async', async () => {
    let n = 0;
    await waitUntil(() => ++n >= 3, 5000, 'never');
    expect(n).toBe(3);
    expect(await pollUntil(async () => (n >= 3 ? 'found' : undefined), 5000, 'never')).toBe('found');
  });

  it('names the check and the state when it times out', async () => {
    await expect(
      waitUntil(
        () => false,
        20,
        () => 'state: none',
      ),
    ).rejects.toThrow(/^nothing matching \(\) => false within 20 ms; state: none$/);
  });
});
