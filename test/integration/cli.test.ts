import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CLI, CliProcess, expectUsageError, runCli, SPAWN_TEST_TIMEOUT_MS } from '../helpers/cli';
import { readJsonLines, type LogLine } from '../helpers/json-lines';
import { rawClient } from '../helpers/peers';
import { pollUntil, waitUntil } from '../helpers/wait';

const ROOT = join(__dirname, '..', '..');

// Every test here starts picluster processes.
jest.setTimeout(SPAWN_TEST_TIMEOUT_MS);

/**
 * Our slaves' heartbeat interval: the master times a node out after 3 of them
 * (300 ms), which a busy machine must not reach by merely being slow.
 */
const HEARTBEAT_INTERVAL_MS = '100';

/** The seqs of numbered lines, in order (a hello that asks for acks has none). */
const numbered = (lines: LogLine[]): number[] =>
  lines.flatMap((line) => (typeof line.seq === 'number' ? [line.seq] : []));

/** The complete lines of a JSON-lines file that may still be written to. */
const completeLines = (file: string): LogLine[] => readJsonLines(file, { growing: true });

const children: CliProcess[] = [];
function start(args: string[], env: Record<string, string> = {}): CliProcess {
  const cli = new CliProcess(args, env);
  children.push(cli);
  return cli;
}

/** `picluster slave` with id `id`, beating every {@link HEARTBEAT_INTERVAL_MS}, against the master on `port`. */
function startSlave(port: number, id: string, flags: string[] = [], env: Record<string, string> = {}): CliProcess {
  return start(
    ['slave', '--master', `127.0.0.1:${port}`, '--id', id, '--heartbeat-interval-ms', HEARTBEAT_INTERVAL_MS, ...flags],
    env,
  );
}

async function startMaster(
  args: string[] = [],
  env: Record<string, string> = {},
): Promise<{ master: CliProcess; port: number }> {
  const master = start(['master', '--port', '0', '--host', '127.0.0.1', ...args], env);
  const listening = await master.waitForEvent('listening');
  return { master, port: listening.port as number };
}

beforeAll(() => {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run "npm run build" first (npm test does)`);
});

afterEach(async () => {
  for (const child of children.splice(0)) {
    child.kill('SIGKILL');
    await child.exited;
  }
});

describe('picluster CLI', () => {
  it('prints its version and help', async () => {
    const pkg = JSON.parse(readFileSync(join(__dirname, '..', '..', 'package.json'), 'utf8')) as { version: string };
    expect(await runCli(['--version'])).toMatchObject({ code: 0, stdout: `${pkg.version}\n` });
    const help = await runCli(['master', '--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('--heartbeat-timeout-ms');
    expect(help.stdout).toContain('HEARTBEAT_TIMEOUT_MS');
    expect((await runCli(['slave', '--help'])).stdout).toContain('--master <host:port>');
  });

  it.each([
    [['master', '--port', '70000'], {}, '--port must be an integer from 0 to 65535, got "70000"'],
    [['master'], { MASTER_PORT: 'abc' }, 'MASTER_PORT must be an integer from 0 to 65535, got "abc"'],
    [['master', '--log-format', 'xml'], {}, '--log-format must be one of json, text, got "xml"'],
    [
      ['slave', '--heartbeat-interval-ms', '0'],
      {},
      '--heartbeat-interval-ms must be an integer from 1 to 86400000, got "0"',
    ],
    [['slave', '--master', 'host:99999'], {}, '--master port must be an integer from 1 to 65535, got "99999"'],
    [['slave', '--id', 'x'.repeat(129)], {}, '--id must be 1 to 128 characters'],
    [['slave', '--nope'], {}, "Unknown option '--nope'"],
    [['slave', '--id-from', 'dns'], {}, '--id-from must be one of hostname, reverse-dns, got "dns"'],
    [['master', '--health-port', '70000'], {}, '--health-port must be an integer from 0 to 65535, got "70000"'],
    [['bogus'], {}, 'unknown command "bogus"'],
  ])('refuses %j %j with one line naming the flag, exit code 2', (args, env, text) =>
    expectUsageError(args, env, text),
  );

  it('master on SIGTERM logs a shutdown disconnect per connection and a shutdown line, loses no line, exits 0', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'picluster-'));
    try {
      const logFile = join(dir, 'master.jsonl');
      const { master, port } = await startMaster([], { LOG_FILE: logFile, HEALTH_PORT: '0' });
      expect(master.events('listening')[0]!.health_port).toBeGreaterThan(0);
      for (const id of ['a', 'b']) startSlave(port, id);
      await master.waitForEvent('message', { node: 'a', seq: 3 });
      await master.waitForEvent('message', { node: 'b', seq: 3 });
      master.kill('SIGTERM');
      expect(await master.exited).toEqual({ code: 0, signal: null });

      const shutdownDisconnects = master.events('disconnect').filter((l) => l.reason === 'shutdown');
      expect(shutdownDisconnects.map((l) => l.node).sort()).toEqual(['a', 'b']);
      expect(master.lines.at(-1)).toMatchObject({ event: 'shutdown', connections: 2, signal: 'SIGTERM' });
      expect(readFileSync(logFile, 'utf8')).toBe(master.stdout);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('master keeps serving and logging to LOG_FILE when its stdout reader goes away (EPIPE)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'picluster-'));
    try {
      const logFile = join(dir, 'master.jsonl');
      const { master, port } = await startMaster([], { LOG_FILE: logFile });
      master.child.stdout!.destroy(); // like `picluster master | head -1`
      const slave = startSlave(port, 'e', ['--count', '20']);
      expect((await slave.exited).code).toBe(0);
      await pollUntil(
        () => completeLines(logFile).find((l) => l.event === 'disconnect' && l.node === 'e' && l.reason === 'closed'),
        10_000,
        () => readFileSync(logFile, 'utf8'),
      );
      master.kill('SIGTERM');
      expect(await master.exited).toEqual({ code: 0, signal: null });
      const lines = completeLines(logFile);
      const messages = lines.filter((l) => l.event === 'message');
      // A hello that asks for acks has no seq; the 20 heartbeats are 1..20, each logged once
      // (after a reconnect, a hello of its own would come between).
      expect(messages[0]).toMatchObject({ type: 'hello' });
      expect(messages[0]).not.toHaveProperty('seq');
      expect(numbered(messages)).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
      expect(lines.at(-1)!.event).toBe('shutdown');
      expect(master.stderr).toContain('cannot write log lines to stdout');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('text format escapes control characters, so a peer cannot forge a line', async () => {
    const text = start(['master', '--port', '0', '--host', '127.0.0.1'], { LOG_FORMAT: 'text' });
    const listening = await pollUntil(
      () => /port=(\d+)/.exec(text.stdout)?.[1],
      10_000,
      () => text.stdout,
    );
    const socket = await rawClient(Number(listening));
    socket.end('{"msg":"hi\\n2026-01-01T00:00:00.000Z info  disconnect Client disconnected node=\\"forged\\""}\r');
    // The real disconnect (the forged one has no reason) comes after the message's line, all of it.
    await waitUntil(
      () => text.stdout.includes('reason="closed"'),
      10_000,
      () => text.stdout,
    );
    const forged = text.stdout.split('\n').filter((line) => line.startsWith('2026-01-01'));
    expect(forged).toEqual([]);
    expect(text.stdout).toContain('Received message: hi\\n2026-01-01');
  });

  it('master declares a paused (SIGSTOP) slave disconnected by timeout; after SIGCONT it comes back', async () => {
    const { master, port } = await startMaster();
    const slave = startSlave(port, 'p', ['--reconnect-max-delay-ms', '200']);
    await master.waitForEvent('message', { node: 'p', seq: 2 });
    slave.kill('SIGSTOP');
    const line = await master.waitForEvent('disconnect', { node: 'p' }, 10_000);
    expect(line.reason).toBe('timeout');
    // 3 × the announced 100 ms of silence, on the clock of the master, the one that saw the last frame come.
    expect(line.silent_ms).toBeGreaterThanOrEqual(300);
    slave.kill('SIGCONT');
    await master.waitFor((l) => l.event === 'message' && l.node === 'p' && l.type === 'hello' && l.conn !== line.conn);
    await slave.waitForEvent('reconnecting');
    // What was sent into the dead connection is resent: every heartbeat is logged once, none missing.
    const next = (line.seq as number) + 3;
    await master.waitForEvent('message', { node: 'p', seq: next });
    const logged = master.events('message', 'p').flatMap((l) => (l.type === 'heartbeat' ? [l.seq] : []));
    expect(logged.slice(0, next)).toEqual(Array.from({ length: next }, (_, i) => i + 1));
  });

  it('slave on SIGTERM closes its connection cleanly and exits 0; the master logs reason closed', async () => {
    const { master, port } = await startMaster();
    const slave = startSlave(port, 't');
    await master.waitForEvent('message', { node: 't', seq: 2 });
    slave.kill('SIGTERM');
    expect(await slave.exited).toEqual({ code: 0, signal: null });
    const sent = numbered(slave.events('sent'));
    // The connection the slave had when it stopped (not the first one, should it have reconnected).
    const connect = await master.waitForEvent('connect', {
      remote: `127.0.0.1:${slave.events('connected').at(-1)!.local_port as number}`,
    });
    const disconnect = await master.waitForEvent('disconnect', { conn: connect.conn });
    expect(disconnect).toMatchObject({ node: 't', reason: 'closed', seq: sent.at(-1) });
    // Each message logged once, none missing.
    expect(master.events('message', 't')[0]).toMatchObject({ type: 'hello' });
    expect(numbered(master.events('message', 't'))).toEqual(sent);
    // It waited for the acks of all it sent: nothing left unacked.
    expect(slave.lines.at(-1)).toMatchObject({ event: 'stopped', sent: sent.at(-1) });
    expect(slave.lines.at(-1)).not.toHaveProperty('unacked');
  });

  it('slave --count N sends a hello and N heartbeats, then exits 0', async () => {
    const { master, port } = await startMaster();
    const slave = start(['slave', '--id', 'c', '--heartbeat-interval-ms', HEARTBEAT_INTERVAL_MS, '--count', '4'], {
      MASTER_HOST: '127.0.0.1',
      MASTER_PORT: String(port),
    });
    expect(await slave.exited).toEqual({ code: 0, signal: null });
    expect(slave.events('sent').map((l) => l.type)).toEqual([
      'hello',
      'heartbeat',
      'heartbeat',
      'heartbeat',
      'heartbeat',
    ]);
    await master.waitForEvent('disconnect', { node: 'c', reason: 'closed', seq: 4 });
  });

  it('validate: exit 0 when every scenario is valid, 2 with every error located when one is not', async () => {
    const scenarios = readdirSync(join(ROOT, 'scenarios'))
      .filter((f) => f.endsWith('.yaml'))
      .map((f) => join(ROOT, 'scenarios', f));
    const ok = await runCli(['validate', ...scenarios]);
    expect(ok.code).toBe(0);
    expect(ok.stdout.trim().split('\n')).toHaveLength(scenarios.length);
    const broken = join(ROOT, 'test', 'fixtures', 'scenarios', 'invalid', 'unknown-action.yaml');
    const bad = await runCli(['validate', scenarios[0]!, broken]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain(`${broken}:6:23: events[1].action: must be one of disconnect,`);
    expect((await runCli(['validate'])).code).toBe(2);
  });

  it('LOG_FORMAT=text writes lines for people', async () => {
    const master = start(['master', '--port', '0', '--host', '127.0.0.1'], { LOG_FORMAT: 'text' });
    await waitUntil(
      () => master.stdout.includes('\n'),
      10_000,
      () => `stdout: ${master.stdout}\nstderr: ${master.stderr}`,
    );
    expect(master.lines).toEqual([]);
    expect(master.stdout).toMatch(/^\d{4}-\d\d-\d\dT[\d:.]+Z info +listening +Listening on port \d+ port=\d+/);
    master.kill('SIGTERM');
    expect((await master.exited).code).toBe(0);
  });
});

describe('picluster CLI with a cluster token', () => {
  const TOKEN = 'cli-token-0123456789abcdef';
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'picluster-token-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('lists --token and --token-file with their variables in help, for master and slave', async () => {
    for (const command of ['master', 'slave']) {
      const { stdout } = await runCli([command, '--help']);
      expect(stdout).toMatch(/--token <secret> .*\[env CLUSTER_TOKEN;/);
      expect(stdout).toMatch(/--token-file <path> .*\[env CLUSTER_TOKEN_FILE\]/);
    }
    // A token in the environment shows in no help text.
    expect((await runCli(['master', '--help'], { CLUSTER_TOKEN: TOKEN })).stdout).not.toContain(TOKEN);
  });

  it.each([
    ['both a token and a token file', (file: string) => [['--token', TOKEN, '--token-file', file], {}], 'are both set'],
    [
      'the variables of both',
      (file: string) => [[], { CLUSTER_TOKEN: TOKEN, CLUSTER_TOKEN_FILE: file }],
      'are both set',
    ],
    ['a missing token file', (file: string) => [['--token-file', `${file}.missing`], {}], 'cannot be read: ENOENT'],
    ['an empty token file', (file: string) => [[], { CLUSTER_TOKEN_FILE: `${file}.empty` }], 'is empty'],
    ['a token file that is a directory', () => [['--token-file', dir], {}], 'cannot be read: EISDIR'],
  ] as const)(
    'refuses %s with one line that names the file, never the token, exit code 2',
    async (_what, make, text) => {
      const file = join(dir, 'token');
      writeFileSync(file, `${TOKEN}\n`);
      writeFileSync(`${file}.empty`, '\n');
      const [args, env] = make(file) as [string[], Record<string, string>];
      for (const command of ['master', 'slave']) {
        const { code, stderr, stdout } = await runCli([command, ...args], env);
        expect(code).toBe(2);
        expect(stderr).toContain(text);
        if (text !== 'are both set') expect(stderr).toContain(args[1] ?? env.CLUSTER_TOKEN_FILE);
        expect(stderr.trim().split('\n')).toHaveLength(1);
        expect(stderr + stdout).not.toContain(TOKEN);
      }
    },
  );

  it('runs an authenticated master and slave from a token file (a Docker secret) and logs no token', async () => {
    const file = join(dir, 'cluster_token');
    writeFileSync(file, `${TOKEN}\n`);
    const { master, port } = await startMaster([], { CLUSTER_TOKEN_FILE: file });
    expect(master.events('listening')[0]).toMatchObject({ auth: 'token' });
    const slave = startSlave(port, 'authed', [], { CLUSTER_TOKEN: TOKEN });
    await master.waitForEvent('message', { node: 'authed', seq: 3 });
    expect(master.events('disconnect')).toEqual([]);
    expect(slave.events('starting')[0]).toMatchObject({ auth: 'token' });
    slave.kill('SIGTERM');
    expect((await slave.exited).code).toBe(0);
    await master.waitForEvent('disconnect', { node: 'authed', reason: 'closed' });
    master.kill('SIGTERM');
    expect((await master.exited).code).toBe(0);
    expect(master.stdout + master.stderr + slave.stdout + slave.stderr).not.toContain(TOKEN);
  });
});

describe('picluster refuses input it cannot handle, in one line, exit 2', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'picluster-refuse-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  /** Exit 2 and one line on stderr (besides validate's count of invalid files), with no stack trace. */
  const expectOneLine = (result: { code: number | null; stderr: string }): string => {
    expect(result.code).toBe(2);
    const lines = result.stderr.trim().split('\n');
    expect(lines.filter((line) => !line.startsWith('picluster validate: 1 of 1 scenario'))).toHaveLength(1);
    expect(result.stderr).not.toMatch(/\n\s+at /);
    return result.stderr;
  };

  it('a scenario file over the size limit, before parsing it', async () => {
    const file = join(dir, 'huge.yaml');
    const text = `name: huge\nslaves: 1\nduration: 1s\n#${'x'.repeat(1024 * 1024)}\n`;
    writeFileSync(file, text);
    const stderr = expectOneLine(await runCli(['validate', file]));
    expect(stderr).toContain(
      `${file}: cannot read scenario: ${text.length} bytes, more than the limit of 1048576 bytes`,
    );
  });

  it('a scenario with more events than the limit, before validating them', async () => {
    const file = join(dir, 'many.yaml');
    const events = Array.from({ length: 10_001 }, (_, i) => `  - { at: ${i}ms, action: pause, target: slave-1 }`);
    writeFileSync(file, `name: many\nslaves: 1\nduration: 20s\nevents:\n${events.join('\n')}\n`);
    const stderr = expectOneLine(await runCli(['validate', file]));
    expect(stderr).toContain(`${file}: 10001 events, more than the limit of 10000`);
  });

  it('a FIFO as scenario, at once: opening it does not wait for a writer', async () => {
    const fifo = join(dir, 'scenario.yaml');
    execFileSync('mkfifo', [fifo]);
    // Hanging here fails the test by its timeout.
    const stderr = expectOneLine(await runCli(['validate', fifo]));
    expect(stderr).toContain(`${fifo}: cannot read scenario: is a FIFO, not a regular file`);
    expect(expectOneLine(await runCli(['validate', dir]))).toContain('is a directory');
  });

  it('run --out where no directory can be made (under /proc): at once, nothing started', async () => {
    const scenario = join(ROOT, 'scenarios', 'basic-heartbeats.yaml');
    // Node's own recursive mkdir spins there forever: hanging fails the test by its timeout.
    const result = await runCli(['run', scenario, '--backend', 'local', '--out', '/proc/self/picluster-run']);
    expect(expectOneLine(result)).toContain('cannot create the run directory: ENOENT');
    expect(result.stdout).toBe('');
  });

  it('escapes U+202E and zero-width characters of a file name and a value', async () => {
    const file = join(dir, 'evil\u202eLMTH.yaml');
    writeFileSync(
      file,
      'name: x\nslaves: 1\nduration: 1s\nevents:\n  - { at: 0s, action: "ex\u200bplode\u202e", target: slave-1 }\n',
    );
    const { code, stderr } = await runCli(['validate', file]);
    expect(code).toBe(2);
    expect(stderr).not.toMatch(/[\u200b\u202e]/);
    expect(stderr).toContain('evil\\u202eLMTH.yaml:5:');
    expect(stderr).toContain('got "ex\\u200bplode\\u202e"');
  });
});
