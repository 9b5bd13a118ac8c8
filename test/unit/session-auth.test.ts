import { resolveMasterOptions } from '../../src/master';
import { SeqLedger } from '../../src/master/ledger';
import { computeProof } from '../../src/protocol';
import { fakeSession } from '../helpers/fake-session';
import type { LogSink } from '../helpers/log-sink';

const TOKEN = 'the-cluster-token';

/** A session of a master with a token; `claimed` lists the nodes it claimed, `ledger` is its host's. */
function authSession(): ReturnType<typeof fakeSession> & { claimed: string[]; ledger: SeqLedger; nonce: string } {
  const claimed: string[] = [];
  const ledger = new SeqLedger();
  // The slave's seqs as a master that logged up to 7 knows them: an attacker must not move them.
  ledger.hello('n', 'b1');
  for (let seq = 1; seq <= 7; seq++) ledger.record('n', seq);
  const created = fakeSession({
    options: resolveMasterOptions({ port: 0, token: TOKEN }),
    ledger,
    claim: (_session, node) => claimed.push(node),
  });
  const challenge = JSON.parse(created.socket.written[0]!.replace(/\r$/, '')) as { type: string; nonce: string };
  expect(challenge.type).toBe('challenge');
  return { ...created, claimed, ledger, nonce: challenge.nonce };
}

/** Resolves once every line written before the call is parsed: lines keep their order. */
async function settled(sink: LogSink): Promise<void> {
  const marker = `marker-${Math.random()}`;
  sink.log.write({ event: 'marker', message: marker });
  await sink.waitForEvent('marker', { message: marker });
}

const hello = (fields: Record<string, unknown>): string =>
  JSON.stringify({ type: 'hello', node: 'n', msg: 'hi', acks: true, boot: 'b2', ...fields }) + '\r';

describe('session of a master with a token', () => {
  it('sends a challenge with a fresh 16-byte hex nonce first; a master without a token sends nothing', () => {
    const { nonce } = authSession();
    expect(nonce).toMatch(/^[0-9a-f]{32}$/);
    expect(authSession().nonce).not.toBe(nonce);
    expect(fakeSession().socket.written).toEqual([]);
  });

  it('takes a hello with the proof of its nonce, node and boot, even split byte by byte, then goes on as ever', async () => {
    const { socket, sink, claimed, ledger, nonce, due } = authSession();
    const frame = hello({ proof: computeProof(TOKEN, nonce, 'n', 'b2') });
    for (const byte of Buffer.from(frame)) socket.emit('data', Buffer.from([byte]));
    socket.emit('data', Buffer.from('{"type":"heartbeat","node":"n","seq":1,"msg":"x"}\r'));
    await settled(sink);
    expect(claimed).toEqual(['n']);
    expect(sink.events('message', 'n').map((l) => [l.type, l.seq])).toEqual([
      ['hello', undefined],
      ['heartbeat', 1],
    ]);
    // The new boot started the node's seqs again, as a hello of a new process does.
    expect(ledger.lastSeq('n')).toBe(1);
    expect(due.length).toBeGreaterThan(0);
    expect(sink.events('disconnect')).toEqual([]);
  });

  it.each([
    ['a heartbeat naming the node', '{"type":"heartbeat","node":"n","seq":8,"msg":"forged"}\r', 'auth_required'],
    ['a seed-format frame', '{"msg": "hello"}\r', 'auth_required'],
    ['a skip', '{"type":"skip","node":"n","to":1000000}\r', 'auth_required'],
    ['a hello without proof', hello({}), 'auth_required'],
    ['a hello with a wrong proof', hello({ proof: computeProof('guess', '0'.repeat(32), 'n', 'b2') }), 'bad_proof'],
  ])('ends the connection at %s first with auth_failed, bound to no node', async (_what, frame, code) => {
    const { socket, sink, claimed, ledger } = authSession();
    socket.emit('data', Buffer.from(frame));
    await settled(sink);
    expect(sink.events('disconnect')).toEqual([
      expect.objectContaining({ reason: 'auth_failed', code, node: '127.0.0.1:5000', conn: 1 }),
    ]);
    expect(claimed).toEqual([]);
    expect(sink.events('message')).toEqual([]);
    expect(sink.events('gap')).toEqual([]);
    expect(ledger.lastSeq('n')).toBe(7);
    // Nothing but the challenge went back: no ack, no resend request.
    expect(socket.written).toHaveLength(1);
  });

  it.each([
    ['a proof for another node', (nonce: string) => hello({ proof: computeProof(TOKEN, nonce, 'm', 'b2') })],
    ['a proof for another boot', (nonce: string) => hello({ proof: computeProof(TOKEN, nonce, 'n', 'b1') })],
    ['a proof of another nonce', () => hello({ proof: computeProof(TOKEN, 'f'.repeat(32), 'n', 'b2') })],
  ])('ends the connection at a hello with %s (bad_proof)', async (_what, frame) => {
    const { socket, sink, claimed, nonce } = authSession();
    socket.emit('data', Buffer.from(frame(nonce)));
    await settled(sink);
    expect(sink.events('disconnect')).toEqual([expect.objectContaining({ reason: 'auth_failed', code: 'bad_proof' })]);
    expect(claimed).toEqual([]);
  });

  it('names the protocol error of an unreadable first frame, and logs no protocol_error line for it', async () => {
    const malformed = authSession();
    malformed.socket.emit('data', Buffer.from(hello({ proof: 'abc' })));
    await settled(malformed.sink);
    expect(malformed.sink.events('disconnect')).toEqual([
      expect.objectContaining({ reason: 'auth_failed', code: 'bad_proof', error: 'PICLUSTER_ERR_INVALID_FIELD' }),
    ]);
    const garbage = authSession();
    garbage.socket.emit('data', Buffer.from('not json\r'));
    await settled(garbage.sink);
    expect(garbage.sink.events('disconnect')).toEqual([
      expect.objectContaining({ reason: 'auth_failed', code: 'auth_required', error: 'PICLUSTER_ERR_INVALID_JSON' }),
    ]);
    expect([...malformed.sink.lines, ...garbage.sink.lines].filter((l) => l.event === 'protocol_error')).toEqual([]);
  });

  it('never writes the token into a line', async () => {
    const { socket, sink, nonce } = authSession();
    socket.emit('data', Buffer.from(hello({ proof: computeProof(TOKEN, nonce, 'n', 'b2') })));
    socket.emit('data', Buffer.from('{"type":"heartbeat","node":"n","seq":1,"msg":"x"}\r'));
    socket.emit('close');
    await settled(sink);
    expect(sink.lines.length).toBeGreaterThanOrEqual(4);
    expect(JSON.stringify(sink.lines)).not.toContain(TOKEN);
  });
});
