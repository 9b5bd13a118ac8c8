import { randomBytes } from 'node:crypto';
import Docker from 'dockerode';
import {
  ContainerLinkFaults,
  MIN_SLICE_BYTES,
  addressOn,
  removeLabelled,
  unsupportedLinkFault,
  type LinkCapabilities,
  type LinkTarget,
} from '../../src/orchestrator/docker';
import type { LinkFault } from '../../src/orchestrator/link-fault';
import { ContainerLog, sh, withoutFrameHeaders } from '../helpers/docker';
import type { LogLine } from '../helpers/json-lines';
import { pollUntil } from '../helpers/wait';

// Kernel network faults on a plain TCP client in one container of the picluster
// image, talking to a server in another, applied from the picluster-net helper.
jest.setTimeout(300_000);

const docker = new Docker();
const IMAGE = process.env.E2E_IMAGE ?? 'picluster:e2e';
const NET_IMAGE = process.env.E2E_NET_IMAGE ?? 'picluster-net:e2e';
const RUN = randomBytes(4).toString('hex');
const LABEL = 'picluster.test';
const LABELS = { [LABEL]: `link-faults-${RUN}` };
const NETWORK = `picluster-link-faults-${RUN}`;
const SERVER = `picluster-link-server-${RUN}`;
const PORT = 9000;

/**
 * Per connection: checks every byte (byte i is i % 251), echoes what it gets,
 * sends 100 bytes every 100 ms of its own, and logs its counters every 200 ms.
 */
const SERVER_SCRIPT = `
const net = require('net'); let id = 0;
const log = (o) => console.log(JSON.stringify({ t: Date.now(), ...o }));
net.createServer((s) => {
  const c = ++id; let rx = 0, bad = 0; s.setNoDelay(true);
  const tick = setInterval(() => s.write('t'.repeat(100)), 100);
  const stat = setInterval(() => log({ event: 'stat', c, rx, bad }), 200);
  s.on('data', (d) => { for (const b of d) { if (b !== rx % 251) bad++; rx++; } s.write(d); });
  s.on('error', (e) => log({ event: 'error', c, code: e.code }));
  s.on('close', () => { clearInterval(tick); clearInterval(stat); log({ event: 'close', c, rx, bad }); });
}).listen(${PORT}, () => log({ event: 'listening' }));`;

/** Writes 1000 bytes every 20 ms (400 kbit/s), counts what comes back, logs every 200 ms, reconnects when closed. */
const CLIENT_SCRIPT = `
const net = require('net'); let n = 0;
const log = (o) => console.log(JSON.stringify({ t: Date.now(), ...o }));
function go() {
  const c = ++n; let tx = 0, rx = 0, write, stat;
  const s = net.connect(${PORT}, '${SERVER}'); s.setNoDelay(true);
  s.on('connect', () => {
    log({ event: 'connected', c });
    write = setInterval(() => { const b = Buffer.alloc(1000); for (let i = 0; i < 1000; i++) b[i] = (tx + i) % 251; tx += 1000; s.write(b); }, 20);
    stat = setInterval(() => log({ event: 'stat', c, tx, rx }), 200);
  });
  s.on('data', (d) => (rx += d.length));
  s.on('error', (e) => log({ event: 'error', c, code: e.code }));
  s.on('close', () => { clearInterval(write); clearInterval(stat); log({ event: 'close', c }); setTimeout(go, 300); });
}
go();`;

type Stat = LogLine & { t: number; c: number; rx: number; tx?: number; bad?: number };

let server: Docker.Container;
let client: Docker.Container;
let serverLog: ContainerLog;
let clientLog: ContainerLog;
let target: LinkTarget;
let faults: ContainerLinkFaults;
let capabilities: LinkCapabilities;

async function startNode(name: string, script: string): Promise<Docker.Container> {
  const container = await docker.createContainer({
    name,
    Image: IMAGE,
    Entrypoint: ['node', '-e', script],
    Labels: LABELS,
    HostConfig: { NetworkMode: NETWORK },
  });
  await container.start();
  return container;
}

/** Runs `script` in the helper image inside `container`'s network namespace; its stdout. */
async function inNamespace(container: Docker.Container, script: string): Promise<string> {
  const helper = await docker.createContainer({
    Image: NET_IMAGE,
    Cmd: [script],
    Labels: LABELS,
    HostConfig: { NetworkMode: `container:${container.id}`, CapAdd: ['NET_ADMIN'] },
  });
  try {
    await helper.start();
    await helper.wait();
    return withoutFrameHeaders((await helper.logs({ stdout: true, stderr: true })) as unknown as Buffer);
  } finally {
    await helper.remove({ force: true });
  }
}

/** `ss -tin` counters of the one established connection on port 9000 seen from `container`. */
async function tcpInfo(container: Docker.Container): Promise<{ mss: number; segsIn: number }> {
  const text = await inNamespace(container, `ss -tin state established '( sport = :${PORT} or dport = :${PORT} )'`);
  const mss = /\bmss:(\d+)/.exec(text)?.[1];
  const segsIn = /\bsegs_in:(\d+)/.exec(text)?.[1];
  if (mss === undefined || segsIn === undefined) throw new Error(`no connection in ss output:\n${text}`);
  return { mss: Number(mss), segsIn: Number(segsIn) };
}

/** The next stat line of `log` (of connection `c`, if given) from now on. */
function nextStat(log: ContainerLog, c?: number, from = log.lines.length): Promise<Stat> {
  return log.waitFor(
    (line) => line.event === 'stat' && (c === undefined || line.c === c),
    10_000,
    from,
  ) as Promise<Stat>;
}

/** Bytes per second `field` of `log`'s stat lines grew by over about `ms`, of connection `c`. */
async function rateOver(log: ContainerLog, field: 'rx', ms: number, c?: number): Promise<number> {
  const first = await nextStat(log, c);
  const last = (await log.waitFor(
    (line) => line.event === 'stat' && (c === undefined || line.c === c) && (line.t as number) >= first.t + ms,
    ms + 10_000,
  )) as Stat;
  return ((last[field] - first[field]) * 1000) / (last.t - first.t);
}

/** The client's connection now (its number), once it is connected. */
async function clientConnection(): Promise<number> {
  return (await nextStat(clientLog)).c;
}

/** The server's number for the client's current connection: its newest stat line's. */
async function serverConnection(): Promise<number> {
  return (await nextStat(serverLog)).c;
}

/** Waits until the server has every byte the client had written by now, unchanged. */
async function everyByteArrives(): Promise<void> {
  const sent = await nextStat(clientLog);
  const c = await serverConnection();
  const got = (await serverLog.waitFor(
    (line) => line.event === 'stat' && line.c === c && (line.rx as number) >= (sent.tx ?? 0),
    60_000,
  )) as Stat;
  expect(got.bad).toBe(0);
}

async function apply(fault: LinkFault): Promise<string> {
  return faults.apply(target, fault);
}

beforeAll(async () => {
  await sh('scripts/build-images.sh', [], {
    IMAGE,
    NET_IMAGE,
    OFFLINE_BASE: process.env.OFFLINE_BASE ?? '1',
  });
  await docker.createNetwork({ Name: NETWORK, Labels: LABELS });
  server = await startNode(SERVER, SERVER_SCRIPT);
  serverLog = await ContainerLog.follow(docker, server);
  await serverLog.waitForEvent('listening' as never);
  client = await startNode(`picluster-link-client-${RUN}`, CLIENT_SCRIPT);
  clientLog = await ContainerLog.follow(docker, client);
  const masterIp = addressOn(await server.inspect(), NETWORK);
  if (masterIp === undefined) throw new Error(`the server has no address on ${NETWORK}`);
  target = { containerId: client.id, masterIp, masterPort: PORT };
  faults = new ContainerLinkFaults({ docker, image: NET_IMAGE, labels: LABELS });
  capabilities = await faults.capabilities();
  await clientConnection();
});

afterEach(async () => {
  await faults?.clear(target);
});

afterAll(async () => {
  serverLog?.close();
  clientLog?.close();
  const removed = await removeLabelled(docker, `${LABEL}=${LABELS[LABEL]}`);
  expect(removed.errors).toEqual([]);
});

describe('link faults in a container namespace (real kernel)', () => {
  it('refuses what this kernel cannot do, in one line, and applies nothing', async () => {
    const delay: LinkFault = { direction: 'both', shape: { delayMs: 200, jitterMs: 20 } };
    const slice3: LinkFault = { direction: 'to-master', shape: { sliceBytes: 3 } };
    const sliceBack: LinkFault = { direction: 'from-master', shape: { sliceBytes: 64 } };
    expect(unsupportedLinkFault(slice3, capabilities)).toMatch(/TCP_MIN_SND_MSS/);
    expect(unsupportedLinkFault(sliceBack, capabilities)).toMatch(/to-master/);
    await expect(apply(slice3)).rejects.toMatchObject({ code: 'PICLUSTER_ERR_FAULT_FAILED' });
    if (capabilities.netem) {
      expect(unsupportedLinkFault(delay, capabilities)).toBeUndefined();
      expect(await apply(delay)).toMatch(/netem delay 200ms 20ms/);
    } else {
      const why = unsupportedLinkFault(delay, capabilities);
      expect(why).toBe(`delay needs the kernel's sch_netem (CONFIG_NET_SCH_NETEM), which this kernel lacks`);
      expect(await faults.refusal(delay)).toBe(why);
      await expect(apply(delay)).rejects.toThrow(why ?? '');
    }
    await recovers();
  });

  it('bandwidth caps the throughput each way, and clearing restores it', async () => {
    const rate = 64_000;
    expect(await apply({ direction: 'to-master', shape: { rateBitsPerSecond: rate } })).toMatch(
      /to-master: rate 64000 bit\/s/,
    );
    const c = await serverConnection();
    // The first window may still hold the bucket's burst; the second is the steady rate.
    await rateOver(serverLog, 'rx', 1000, c);
    const up = await rateOver(serverLog, 'rx', 3000, c);
    expect(up).toBeLessThanOrEqual((rate / 8) * 1.15);
    expect(up).toBeGreaterThan((rate / 8) * 0.5);

    await faults.clear(target);
    expect(await apply({ direction: 'from-master', shape: { rateBitsPerSecond: rate } })).toMatch(
      /from-master: rate 64000 bit\/s/,
    );
    await rateOver(clientLog, 'rx', 1000);
    const down = await rateOver(clientLog, 'rx', 3000);
    expect(down).toBeLessThanOrEqual((rate / 8) * 1.15);
    expect(down).toBeGreaterThan((rate / 8) * 0.5);

    await faults.clear(target);
    await recovers();
  });

  it('loses 30% of the segments both ways, and TCP still delivers every byte in order', async () => {
    const description = await apply({ direction: 'both', shape: { lossPercent: 30 } });
    expect(description).toMatch(capabilities.netem ? /netem loss 30%/ : /lose 30% \(iptables statistic\)/);
    await rateOver(serverLog, 'rx', 2000);
    if (!capabilities.netem) {
      const counters = await inNamespace(
        client,
        'iptables -L PICLUSTER-TO-MASTER -v -n -x; iptables -L PICLUSTER-FROM-MASTER -v -n -x',
      );
      const dropped = [...counters.matchAll(/^\s*(\d+)\s+\d+\s+DROP/gm)].map((match) => Number(match[1]));
      expect(dropped).toHaveLength(2);
      for (const packets of dropped) expect(packets).toBeGreaterThan(0);
    }
    await everyByteArrives();
    await faults.clear(target);
    await everyByteArrives();
  });

  it('a one-way partition stops that direction only; the other still carries packets', async () => {
    await apply({ direction: 'to-master', shape: { drop: true } });
    const c = await serverConnection();
    await rateOver(serverLog, 'rx', 500, c);
    const server0 = await tcpInfo(server);
    const client0 = await tcpInfo(client);
    const received0 = (await nextStat(serverLog, c)).rx;
    // The server's packets still reach the client (new data, or retransmissions once its timer fires), the client's never reach the server.
    await segmentsArrive(client, client0.segsIn);
    expect((await tcpInfo(server)).segsIn).toBe(server0.segsIn);
    expect((await nextStat(serverLog, c)).rx).toBe(received0);

    await apply({ direction: 'from-master', shape: { drop: true } });
    await rateOver(clientLog, 'rx', 500);
    const server1 = await tcpInfo(server);
    const client1 = await tcpInfo(client);
    const received1 = (await nextStat(clientLog)).rx;
    await segmentsArrive(server, server1.segsIn);
    expect((await tcpInfo(client)).segsIn).toBe(client1.segsIn);
    expect((await nextStat(clientLog)).rx).toBe(received1);

    await faults.clear(target);
    await everyByteArrives();
  });

  it(`slices the slave's segments to ${MIN_SLICE_BYTES} bytes, spaced by the slice delay`, async () => {
    const before = await tcpInfo(client);
    expect(before.mss).toBeGreaterThan(1000);
    expect(await apply({ direction: 'to-master', shape: { sliceBytes: MIN_SLICE_BYTES, sliceDelayMs: 10 } })).toMatch(
      /segments of at most 48 bytes/,
    );
    const c = await serverConnection();
    await waitForMss(48);
    await rateOver(serverLog, 'rx', 1000, c);
    // One 48-byte segment per 10 ms: 4800 bytes/s.
    const sliced = await rateOver(serverLog, 'rx', 3000, c);
    expect(sliced).toBeLessThanOrEqual(4800 * 1.15);
    expect(sliced).toBeGreaterThan(4800 * 0.5);
    await faults.clear(target);
    await waitForMss(before.mss);
    await everyByteArrives();
  });

  it('reset aborts the connection: the server sees ECONNRESET, the client reconnects', async () => {
    const c = await clientConnection();
    const s = await serverConnection();
    expect(await faults.reset(target)).toMatch(/^reset 1 connection to /);
    await serverLog.waitFor((line) => line.event === 'error' && line.c === s && line.code === 'ECONNRESET');
    await clientLog.waitFor((line) => line.event === 'error' && line.c === c && line.code === 'ECONNABORTED');
    await clientLog.waitFor((line) => line.event === 'connected' && line.c === c + 1);
  });

  it('a missing helper image is PICLUSTER_ERR_IMAGE_MISSING, naming it', async () => {
    const missing = new ContainerLinkFaults({ docker, image: 'picluster-net:no-such-tag', labels: LABELS });
    await expect(missing.capabilities()).rejects.toMatchObject({
      code: 'PICLUSTER_ERR_IMAGE_MISSING',
      message: expect.stringContaining('picluster-net:no-such-tag'),
    });
  });

  it('clear is idempotent and leaves nothing behind', async () => {
    await faults.apply(target, {
      direction: 'both',
      shape: { rateBitsPerSecond: 1_000_000, lossPercent: 5, drop: false },
    });
    expect(await faults.clear(target)).toMatch(/^link clear/);
    expect(await faults.clear(target)).toMatch(/^link clear/);
    const state = await inNamespace(client, 'tc qdisc show; ip link show; iptables -S; ip route show');
    expect(state).not.toMatch(/htb|ifb-picluster|PICLUSTER-|mtu lock/);
  });
});

/** Waits until `container`'s end of the connection has received more than `segsIn` segments. */
async function segmentsArrive(container: Docker.Container, segsIn: number): Promise<void> {
  await pollUntil(
    async () => ((await tcpInfo(container)).segsIn > segsIn ? true : undefined),
    30_000,
    `more than ${segsIn} segments in`,
    200,
  );
}

/**
 * Waits until the server receives the client's 50 kB/s again, at 30 kB/s or
 * more over a second: after a fault, TCP may first have to wait out a
 * retransmission timer that backed off while the fault lasted.
 */
async function recovers(): Promise<void> {
  await pollUntil(
    async () => ((await rateOver(serverLog, 'rx', 1000)) > 30_000 ? true : undefined),
    60_000,
    'the server receiving 30 kB/s again',
    0,
  );
}

/** Waits until the client's connection sends segments of `mss` bytes. */
async function waitForMss(mss: number): Promise<void> {
  await pollUntil(
    async () => ((await tcpInfo(client)).mss === mss ? true : undefined),
    20_000,
    `the client's mss to become ${mss}`,
    200,
  );
}
