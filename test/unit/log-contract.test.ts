import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  CHECKPOINT_REJECTIONS,
  DISCONNECT_REASONS,
  LIMIT_KINDS,
  LOG_EVENTS,
  PROTOCOL_ERROR_CODES,
  fieldsOf,
  parseLogLine,
  type LogSource,
} from '../../src/protocol';

/** docs/log-contract.md is the contract as people read it; the tables in log-events.ts are the same contract as data. */
const DOC = readFileSync(join(__dirname, '../../docs/log-contract.md'), 'utf8');

/** The lines of the section under `heading` (a `##` or `###` line), up to the next heading. */
function section(heading: string): string[] {
  const lines = DOC.split('\n');
  const start = lines.indexOf(heading);
  if (start < 0) throw new Error(`docs/log-contract.md has no "${heading}"`);
  const end = lines.findIndex((line, i) => i > start && /^#{2,3} /.test(line));
  return lines.slice(start + 1, end < 0 ? undefined : end);
}

/** The body rows of the first table of a section, as cells. */
function tableRows(heading: string): string[][] {
  const rows = section(heading).filter((line) => line.startsWith('|'));
  // A cell may hold a `|` only inside backticks; the contract's cells hold none.
  return rows.slice(2).map((row) =>
    row
      .slice(1, -1)
      .split('|')
      .map((cell) => cell.trim()),
  );
}

/** The backticked words of a cell. */
const ticked = (cell: string | undefined): string[] => [...(cell ?? '').matchAll(/`([^`]+)`/g)].map((m) => m[1]!);

interface DocEvent {
  levels: string[];
  fields: string[];
}

/** Event -> levels and fields, from an events table (columns: event, level, message, fields, meaning). */
function eventsOf(heading: string): Map<string, DocEvent> {
  const events = new Map<string, DocEvent>();
  for (const [event, levels, , fields] of tableRows(heading)) {
    const name = ticked(event);
    expect(name).toHaveLength(1);
    expect(events.has(name[0]!)).toBe(false);
    events.set(name[0]!, { levels: ticked(levels), fields: ticked(fields) });
  }
  return events;
}

const shared = eventsOf('## Events of both processes');
const documented: Record<LogSource, Map<string, DocEvent>> = {
  master: new Map([...eventsOf("## The master's events"), ...shared]),
  slave: new Map([...eventsOf("## The slave's events"), ...shared]),
};

describe('docs/log-contract.md', () => {
  describe.each(['master', 'slave'] as const)("the %s's events", (source) => {
    const table = LOG_EVENTS[source] as Record<string, { levels: readonly string[] }>;

    it('are exactly the events of the contract', () => {
      expect([...documented[source].keys()].sort()).toEqual(Object.keys(table).sort());
    });

    it.each(Object.keys(LOG_EVENTS[source]))(
      '%s: its levels, and its fields in the order they are written',
      (event) => {
        const doc = documented[source].get(event);
        expect(doc).toBeDefined();
        expect(doc!.levels).toEqual(table[event]!.levels);
        expect(doc!.fields).toEqual(fieldsOf(source, event));
      },
    );
  });

  it('lists every disconnect reason, each with fields a disconnect line has', () => {
    const rows = tableRows('### Disconnect reasons');
    expect(rows.map(([reason]) => ticked(reason)[0])).toEqual([...DISCONNECT_REASONS]);
    const fields = fieldsOf('master', 'disconnect').map((field) => field.replace(/\?$/, ''));
    for (const [, extra] of rows) for (const field of ticked(extra)) expect(fields).toContain(field);
  });

  it('lists every kind of limit, each with fields a limit line has', () => {
    const rows = tableRows('### Limits');
    expect(rows.map(([kind]) => ticked(kind)[0])).toEqual([...LIMIT_KINDS]);
    const fields = fieldsOf('master', 'limit').map((field) => field.replace(/\?$/, ''));
    for (const [, , extra] of rows) for (const field of ticked(extra)) expect(fields).toContain(field);
  });

  it('lists every protocol error code and every checkpoint rejection', () => {
    expect(tableRows('### Protocol error codes').map(([code]) => ticked(code)[0])).toEqual([...PROTOCOL_ERROR_CODES]);
    expect(tableRows('### Checkpoint rejections').map(([why]) => ticked(why)[0])).toEqual([...CHECKPOINT_REJECTIONS]);
  });

  it("has an example whose every line is a master's line as the contract says", () => {
    const example = section('### Example');
    const json = example.slice(example.indexOf('```json') + 1, example.lastIndexOf('```'));
    expect(json.length).toBeGreaterThan(0);
    for (const text of json) {
      const parsed = parseLogLine(text, 'master');
      expect(parsed).toMatchObject({ kind: 'line', invalidFields: [] });
    }
  });
});
