import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, connect, type AddressInfo, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { ProxyHost } from '../../src/orchestrator/local/proxy-host';
import { CLI, SPAWN_TEST_TIMEOUT_MS } from '../helpers/cli';
import { send, until, watch, type Peer } from '../helpers/proxy-peers';
import { waitUntil } from '../helpers/wait';

/** The built entry of the proxies' process (npm test builds first). */
const PROXY_HOST = join(dirname(CLI), 'proxy-host.js');
const PROXY_HOST_MODULE = join(dirname(CLI), '..', 'orchestrator', 'local', 'proxy-host.js');

jest.setTimeout(SPAWN_TEST_TIMEOUT_MS);

/** How long a request may wait for its answer: generous, the machine may be busy. */
const ANSWER_MS = 10_000;

/** Running, or stopped but not yet reaped by whoever its parent now is (a zombie has exited). */
const alive = (pid: number): boolean => {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
};

let server: Server;
let upstreamPort: number;
const accepted: Peer[] = [];
let host: ProxyHost;

beforeAll(() => {
  for (const file of [PROXY_HOST, PROXY_HOST_MODULE]) {
    if (!existsSync(file)) throw new Error(`${file} is missing: run "npm run build" first (npm test does)`);
  }
});

beforeEach(async () => {
  accepted.length = 0;
  server = createServer({ allowHalfOpen: true, noDelay: true }, (socket) => accepted.push(watch(socket)));
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  upstreamPort = (server.address() as AddressInfo).port;
  host = new ProxyHost(PROXY_HOST, ANSWER_MS);
  await host.upstream(upstreamPort);
});

afterEach(async () => {
  await host.close(5000);
  for (const peer of accepted) peer.socket.destroy();
  await new Promise((resolve) => server.close(resolve));
});

async function through(port: number): Promise<{ slave: Peer; master: Peer }> {
  const before = accepted.length;
  const slave = watch(connect({ host: '127.0.0.1', port, noDelay: true }));
  await once(slave.socket, 'connect');
  await until(() => accepted.length > before, 'the upstream connection');
  return { slave, master: accepted[before]! };
}

describe('ProxyHost', () => {
  it('runs proxies in a process of its own: bytes both ways, none while cut, again once healed', async () => {
    const proxy = await host.open(1);
    expect(host.pid).not.toBe(process.pid);
    const { slave, master } = await through(proxy.port);
    slave.socket.write('up-1');
    master.socket.write('down-1');
    await until(() => master.received === 'up-1' && slave.received === 'down-1', 'bytes both ways before the cut');
    await proxy.cut();
    await send(slave, 'lost-up');
    await send(master, 'lost-down');
    await proxy.heal();
    // Live again right after: what came during the cut is gone, what comes now arrives.
    slave.socket.write('up-2');
    master.socket.write('down-2');
    await until(() => master.received.endsWith('up-2') && slave.received.endsWith('down-2'), 'bytes after the heal');
    expect([master.received, slave.received]).toEqual(['up-1up-2', 'down-1down-2']);
    slave.socket.destroy();
  });

  it('keeps each proxy apart: a reset of one leaves the other connected', async () => {
    const first = await host.open(1);
    const second = await host.open(2);
    expect(first.port).not.toBe(second.port);
    const a = await through(first.port);
    const b = await through(second.port);
    await first.reset();
    await until(() => a.slave.closed, "the reset of the first proxy's connection");
    b.slave.socket.write('still-here');
    await until(() => b.master.received === 'still-here', 'bytes through the second proxy');
    expect(b.slave.closed).toBe(false);
    b.slave.socket.destroy();
  });

  it('answers a request it cannot carry out with why', async () => {
    await host.open(1);
    await expect(host.request({ op: 'cut', proxy: 7 })).rejects.toThrow('no proxy 7 (there are 1)');
    // And serves on.
    await expect(host.open(2)).resolves.toMatchObject({ port: expect.any(Number) });
  });

  it('fails every request once its process died, saying how', async () => {
    const proxy = await host.open(1);
    expect(host.failure).toBeUndefined();
    process.kill(host.pid!, 'SIGKILL');
    await expect(proxy.cut()).rejects.toThrow("the fault proxies' process exited (SIGKILL)");
    await expect(proxy.heal()).rejects.toThrow("the fault proxies' process exited (SIGKILL)");
    // Ended before it was asked to: the links of its slaves went with it.
    expect(host.failure).toBe("the fault proxies' process exited (SIGKILL)");
  });

  it('has no failure when it ends because it was closed', async () => {
    await host.open(1);
    await host.close(5000);
    expect(host.failure).toBeUndefined();
  });

  it('sends new connections where upstream says, and leaves those already made where they are', async () => {
    const proxy = await host.open(1);
    const before = await through(proxy.port);
    // The master restarted on another port.
    const moved: Peer[] = [];
    const other = createServer({ noDelay: true }, (socket) => moved.push(watch(socket)));
    other.listen(0, '127.0.0.1');
    await once(other, 'listening');
    try {
      await host.upstream((other.address() as AddressInfo).port);
      const slave = watch(connect({ host: '127.0.0.1', port: proxy.port, noDelay: true }));
      await until(() => moved.length === 1, 'the new connection at the new upstream');
      slave.socket.write('to-new');
      before.slave.socket.write('to-old');
      await until(() => moved[0]!.received === 'to-new' && before.master.received === 'to-old', 'bytes on both');
      expect(accepted).toHaveLength(1);
      slave.socket.destroy();
      before.slave.socket.destroy();
    } finally {
      for (const peer of moved) peer.socket.destroy();
      await new Promise((resolve) => other.close(resolve));
    }
  });

  it('fails a request its process does not answer in time, naming it', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'picluster-proxy-host-'));
    const silent = join(dir, 'silent.js');
    // Takes every request and answers none.
    writeFileSync(silent, "process.on('message', () => undefined);\n");
    const mute = new ProxyHost(silent, 300);
    try {
      await expect(mute.upstream(1)).rejects.toThrow(
        "the fault proxies' process did not answer upstream within 300 ms",
      );
    } finally {
      await mute.close(5000);
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('names a process that could not start', async () => {
    const broken = new ProxyHost(join(dirname(PROXY_HOST), 'no-such-proxy-host.js'), ANSWER_MS);
    await expect(broken.open(1)).rejects.toThrow(/exited \(code 1\); stderr: .*Cannot find module/s);
    await broken.close(5000);
  });

  it('is gone once closed, and when the runner that started it dies', async () => {
    const pid = host.pid!;
    await host.close(5000);
    expect(alive(pid)).toBe(false);
    // A runner killed without a chance to close it: the channel closes, the process stops its proxies and ends.
    const runner = spawn(
      process.execPath,
      [
        '-e',
        `const { ProxyHost } = require(${JSON.stringify(PROXY_HOST_MODULE)});
         const host = new ProxyHost(${JSON.stringify(PROXY_HOST)}, ${ANSWER_MS});
         host.open(1).then(() => console.log(host.pid));`,
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    const [line] = (await once(runner.stdout!.setEncoding('utf8'), 'data')) as [string];
    const orphan = Number(line.trim());
    expect(alive(orphan)).toBe(true);
    runner.kill('SIGKILL');
    await waitUntil(
      () => !alive(orphan),
      30_000,
      () => `the proxies' process ${orphan} still runs after its runner was killed`,
    );
    // A fresh host for afterEach to close.
    host = new ProxyHost(PROXY_HOST, ANSWER_MS);
  });
});
