import {
  LOG_EVENTS,
  fieldsOf,
  logLineOf,
  opensConnection,
  parseLogLine,
  readLogRecord,
  type LogSource,
} from '../../src/protocol';

const TS = '2026-11-25T16:14:12.866Z';

/** Lines as the master and a slave write them, one of each kind. */
const MASTER_LINES = [
  `{"timestamp":"${TS}","level":"info","event":"listening","message":"Listening on port 4000","port":4000,"host":"::","auth":"token","tls":true}`,
  `{"timestamp":"${TS}","level":"info","event":"connect","message":"Client connected","conn":3,"remote":"172.23.0.5:51670","node":"172.23.0.5:51670"}`,
  `{"timestamp":"${TS}","level":"info","event":"message","message":"Received message: Hello World, I am client s-1","node":"s-1","type":"hello","conn":3,"acks":true,"boot":"b1"}`,
  `{"timestamp":"${TS}","level":"info","event":"message","message":"Received message: Hello World, I am client s-1","node":"s-1","seq":7,"type":"heartbeat","conn":3}`,
  `{"timestamp":"${TS}","level":"info","event":"disconnect","message":"Client disconnected","node":"s-1","seq":12,"reason":"timeout","conn":1,"silent_ms":3001}`,
  `{"timestamp":"${TS}","level":"warn","event":"gap","message":"Messages lost: seq 2-4","node":"s-1","boot":"b1","from":2,"to":4,"conn":1}`,
  `{"timestamp":"${TS}","level":"warn","event":"protocol_error","message":"2 protocol errors, the last: frame is not valid JSON","code":"PICLUSTER_ERR_INVALID_JSON","excerpt":"{x","node":"1.2.3.4:5","conn":2,"repeated":2,"codes":{"PICLUSTER_ERR_INVALID_JSON":2}}`,
  `{"timestamp":"${TS}","level":"warn","event":"limit","message":"Refused 3 connections: 10 open, at most 10","limit":"connections","refused":3,"open":10,"applied":10}`,
  `{"timestamp":"${TS}","level":"warn","event":"recovered","message":"Recovered the last seq of 2 nodes from m.jsonl","file":"m.jsonl","nodes":2,"lines":9,"unreadable":0,"checkpoint":false,"checkpoint_ignored":"torn","offset":0,"ms":3}`,
  `{"timestamp":"${TS}","level":"warn","event":"checkpoint_failed","message":"Cannot write the ledger checkpoint m.jsonl.ledger: no space","file":"m.jsonl.ledger","code":"ENOSPC"}`,
  `{"timestamp":"${TS}","level":"info","event":"shutdown","message":"Master stopped","connections":4,"signal":"SIGTERM"}`,
  `{"timestamp":"${TS}","level":"error","event":"server_error","message":"accept EMFILE","code":"EMFILE"}`,
  `{"timestamp":"${TS}","level":"warn","event":"tls_error","message":"TLS handshake failed (ECONNRESET): socket hang up","code":"ECONNRESET","count":1}`,
  `{"timestamp":"${TS}","level":"warn","event":"log_dropped","message":"5 log lines not written to stdout: its reader fell 100 bytes behind","destination":"stdout","lines":5}`,
  `{"timestamp":"${TS}","level":"error","event":"error","message":"Cannot start: listen EADDRINUSE","code":"EADDRINUSE"}`,
  `{"timestamp":"${TS}","level":"info","event":"listening","message":"Listening on port 4000","port":4000,"host":"::","detector":"phi","phi_threshold":8,"phi_min_std_dev_ms":100,"phi_acceptable_pause_ms":0}`,
  `{"timestamp":"${TS}","level":"info","event":"disconnect","message":"Client disconnected","node":"s-1","seq":12,"reason":"timeout","conn":1,"silent_ms":1523,"detector":"phi","phi":8.01}`,
  `{"timestamp":"${TS}","level":"info","event":"disconnect","message":"Client disconnected","node":"s-2","seq":3,"reason":"timeout","conn":2,"silent_ms":3000,"detector":"fixed"}`,
];

const SLAVE_LINES = [
  `{"timestamp":"${TS}","level":"info","event":"starting","message":"Slave s-1 starting","node":"s-1","master":"m:4000","interval_ms":1000,"acks":true,"boot":"b1"}`,
  `{"timestamp":"${TS}","level":"info","event":"connecting","message":"Connecting to m:4000","node":"s-1","attempt":1}`,
  `{"timestamp":"${TS}","level":"info","event":"connected","message":"Connected to m:4000","node":"s-1","local_port":5123}`,
  `{"timestamp":"${TS}","level":"info","event":"sent","message":"Hello World, I am client s-1","node":"s-1","type":"hello","acks":true,"boot":"b1"}`,
  `{"timestamp":"${TS}","level":"info","event":"sent","message":"Heartbeat from s-1","node":"s-1","seq":1,"type":"heartbeat"}`,
  `{"timestamp":"${TS}","level":"warn","event":"protocol_error","message":"The master acked seq 9; the last sent is 3","node":"s-1","code":"PICLUSTER_ERR_BAD_ACK","excerpt":"{}","seq":9,"last_seq":3}`,
  `{"timestamp":"${TS}","level":"info","event":"disconnected","message":"Disconnected from master","node":"s-1","reason":"tls_error","code":"ERR_TLS_CERT_ALTNAME_INVALID","error":"altname","unacked":2}`,
  `{"timestamp":"${TS}","level":"info","event":"stopped","message":"Slave s-1 stopped","node":"s-1","sent":12}`,
];

describe('parseLogLine', () => {
  it.each(MASTER_LINES)("reads a master's line as its typed line: %s", (text) => {
    const parsed = parseLogLine(text, 'master');
    expect(parsed.kind).toBe('line');
    if (parsed.kind !== 'line') return;
    expect(parsed.invalidFields).toEqual([]);
    // Nothing is copied or lost: the typed line is the object read.
    expect(parsed.line).toEqual(JSON.parse(text));
    expect(parsed.line).toBe(parsed.record);
  });

  it.each(SLAVE_LINES)("reads a slave's line as its typed line: %s", (text) => {
    const parsed = parseLogLine(text, 'slave');
    expect(parsed).toMatchObject({ kind: 'line', invalidFields: [], line: JSON.parse(text) });
  });

  it('narrows on event: the fields of the event have their types', () => {
    const { line } = parseLogLine(MASTER_LINES[4]!, 'master');
    if (line?.event !== 'disconnect') throw new Error('not a disconnect');
    const reason: string | undefined = line.reason;
    const silentMs: number | undefined = line.silent_ms;
    expect([reason, silentMs]).toEqual(['timeout', 3001]);
  });

  it('knows the detectors by name: another is an invalid field', () => {
    const unknown = MASTER_LINES[MASTER_LINES.length - 1]!.replace('"fixed"', '"gossip"');
    expect(parseLogLine(unknown, 'master')).toMatchObject({ kind: 'line', invalidFields: ['detector'] });
  });

  it("reads a line of the other process's log by that process's table", () => {
    // Both have a protocol_error, with other fields: a slave's code is no protocol error code of the master's.
    const slaveLine = SLAVE_LINES[5]!;
    expect(parseLogLine(slaveLine, 'slave')).toMatchObject({ kind: 'line', invalidFields: [] });
    expect(parseLogLine(slaveLine, 'master')).toMatchObject({ kind: 'line', invalidFields: ['code'] });
    expect(parseLogLine(SLAVE_LINES[0]!, 'master')).toMatchObject({ kind: 'unknown' });
  });

  it.each([
    ['not_json', ''],
    ['not_json', '{"event":"mess'],
    ['not_json', '2026-11-25T16:14:12.866Z info  listening  Listening on port 4000'],
    ['not_an_object', '42'],
    ['not_an_object', 'null'],
    ['not_an_object', '"listening"'],
    ['not_an_object', '[{"event":"listening"}]'],
    ['no_event', '{}'],
    ['no_event', '{"message":"Listening on port 4000"}'],
    ['no_event', '{"event":7}'],
  ])('says a line is no log line (%s): %s', (why, text) => {
    expect(parseLogLine(text, 'master')).toEqual({ kind: 'not_a_log_line', why });
  });

  it('gives an event it does not know as unknown, with the object read, and does not throw', () => {
    const text = `{"timestamp":"${TS}","level":"info","event":"rebalanced","message":"later","shards":3}`;
    expect(parseLogLine(text, 'master')).toEqual({ kind: 'unknown', record: JSON.parse(text) });
    // Nor is a name of Object.prototype an event.
    expect(parseLogLine('{"event":"toString"}', 'master').kind).toBe('unknown');
    expect(parseLogLine('{"event":"__proto__"}', 'slave').kind).toBe('unknown');
  });

  it('keeps fields it does not know', () => {
    const { line } = parseLogLine(`{"event":"shutdown","connections":0,"region":"eu"}`, 'master');
    expect(line).toEqual({ event: 'shutdown', connections: 0, region: 'eu' });
  });

  it('takes a line with fields missing (a log of another version, a doctored one), as readers always did', () => {
    expect(parseLogLine('{"event":"listening"}', 'master')).toMatchObject({
      kind: 'line',
      line: { event: 'listening' },
      invalidFields: [],
    });
  });

  it('leaves out of the typed line, and names, the fields of another type than documented', () => {
    const text = '{"event":"message","level":"debug","node":5,"seq":"3","type":"heartbeat","conn":1,"acks":"yes"}';
    const parsed = parseLogLine(text, 'master');
    expect(parsed).toEqual({
      kind: 'line',
      line: { event: 'message', type: 'heartbeat', conn: 1 },
      record: JSON.parse(text),
      invalidFields: ['level', 'node', 'seq', 'acks'],
    });
  });

  it('checks literal fields against their values: reasons, codes, limits, counts', () => {
    const invalid = (text: string, source: LogSource = 'master'): readonly string[] | undefined => {
      const parsed = parseLogLine(text, source);
      return parsed.kind === 'line' ? parsed.invalidFields : undefined;
    };
    expect(invalid('{"event":"disconnect","reason":"bored"}')).toEqual(['reason']);
    expect(invalid('{"event":"protocol_error","code":"EPIPE"}')).toEqual(['code']);
    expect(invalid('{"event":"limit","limit":"patience"}')).toEqual(['limit']);
    expect(invalid('{"event":"recovered","checkpoint_ignored":"lost"}')).toEqual(['checkpoint_ignored']);
    expect(invalid('{"event":"tls_error","codes":{"ECONNRESET":"2"}}')).toEqual(['codes']);
    expect(invalid('{"event":"tls_error","codes":[2]}')).toEqual(['codes']);
    expect(invalid('{"event":"listening","auth":"s3cret","tls":false}')).toEqual(['auth', 'tls']);
    expect(invalid('{"event":"sent","acks":false}', 'slave')).toEqual(['acks']);
    // The reasons of a slave's disconnected line are open: socket error codes.
    expect(invalid('{"event":"disconnected","reason":"ECONNREFUSED"}', 'slave')).toEqual([]);
  });

  it('reads every event of both tables', () => {
    for (const source of ['master', 'slave'] as const) {
      for (const event of Object.keys(LOG_EVENTS[source])) {
        expect(parseLogLine(JSON.stringify({ event }), source).kind).toBe('line');
        expect(fieldsOf(source, event).length).toBeGreaterThan(0);
      }
    }
  });
});

describe('readLogRecord and logLineOf', () => {
  it('type an object already parsed', () => {
    const record = JSON.parse(MASTER_LINES[0]!) as { event: string };
    expect(readLogRecord(record, 'master')).toMatchObject({ kind: 'line', line: record });
    expect(logLineOf(record, 'master')?.event).toBe('listening');
    expect(logLineOf({ event: 'later' }, 'master')).toBeUndefined();
  });
});

describe('opensConnection', () => {
  it("is true of a hello that asked for acks, a master's message line or a slave's sent line", () => {
    expect(opensConnection(JSON.parse(MASTER_LINES[2]!))).toBe(true);
    expect(opensConnection(JSON.parse(SLAVE_LINES[3]!))).toBe(true);
  });

  it('is false of a numbered hello, a hello without acks, a heartbeat', () => {
    expect(opensConnection({ type: 'hello', acks: true, seq: 1 })).toBe(false);
    expect(opensConnection({ type: 'hello', acks: false })).toBe(false);
    expect(opensConnection({ type: 'hello', seq: 1 })).toBe(false);
    expect(opensConnection(JSON.parse(MASTER_LINES[3]!))).toBe(false);
    expect(opensConnection(JSON.parse(SLAVE_LINES[4]!))).toBe(false);
  });
});
