import { execFileSync, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import type { Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Master, type MasterTlsOptions } from '../../src/master';
import { Slave, type SlaveTlsOptions } from '../../src/slave';
import { CLI, CliProcess, expectUsageError, runCli, SPAWN_TEST_TIMEOUT_MS } from '../helpers/cli';
import { LogSink, type LogLine } from '../helpers/log-sink';
import { startInProcessMaster } from '../helpers/master';
import { rawClient } from '../helpers/peers';
import { startInProcessSlave } from '../helpers/slave';
import { afterPolls, waitUntil } from '../helpers/wait';

const MAKE_CERTS = join(__dirname, '..', '..', 'scripts', 'make-certs.sh');
const FAST_BACKOFF = { initialDelayMs: 20, maxDelayMs: 100, factor: 2 };
/** The master times a node out after 3 of these; a busy machine must not reach that by being slow. */
const HEARTBEAT_INTERVAL_MS = 100;
/** Waits for lines of processes or sockets: generous, for a machine shared with other work. */
const WAIT_MS = 15_000;

jest.setTimeout(SPAWN_TEST_TIMEOUT_MS);

let dir: string;
/** Files of the cluster's CA, and of another CA that signed nothing of the master's. */
let certs: string;
let otherCerts: string;
const pem = (file: string): Buffer => readFileSync(file);

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'picluster-tls-'));
  certs = join(dir, 'certs');
  otherCerts = join(dir, 'other');
  execFileSync('bash', [MAKE_CERTS, certs], { stdio: 'pipe' });
  execFileSync('bash', [MAKE_CERTS, otherCerts], { stdio: 'pipe' });
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

let sink: LogSink;
let master: Master;
const cleanups: Array<() => Promise<unknown> | unknown> = [];

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

function masterTls(clientCa?: string): MasterTlsOptions {
  return {
    cert: pem(join(certs, 'server.pem')),
    key: pem(join(certs, 'server-key.pem')),
    clientCa: clientCa && pem(clientCa),
  };
}

async function startMaster(options: ConstructorParameters<typeof Master>[0] = {}): Promise<void> {
  ({ master, sink } = await startInProcessMaster({ tls: masterTls(), ...options }, cleanups));
}

function startSlave(
  node: string,
  tls: SlaveTlsOptions,
  options: Partial<ConstructorParameters<typeof Slave>[0]> = {},
): { slave: Slave; slaveLog: LogSink } {
  return startInProcessSlave(
    {
      masterPort: master.port,
      node,
      heartbeatIntervalMs: HEARTBEAT_INTERVAL_MS,
      backoff: FAST_BACKOFF,
      tls,
      ...options,
    },
    cleanups,
  );
}

const trusting = (): SlaveTlsOptions => ({ ca: pem(join(certs, 'ca.pem')) });
const withClientCert = (from = certs): SlaveTlsOptions => ({
  ...trusting(),
  cert: pem(join(from, 'client.pem')),
  key: pem(join(from, 'client-key.pem')),
});

/** The seqs of numbered lines, in order (a hello that asks for acks has none). */
const numbered = (lines: LogLine[]): number[] =>
  lines.flatMap((line) => (typeof line.seq === 'number' ? [line.seq] : []));

/** A message of `node` sent after the call is logged: the master serves it now. */
async function servedNow(node: string, slaveLog: LogSink): Promise<void> {
  const before = Math.max(0, ...numbered(slaveLog.events('sent')));
  const next = await slaveLog.waitFor((l) => l.event === 'sent' && (l.seq as number) > before, WAIT_MS);
  await sink.waitForEvent('message', { node, seq: next.seq }, WAIT_MS);
}

async function plainClient(): Promise<Socket> {
  const socket = await rawClient(master.port);
  cleanups.push(() => socket.destroy());
  return socket;
}

const tlsErrors = (): LogLine[] => sink.events('tls_error');

describe('a TLS master and slave', () => {
  it('log every message over TLS and ack it; listening says tls', async () => {
    await startMaster();
    expect(await sink.waitForEvent('listening')).toMatchObject({ tls: true, port: master.port });
    const { slave, slaveLog } = startSlave('secure', trusting());
    expect(await slaveLog.waitForEvent('starting')).toMatchObject({ tls: true });
    await slaveLog.waitForEvent('connected', {}, WAIT_MS);
    await sink.waitForEvent('message', { node: 'secure', seq: 3 }, WAIT_MS);
    await slave.stop();
    // Stopping waits for the acks: none left means the master acked over TLS.
    expect((await slaveLog.waitForEvent('stopped')).unacked).toBeUndefined();
    expect(numbered(sink.events('message', 'secure'))).toEqual(numbered(slaveLog.events('sent')));
    expect(sink.events('connect')).toHaveLength(1);
    expect(tlsErrors()).toEqual([]);
  });

  it('logs a plain-TCP client as one tls_error, no session, and keeps serving the slave', async () => {
    await startMaster();
    const { slaveLog } = startSlave('steady', trusting());
    await servedNow('steady', slaveLog);
    const plain = await plainClient();
    const closed = once(plain, 'close');
    const remote = `127.0.0.1:${plain.localPort}`;
    plain.write('{"msg":"Hello World, I am client plain"}\r');
    const line = await sink.waitForEvent('tls_error', {}, WAIT_MS);
    expect(line).toMatchObject({ level: 'warn', remote, count: 1 });
    expect(line.code).toMatch(/^ERR_SSL_/);
    await closed;
    await servedNow('steady', slaveLog);
    expect(sink.events('connect').map((l) => l.conn)).toEqual([1]);
    expect(sink.events('disconnect')).toEqual([]);
    expect(sink.events('message').some((l) => String(l.message).includes('plain'))).toBe(false);
  });

  it('counts a burst of failed handshakes into few lines, not one each', async () => {
    await startMaster();
    const burst = 30;
    const clients = await Promise.all(Array.from({ length: burst }, () => plainClient()));
    for (const client of clients) client.write('not TLS\r');
    const counted = (): number => tlsErrors().reduce((sum, l) => sum + (l.count as number), 0);
    await waitUntil(
      () => counted() === burst,
      WAIT_MS,
      () => JSON.stringify(tlsErrors()),
    );
    // The first at once, the rest at the end of each 1-second window they fell in.
    expect(tlsErrors().length).toBeLessThanOrEqual(4);
    expect(tlsErrors()[0]!.count).toBe(1);
    for (const line of tlsErrors().slice(1)) {
      const codes = Object.values(line.codes as Record<string, number>);
      expect(codes.reduce((sum, n) => sum + n, 0)).toBe(line.count);
    }
  });

  it('refuses connections beyond maxConnections and counts them, as without TLS', async () => {
    await startMaster({ maxConnections: 1 });
    const { slaveLog } = startSlave('only', trusting());
    await servedNow('only', slaveLog);
    const extra = await plainClient();
    await once(extra, 'close');
    expect(await sink.waitForEvent('limit', { limit: 'connections' }, WAIT_MS)).toMatchObject({ refused: 1, open: 1 });
    expect(tlsErrors()).toEqual([]);
  });

  it('closes a peer that does not finish its handshake within the heartbeat timeout', async () => {
    await startMaster({ heartbeatTimeoutMs: 300 });
    const silent = await plainClient();
    const remote = `127.0.0.1:${silent.localPort}`;
    await once(silent, 'close');
    expect(await sink.waitForEvent('tls_error', {}, WAIT_MS)).toMatchObject({
      code: 'ERR_TLS_HANDSHAKE_TIMEOUT',
      remote,
    });
  });

  it('stops at once with a peer still in its handshake, and logs no failure of its own making', async () => {
    // A handshake may last a minute here: stop() waiting for it would time the test out.
    await startMaster({ heartbeatTimeoutMs: 60_000 });
    const silent = await plainClient();
    await afterPolls(2);
    await master.stop();
    await once(silent, 'close');
    expect(sink.lines.at(-1)).toMatchObject({ event: 'shutdown', connections: 0 });
    expect(tlsErrors()).toEqual([]);
  }, 30_000);
});

describe('a slave checking the master certificate', () => {
  it('refuses a master whose certificate another CA signed, never connects, retries', async () => {
    await startMaster();
    const { slaveLog } = startSlave('wary', { ca: pem(join(otherCerts, 'ca.pem')) });
    await slaveLog.waitFor((l) => l.event === 'reconnecting' && (l.attempt as number) >= 2, WAIT_MS);
    const refusals = slaveLog.events('disconnected');
    expect(refusals.length).toBeGreaterThanOrEqual(2);
    for (const line of refusals) {
      expect(line.reason).toBe('tls_error');
      expect(['UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'SELF_SIGNED_CERT_IN_CHAIN']).toContain(line.code);
    }
    expect(slaveLog.events('connected')).toEqual([]);
    expect(sink.events('connect')).toEqual([]);
  });

  it('refuses a master whose certificate does not name the host it connects to', async () => {
    // 127.0.0.2 is loopback too, but not among the certificate's names.
    ({ master, sink } = await startInProcessMaster({ tls: masterTls(), host: '127.0.0.2' }, cleanups));
    const { slaveLog } = startSlave('strict', trusting(), { masterHost: '127.0.0.2' });
    expect(await slaveLog.waitForEvent('disconnected', {}, WAIT_MS)).toMatchObject({
      reason: 'tls_error',
      code: 'ERR_TLS_CERT_ALTNAME_INVALID',
    });
    expect(slaveLog.events('connected')).toEqual([]);
  });
});

describe('mutual TLS', () => {
  beforeEach(() => startMaster({ tls: masterTls(join(certs, 'ca.pem')) }));

  it('serves a slave with a client certificate of the client CA', async () => {
    const { slaveLog } = startSlave('member', withClientCert());
    await servedNow('member', slaveLog);
    expect(tlsErrors()).toEqual([]);
  });

  it('refuses a slave without a client certificate, and logs it', async () => {
    const { slaveLog } = startSlave('anonymous', trusting());
    const line = await sink.waitForEvent('tls_error', {}, WAIT_MS);
    expect(line).toMatchObject({ code: 'ERR_SSL_PEER_DID_NOT_RETURN_A_CERTIFICATE' });
    const local = (await slaveLog.waitForEvent('connected', {}, WAIT_MS)).local_port;
    expect(line.remote).toBe(`127.0.0.1:${local}`);
    await slaveLog.waitForEvent('disconnected', {}, WAIT_MS);
    expect(sink.events('connect')).toEqual([]);
    expect(sink.events('message')).toEqual([]);
  });

  it('refuses a slave whose client certificate another CA signed, and logs it', async () => {
    startSlave('stranger', withClientCert(otherCerts));
    expect(await sink.waitForEvent('tls_error', {}, WAIT_MS)).toMatchObject({
      code: 'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
      remote: expect.stringMatching(/^127\.0\.0\.1:\d+$/),
    });
    expect(sink.events('connect')).toEqual([]);
  });
});

describe('TLS from the command line', () => {
  beforeAll(() => {
    if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run "npm run build" first (npm test does)`);
  });

  const children: CliProcess[] = [];
  afterEach(async () => {
    for (const child of children.splice(0)) {
      child.kill('SIGKILL');
      await child.exited;
    }
  });

  it('runs a mutual-TLS master and slave from files given by variables and flags', async () => {
    const cli = new CliProcess(['master', '--port', '0', '--host', '127.0.0.1'], {
      TLS_CERT: join(certs, 'server.pem'),
      TLS_KEY: join(certs, 'server-key.pem'),
      TLS_CLIENT_CA: join(certs, 'ca.pem'),
    });
    children.push(cli);
    const { port } = await cli.waitForEvent('listening', { tls: true });
    const slave = new CliProcess([
      'slave',
      '--master',
      `127.0.0.1:${port as number}`,
      '--id',
      'cli-slave',
      '--heartbeat-interval-ms',
      String(HEARTBEAT_INTERVAL_MS),
      '--tls-ca',
      join(certs, 'ca.pem'),
      '--tls-client-cert',
      join(certs, 'client.pem'),
      '--tls-client-key',
      join(certs, 'client-key.pem'),
    ]);
    children.push(slave);
    await cli.waitForEvent('message', { node: 'cli-slave', seq: 2 }, WAIT_MS);
  });

  it.each([
    [['master', '--tls-cert', 'server.pem'], {}, '--tls-cert (TLS_CERT) needs --tls-key (TLS_KEY)'],
    [['master'], { TLS_KEY: 'server-key.pem' }, '--tls-key (TLS_KEY) needs --tls-cert (TLS_CERT)'],
    [['master', '--tls-client-ca', 'ca.pem'], {}, '--tls-client-ca (TLS_CLIENT_CA) needs --tls-cert and --tls-key'],
    [['slave', '--tls-ca', 'ca.pem', '--tls-client-key', 'k.pem'], {}, '--tls-client-key (TLS_CLIENT_KEY) needs'],
    [['slave', '--tls-client-cert', 'c.pem', '--tls-client-key', 'k.pem'], {}, 'needs --tls-ca (TLS_CA) or --tls'],
  ])('refuses %j %j with one line naming the flag, exit code 2', (args, env, text) =>
    expectUsageError(args, env, text),
  );

  it.each([
    ['master', '--tls-cert', 'missing.pem', 'cannot read --tls-cert file'],
    ['master', '--tls-key', 'ca.pem', 'is not a PEM private key'],
    ['master', '--tls-key', 'client-key.pem', 'is not the key of the certificate'],
    ['slave', '--tls-ca', 'client-key.pem', 'is not a PEM certificate'],
  ])('%s with an unusable %s file (%s): an error line naming it, exit code 1', async (command, flag, file, text) => {
    const path = join(certs, file);
    const args =
      command === 'master'
        ? ['master', '--port', '0', '--tls-cert', join(certs, 'server.pem'), '--tls-key', join(certs, 'server-key.pem')]
        : ['slave', '--id', 'x', '--tls-ca', join(certs, 'ca.pem')];
    args.push(flag, path);
    const { code, stdout, stderr } = await runCli(args);
    expect(code).toBe(1);
    expect(stderr).toBe('');
    const line = JSON.parse(stdout.trim()) as LogLine;
    expect(line).toMatchObject({ event: 'error', level: 'error', code: 'PICLUSTER_ERR_TLS_FILE', file: path });
    expect(line.message).toContain(text);
    expect(line.message).toContain(`"${path}"`);
  });
});

describe('scripts/make-certs.sh', () => {
  it('keeps keys private and refuses to overwrite without --force', () => {
    for (const key of ['server-key.pem', 'client-key.pem']) {
      expect(statSync(join(certs, key)).mode & 0o777).toBe(0o600);
    }
    const ca = readFileSync(join(certs, 'ca.pem'), 'utf8');
    const again = spawnSync('bash', [MAKE_CERTS, certs], { encoding: 'utf8' });
    expect(again.status).toBe(1);
    expect(again.stderr).toContain('--force');
    expect(readFileSync(join(certs, 'ca.pem'), 'utf8')).toBe(ca);
  });
});
