import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  FROM_MASTER_CHAIN,
  IFB_DEVICE,
  MIN_SLICE_BYTES,
  TO_MASTER_CHAIN,
  applyScript,
  clearScript,
  confirmLinkPlan,
  leftoversOf,
  planLinkFault,
  resetScript,
  unsupportedLinkFault,
  type LinkCapabilities,
} from '../../src/orchestrator/docker';
import type { LinkFault } from '../../src/orchestrator/link-fault';

/** What the helper printed on this kernel (no netem) after each script, master 172.30.0.2. */
const fixture = (name: string): string =>
  readFileSync(join(__dirname, '..', 'fixtures', 'link-faults', `${name}.txt`), 'utf8');

const MASTER = '172.30.0.2';
const NO_NETEM: LinkCapabilities = { netem: false };
const NETEM: LinkCapabilities = { netem: true };

describe('unsupportedLinkFault', () => {
  const cases: [string, LinkFault, LinkCapabilities, RegExp | undefined][] = [
    ['delay without netem', { direction: 'both', shape: { delayMs: 300 } }, NO_NETEM, /^delay needs .*sch_netem/],
    ['jitter without netem', { direction: 'to-master', shape: { jitterMs: 5 } }, NO_NETEM, /^delay needs/],
    ['delay with netem', { direction: 'both', shape: { delayMs: 300, jitterMs: 50 } }, NETEM, undefined],
    [
      'correlated loss without netem',
      { direction: 'both', shape: { lossPercent: 20, lossCorrelationPercent: 25 } },
      NO_NETEM,
      /^correlated loss needs .*sch_netem/,
    ],
    ['plain loss without netem', { direction: 'both', shape: { lossPercent: 20 } }, NO_NETEM, undefined],
    ['bandwidth', { direction: 'both', shape: { rateBitsPerSecond: 16_000 } }, NO_NETEM, undefined],
    ['slice below 48 bytes', { direction: 'to-master', shape: { sliceBytes: 3 } }, NETEM, /TCP_MIN_SND_MSS/],
    ['slice of 48 bytes', { direction: 'to-master', shape: { sliceBytes: 48, sliceDelayMs: 5 } }, NO_NETEM, undefined],
    ['slice from the master', { direction: 'both', shape: { sliceBytes: 64 } }, NETEM, /^slice both: .*to-master/],
    ['one-way partition', { direction: 'from-master', shape: { drop: true } }, NO_NETEM, undefined],
    ['no mechanism at all', { direction: 'both', shape: { drop: true } }, { netem: true, unavailable: 'no' }, /^no$/],
  ];
  it.each(cases)('%s', (_name, fault, capabilities, expected) => {
    const why = unsupportedLinkFault(fault, capabilities);
    if (expected === undefined) expect(why).toBeUndefined();
    else {
      expect(why).toMatch(expected);
      expect(why).not.toContain('\n');
    }
  });
});

describe('planLinkFault', () => {
  it('shapes each direction the fault names, and only the slave side of a slice', () => {
    expect(planLinkFault({ direction: 'to-master', shape: { rateBitsPerSecond: 64_000 } }, MASTER, NO_NETEM)).toEqual({
      masterIp: MASTER,
      toMaster: { rateBitsPerSecond: 64_000, burstBytes: 1600, limitBytes: 4542 },
    });
    const slice = planLinkFault(
      { direction: 'to-master', shape: { sliceBytes: MIN_SLICE_BYTES, sliceDelayMs: 10 } },
      MASTER,
      NO_NETEM,
    );
    // A 48-byte slice is a 114-byte frame (IP, TCP with timestamps, Ethernet): one per 10 ms.
    expect(slice.routeMtu).toBe(100);
    expect(slice.toMaster?.rateBitsPerSecond).toBe(91_200);
    expect(slice.fromMaster).toBeUndefined();
  });

  it('gives loss to netem when the kernel has it, else to iptables', () => {
    const fault: LinkFault = { direction: 'from-master', shape: { lossPercent: 20, lossCorrelationPercent: 25 } };
    expect(planLinkFault(fault, MASTER, NETEM).fromMaster).toEqual({ netem: 'loss 20% 25%' });
    expect(planLinkFault({ ...fault, shape: { lossPercent: 20 } }, MASTER, NO_NETEM).fromMaster).toEqual({
      lossProbability: 0.2,
    });
  });
});

describe('scripts', () => {
  it('apply clears first, then sets the chains, the ifb redirect and the route', () => {
    const script = applyScript(
      planLinkFault({ direction: 'both', shape: { rateBitsPerSecond: 64_000, drop: true } }, MASTER, NO_NETEM),
    );
    const clear = script.indexOf(`$IPT -X ${FROM_MASTER_CHAIN}`);
    expect(clear).toBeGreaterThan(0);
    expect(script.indexOf(`$IPT -N ${TO_MASTER_CHAIN}`)).toBeGreaterThan(clear);
    expect(script).toContain(`action mirred egress redirect dev ${IFB_DEVICE}`);
    expect(script).toContain('tbf rate 64000bit burst 1600b limit 4542');
    expect(script).toContain(`$IPT -I INPUT 1 -s "$M" -j ${FROM_MASTER_CHAIN}`);
  });

  it('quote the master address and reset by destination port', () => {
    expect(clearScript("1.2.3.4'; reboot")).toContain(`M='1.2.3.4'\\''; reboot'`);
    expect(resetScript({ masterIp: MASTER, masterPort: 12345 })).toContain(
      'ss -K -t -n state established dst "$M" dport = :12345',
    );
  });
});

describe('confirmLinkPlan', () => {
  const rateLoss = planLinkFault(
    { direction: 'both', shape: { rateBitsPerSecond: 64_000, lossPercent: 30 } },
    MASTER,
    NO_NETEM,
  );
  const sliceDrop = planLinkFault(
    { direction: 'to-master', shape: { sliceBytes: 48, sliceDelayMs: 10, drop: true } },
    MASTER,
    NO_NETEM,
  );

  it('accepts what the kernel shows after applying, and describes it', () => {
    const confirmed = confirmLinkPlan(rateLoss, fixture('apply-rate-loss-both'));
    expect(confirmed).toEqual({
      ok: true,
      description:
        'to-master: rate 64000 bit/s (tbf); to-master: lose 30% (iptables statistic); ' +
        'from-master: rate 64000 bit/s (tbf); from-master: lose 30% (iptables statistic) (on eth0)',
    });
    expect(confirmLinkPlan(sliceDrop, fixture('apply-slice-drop-to-master'))).toMatchObject({
      ok: true,
      description: expect.stringMatching(/drop all \(iptables\).*segments of at most 48 bytes \(route mtu lock 100\)/),
    });
  });

  it('names what is missing when the state is not what was set', () => {
    expect(confirmLinkPlan(rateLoss, fixture('clear'))).toEqual({
      ok: false,
      missing: [
        "to-master: u32 filter on the master's address",
        'to-master: rate 64000 bit/s (tbf)',
        `to-master: OUTPUT jumps to ${TO_MASTER_CHAIN}`,
        'to-master: lose 30% (iptables statistic)',
        `from-master: ingress redirected to ${IFB_DEVICE}`,
        'from-master: rate 64000 bit/s (tbf)',
        `from-master: INPUT jumps to ${FROM_MASTER_CHAIN}`,
        'from-master: lose 30% (iptables statistic)',
      ],
    });
    // Another rate than the one asked for is not the fault that was asked for.
    const other = planLinkFault({ direction: 'to-master', shape: { rateBitsPerSecond: 16_000 } }, MASTER, NO_NETEM);
    expect(confirmLinkPlan(other, fixture('apply-rate-loss-both'))).toEqual({
      ok: false,
      missing: ['to-master: rate 16000 bit/s (tbf)'],
    });
  });

  it('finds leftovers after a clear, and none on a clean link', () => {
    expect(leftoversOf(fixture('clear'))).toEqual([]);
    expect(leftoversOf(fixture('apply-slice-drop-to-master'))).toEqual([
      'a qdisc on the interface',
      'an iptables chain of picluster',
      'the route with a locked mtu',
    ]);
  });
});
