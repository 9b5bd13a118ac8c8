/**
 * How the container backends carry out a {@link LinkFault} with the kernel's
 * own mechanisms, in a slave container's network namespace: which faults this
 * kernel can do ({@link unsupportedLinkFault}), the shell script the helper
 * image runs to apply and clear them, and the check that what it set is in
 * effect ({@link confirmLinkPlan}).
 *
 * Pure: no I/O. `link-faults.ts` runs the scripts.
 *
 * Mechanisms, per direction of the slave's link to the master:
 * - to-master: egress of the slave's interface toward the master's address —
 *   an htb class that a u32 filter on the destination sends the master's
 *   packets to, tbf under it (rate, and the pace of slices: it also cuts the
 *   kernel's large TCP segments, GSO, into frames), sch_netem under that
 *   (delay, jitter, loss with correlation) when the kernel has it, iptables
 *   in chain {@link TO_MASTER_CHAIN} (`OUTPUT -d master`: drop, random loss),
 *   and a host route with `mtu lock` (slices);
 * - from-master: the interface's ingress, redirected (mirred) to the ifb
 *   device {@link IFB_DEVICE}, whose egress gets the same qdiscs; iptables
 *   in chain {@link FROM_MASTER_CHAIN} (`INPUT -s master`).
 */
import type { LinkFault, LinkShape } from '../link-fault';

/** iptables chain of the to-master direction, jumped to from `OUTPUT -d <master>`. */
export const TO_MASTER_CHAIN = 'PICLUSTER-TO-MASTER';
/** iptables chain of the from-master direction, jumped to from `INPUT -s <master>`. */
export const FROM_MASTER_CHAIN = 'PICLUSTER-FROM-MASTER';
/** The ifb device that carries the slave's ingress from the master through a shaping qdisc. */
export const IFB_DEVICE = 'ifb-picluster';

/**
 * Linux's smallest TCP segment payload (`TCP_MIN_SND_MSS`): a locked route
 * MTU cannot make segments smaller.
 */
export const MIN_SLICE_BYTES = 48;

/** IPv4 and TCP headers with the timestamp option, which Linux sends on every segment (20 + 20 + 12 bytes). */
const SEGMENT_HEADER_BYTES = 52;
/** A segment's Ethernet header, which qdiscs count. */
const ETHERNET_HEADER_BYTES = 14;
/** Bucket of a plain rate limit: a full-size frame at least, else 10 ms of the rate. */
const MIN_BURST_BYTES = 1600;
/** What tc's rounding of a bucket may take off, and an ACK's room beside a slice. */
const SLICE_BURST_SLACK_BYTES = 32;
/** The pace of slices with no delay between them: as fast as the link, one slice per frame. */
const UNPACED_SLICE_RATE = 1_000_000_000;
/** A rate-limited queue holds this much of the rate, or {@link MIN_QUEUE_BYTES}: deeper queues only add delay (and TCP retransmission timeouts). */
const QUEUE_SECONDS = 0.25;
/** The shortest queue of a rate limit: three full-size frames. */
const MIN_QUEUE_BYTES = 4542;

/** What the kernel under the container backends can do, found once per run by `probeLinkCapabilities`. */
export interface LinkCapabilities {
  /** Whether `tc qdisc add … netem` works (CONFIG_NET_SCH_NETEM): delay, jitter, correlated loss. */
  netem: boolean;
  /**
   * Why no link fault can be carried out here at all (e.g. Swarm with the
   * target's container on another node); unset: they can.
   */
  unavailable?: string;
}

/** The slave's link as the helper sees it from inside the slave's namespace. */
export interface LinkTarget {
  /** The slave container whose network namespace the helper joins. */
  containerId: string;
  /** The master's IPv4 address as the slave reaches it. */
  masterIp: string;
  /** The master's TCP port (for `reset`). */
  masterPort: number;
}

/** What one direction gets. */
export interface DirectionPlan {
  /** tbf rate in bits/s (bandwidth, or the pace of slices). */
  rateBitsPerSecond?: number;
  /** tbf bucket, bytes; also the largest frame it sends whole (it cuts larger TCP segments, GSO, into frames). */
  burstBytes?: number;
  /** tbf queue, bytes: what arrives beyond it is dropped. */
  limitBytes?: number;
  /** sch_netem arguments (`delay 300ms 50ms loss 20% 25%`), when the kernel has netem. */
  netem?: string;
  /** iptables random drop, 0–1 (no netem). */
  lossProbability?: number;
  /** iptables drop of everything: a one-way partition. */
  drop?: boolean;
}

/** Everything a fault sets in the slave's namespace. */
export interface LinkPlan {
  masterIp: string;
  toMaster?: DirectionPlan;
  fromMaster?: DirectionPlan;
  /** `mtu lock` of the host route to the master: slices the slave's segments. */
  routeMtu?: number;
}

/** The parameters each kernel mechanism needs, and why it can't be done without. Checked in this order. */
const REFUSALS: readonly ((fault: LinkFault, caps: LinkCapabilities) => string | undefined)[] = [
  (_fault, caps) => caps.unavailable,
  (fault, caps) =>
    !caps.netem && ((fault.shape.delayMs ?? 0) > 0 || (fault.shape.jitterMs ?? 0) > 0)
      ? `delay needs the kernel's sch_netem (CONFIG_NET_SCH_NETEM), which this kernel lacks`
      : undefined,
  (fault, caps) =>
    !caps.netem && fault.shape.lossCorrelationPercent !== undefined
      ? `correlated loss needs the kernel's sch_netem (CONFIG_NET_SCH_NETEM), which this kernel lacks ` +
        `(iptables drops each segment independently)`
      : undefined,
  (fault) =>
    fault.shape.sliceBytes !== undefined && fault.shape.sliceBytes < MIN_SLICE_BYTES
      ? `slice of ${fault.shape.sliceBytes} bytes: Linux sends TCP segments of no fewer than ` +
        `${MIN_SLICE_BYTES} bytes (TCP_MIN_SND_MSS); the container backends slice at ${MIN_SLICE_BYTES} bytes or more`
      : undefined,
  (fault) =>
    (fault.shape.sliceBytes !== undefined || fault.shape.sliceDelayMs !== undefined) && fault.direction !== 'to-master'
      ? `slice ${fault.direction}: the container backends cut only what the slave sends (direction to-master); ` +
        `the master's segment size is fixed when its connection opens`
      : undefined,
];

/**
 * Why this kernel (or backend) cannot carry out `fault`, in one line; undefined
 * when it can. For refusing a scenario before its run starts.
 */
export function unsupportedLinkFault(fault: LinkFault, capabilities: LinkCapabilities): string | undefined {
  for (const refusal of REFUSALS) {
    const why = refusal(fault, capabilities);
    if (why !== undefined) return why;
  }
  return undefined;
}

/** The on-wire size of one sliced segment, bytes: what a qdisc counts. */
function sliceFrameBytes(sliceBytes: number): number {
  return sliceBytes + SEGMENT_HEADER_BYTES + ETHERNET_HEADER_BYTES;
}

function netemArguments(shape: LinkShape, caps: LinkCapabilities): string | undefined {
  if (!caps.netem) return undefined;
  const parts: string[] = [];
  if ((shape.delayMs ?? 0) > 0 || (shape.jitterMs ?? 0) > 0) {
    parts.push(`delay ${shape.delayMs ?? 0}ms`);
    if ((shape.jitterMs ?? 0) > 0) parts.push(`${shape.jitterMs}ms`);
  }
  if ((shape.lossPercent ?? 0) > 0) {
    parts.push(`loss ${shape.lossPercent}%`);
    if (shape.lossCorrelationPercent !== undefined) parts.push(`${shape.lossCorrelationPercent}%`);
  }
  return parts.length === 0 ? undefined : parts.join(' ');
}

function directionPlan(shape: LinkShape, caps: LinkCapabilities, sliced: boolean): DirectionPlan | undefined {
  const plan: DirectionPlan = {};
  const rates: number[] = [];
  if (shape.rateBitsPerSecond !== undefined) rates.push(shape.rateBitsPerSecond);
  if (sliced && shape.sliceBytes !== undefined) {
    // The bucket holds one sliced frame (tc rounds it down a little): the kernel's TCP builds segments of
    // many slices (GSO), which tbf cuts into single slices, each sent once the rate refilled the bucket.
    const frame = sliceFrameBytes(Math.max(shape.sliceBytes, MIN_SLICE_BYTES));
    const delayMs = shape.sliceDelayMs ?? 0;
    rates.push(delayMs > 0 ? Math.max(8, Math.round((frame * 8 * 1000) / delayMs)) : UNPACED_SLICE_RATE);
    plan.burstBytes = frame + SLICE_BURST_SLACK_BYTES;
  }
  if (rates.length > 0) {
    plan.rateBitsPerSecond = Math.min(...rates);
    plan.burstBytes ??= Math.max(MIN_BURST_BYTES, Math.round(plan.rateBitsPerSecond / 8 / 100));
    plan.limitBytes = Math.max(MIN_QUEUE_BYTES, Math.round((plan.rateBitsPerSecond / 8) * QUEUE_SECONDS));
  }
  const netem = netemArguments(shape, caps);
  if (netem !== undefined) plan.netem = netem;
  else if ((shape.lossPercent ?? 0) > 0) plan.lossProbability = (shape.lossPercent ?? 0) / 100;
  if (shape.drop === true) plan.drop = true;
  return Object.keys(plan).length === 0 ? undefined : plan;
}

/** What `fault` sets in the slave's namespace; call only when {@link unsupportedLinkFault} found nothing. */
export function planLinkFault(fault: LinkFault, masterIp: string, caps: LinkCapabilities): LinkPlan {
  const plan: LinkPlan = { masterIp };
  const toMaster = fault.direction === 'from-master' ? undefined : directionPlan(fault.shape, caps, true);
  const fromMaster = fault.direction === 'to-master' ? undefined : directionPlan(fault.shape, caps, false);
  if (toMaster !== undefined) plan.toMaster = toMaster;
  if (fromMaster !== undefined) plan.fromMaster = fromMaster;
  const { sliceBytes } = fault.shape;
  if (sliceBytes !== undefined && fault.direction === 'to-master') {
    plan.routeMtu = Math.max(sliceBytes, MIN_SLICE_BYTES) + SEGMENT_HEADER_BYTES;
  }
  return plan;
}

/** A quoted word for `sh`. */
function quote(word: string): string {
  return `'${word.replace(/'/g, `'\\''`)}'`;
}

/**
 * The prologue of every script: strict, the master's address, the interface
 * and gateway toward it, and an iptables that works on this kernel (nft, else legacy).
 */
function prologue(masterIp: string): string[] {
  return [
    'set -eu',
    `M=${quote(masterIp)}`,
    `ROUTE=$(ip -o route get "$M")`,
    `DEV=$(echo "$ROUTE" | awk '{ for (i = 1; i < NF; i++) if ($i == "dev") { print $(i + 1); exit } }')`,
    `VIA=$(echo "$ROUTE" | awk '{ for (i = 1; i < NF; i++) if ($i == "via") { print "via " $(i + 1); exit } }')`,
    `[ -n "$DEV" ] || { echo "no route to $M" >&2; exit 3; }`,
    'IPT=iptables',
    '$IPT -S OUTPUT >/dev/null 2>&1 || IPT=iptables-legacy',
  ];
}

/** Removes everything a plan may have set; each step succeeds when there is nothing to remove. */
function clearLines(): string[] {
  const chains = [
    ['OUTPUT', TO_MASTER_CHAIN],
    ['INPUT', FROM_MASTER_CHAIN],
  ] as const;
  return [
    'tc qdisc del dev "$DEV" root 2>/dev/null || true',
    'tc qdisc del dev "$DEV" ingress 2>/dev/null || true',
    `ip link del ${IFB_DEVICE} 2>/dev/null || true`,
    'ip route del "$M/32" 2>/dev/null || true',
    ...chains.flatMap(([builtin, chain]) => [
      // The jump's own address may be an earlier master's: every jump to the chain goes.
      `$IPT -S ${builtin} | grep -e '-j ${chain}$' | sed 's/^-A /-D /' | while read -r rule; do $IPT $rule; done`,
      `$IPT -F ${chain} 2>/dev/null || true`,
      `$IPT -X ${chain} 2>/dev/null || true`,
    ]),
  ];
}

/**
 * htb on `dev` with one class, 1:2, for the master's packets (`match`; undefined:
 * all of them), unshaped itself: tbf under it shapes them (rate), and netem
 * under that (delay, loss) when the kernel has it.
 */
function shapingLines(dev: string, plan: DirectionPlan, match: string | undefined): string[] {
  if (plan.rateBitsPerSecond === undefined && plan.netem === undefined) return [];
  const lines = [
    // htb's default class 0 passes unclassified packets unshaped; only the master's are classified.
    `tc qdisc add dev ${dev} root handle 1: htb${match === undefined ? ' default 2' : ''}`,
    // quantum: htb's default (rate / r2q) is out of range at high rates and only matters for borrowing, which this class never does.
    `tc class add dev ${dev} parent 1: classid 1:2 htb rate 10gbit ceil 10gbit quantum 1514`,
    ...(match === undefined ? [] : [`tc filter add dev ${dev} parent 1: protocol ip prio 1 u32 ${match} flowid 1:2`]),
  ];
  let parent = '1:2';
  if (plan.rateBitsPerSecond !== undefined) {
    lines.push(
      `tc qdisc add dev ${dev} parent 1:2 handle 30: tbf rate ${plan.rateBitsPerSecond}bit ` +
        `burst ${plan.burstBytes ?? MIN_BURST_BYTES}b limit ${plan.limitBytes ?? MIN_QUEUE_BYTES}`,
    );
    parent = '30:1';
  }
  if (plan.netem !== undefined) lines.push(`tc qdisc add dev ${dev} parent ${parent} handle 20: netem ${plan.netem}`);
  return lines;
}

function filterLines(builtin: string, chain: string, address: string, plan: DirectionPlan): string[] {
  if (plan.drop !== true && plan.lossProbability === undefined) return [];
  const rule =
    plan.drop === true ? '-j DROP' : `-m statistic --mode random --probability ${plan.lossProbability} -j DROP`;
  return [`$IPT -N ${chain}`, `$IPT -A ${chain} ${rule}`, `$IPT -I ${builtin} 1 ${address} "$M" -j ${chain}`];
}

/** What the helper prints after applying or clearing, for {@link confirmLinkPlan}: sections headed `--- name`. */
function showLines(): string[] {
  return [
    'echo "--- dev"',
    'echo "$DEV"',
    'echo "--- tc-egress"',
    'tc qdisc show dev "$DEV"',
    'tc class show dev "$DEV"',
    'tc filter show dev "$DEV"',
    'tc filter show dev "$DEV" ingress',
    'echo "--- tc-ifb"',
    `tc qdisc show dev ${IFB_DEVICE} 2>/dev/null || true`,
    `tc class show dev ${IFB_DEVICE} 2>/dev/null || true`,
    'echo "--- iptables"',
    '$IPT -S OUTPUT',
    '$IPT -S INPUT',
    `$IPT -S ${TO_MASTER_CHAIN} 2>/dev/null || true`,
    `$IPT -S ${FROM_MASTER_CHAIN} 2>/dev/null || true`,
    'echo "--- route"',
    'ip route show "$M/32"',
  ];
}

/** The script that clears what an earlier fault set, applies `plan`, and shows the result. */
export function applyScript(plan: LinkPlan): string {
  const lines = [...prologue(plan.masterIp), ...clearLines()];
  const { toMaster, fromMaster } = plan;
  if (toMaster !== undefined) {
    lines.push(...shapingLines('"$DEV"', toMaster, 'match ip dst "$M/32"'));
    lines.push(...filterLines('OUTPUT', TO_MASTER_CHAIN, '-d', toMaster));
  }
  if (fromMaster !== undefined) {
    if (fromMaster.rateBitsPerSecond !== undefined || fromMaster.netem !== undefined) {
      lines.push(
        `ip link add ${IFB_DEVICE} type ifb`,
        `ip link set ${IFB_DEVICE} up`,
        'tc qdisc add dev "$DEV" handle ffff: ingress',
        `tc filter add dev "$DEV" parent ffff: protocol ip prio 1 u32 match ip src "$M/32" ` +
          `action mirred egress redirect dev ${IFB_DEVICE}`,
        ...shapingLines(IFB_DEVICE, fromMaster, undefined),
      );
    }
    lines.push(...filterLines('INPUT', FROM_MASTER_CHAIN, '-s', fromMaster));
  }
  if (plan.routeMtu !== undefined) lines.push(`ip route replace "$M/32" $VIA dev "$DEV" mtu lock ${plan.routeMtu}`);
  lines.push(...showLines());
  return lines.join('\n');
}

/** The script that removes whatever a fault set (heal); idempotent. */
export function clearScript(masterIp: string): string {
  return [...prologue(masterIp), ...clearLines(), ...showLines()].join('\n');
}

/**
 * The script that aborts the slave's TCP connections to the master: the
 * kernel sends the master a RST (sock_diag destroy, `ss -K`). Prints one line
 * per connection it aborted, after the header.
 */
export function resetScript(target: Pick<LinkTarget, 'masterIp' | 'masterPort'>): string {
  return [
    ...prologue(target.masterIp),
    `ss -K -t -n state established dst "$M" dport = :${target.masterPort} | tail -n +2`,
  ].join('\n');
}

/** The helper's output split into its `--- name` sections. */
function sectionsOf(output: string): Map<string, string> {
  const sections = new Map<string, string>();
  let name = '';
  for (const line of output.split('\n')) {
    const header = /^--- (\S+)$/.exec(line);
    if (header?.[1] !== undefined) name = header[1];
    else sections.set(name, `${sections.get(name) ?? ''}${line}\n`);
  }
  return sections;
}

const RATE_UNITS: Record<string, number> = { '': 1, K: 1e3, M: 1e6, G: 1e9 };

/** The rate of tbf 30: in `text` (`qdisc tbf 30: parent 1:2 rate 64Kbit burst …`), bits/s. */
function tbfRate(text: string): number | undefined {
  const match = /qdisc tbf 30: .*?\brate (\d+(?:\.\d+)?)([KMG]?)bit/.exec(text);
  return match?.[1] === undefined ? undefined : Number(match[1]) * (RATE_UNITS[match[2] ?? ''] ?? 1);
}

/** An address as u32 shows it: `c0a80002`. */
function hexAddress(ip: string): string {
  return ip
    .split('.')
    .map((octet) => Number(octet).toString(16).padStart(2, '0'))
    .join('');
}

/** One thing a plan sets: how it shows in the helper's output, and how it reads in a description. */
interface Expectation {
  what: string;
  holds: (sections: Map<string, string>) => boolean;
}

function rateExpectation(where: string, section: string, rate: number): Expectation {
  return {
    what: rate === UNPACED_SLICE_RATE ? `${where}: one slice per frame (tbf)` : `${where}: rate ${rate} bit/s (tbf)`,
    // tc prints rates rounded to its own units.
    holds: (sections) => Math.abs((tbfRate(sections.get(section) ?? '') ?? -1) - rate) <= rate * 0.02 + 1,
  };
}

function filterExpectations(
  where: string,
  builtin: string,
  chain: string,
  rule: string,
  plan: DirectionPlan,
): Expectation[] {
  if (plan.drop !== true && plan.lossProbability === undefined) return [];
  const has = (pattern: RegExp) => (sections: Map<string, string>) => pattern.test(sections.get('iptables') ?? '');
  const jump = new RegExp(`^-A ${builtin} ${rule} \\S+ -j ${chain}$`, 'm');
  const drops: Expectation[] = [];
  if (plan.drop === true)
    drops.push({ what: `${where}: drop all (iptables)`, holds: has(new RegExp(`^-A ${chain} -j DROP$`, 'm')) });
  const p = plan.lossProbability;
  if (p !== undefined) {
    drops.push({
      what: `${where}: lose ${Math.round(p * 1000) / 10}% (iptables statistic)`,
      holds: (sections) => {
        const match = new RegExp(`^-A ${chain} -m statistic --mode random --probability ([\\d.]+) -j DROP$`, 'm').exec(
          sections.get('iptables') ?? '',
        );
        return match?.[1] !== undefined && Math.abs(Number(match[1]) - p) < 1e-6;
      },
    });
  }
  return [{ what: `${where}: ${builtin} jumps to ${chain}`, holds: has(jump) }, ...drops];
}

function directionExpectations(plan: LinkPlan, hex: string): Expectation[] {
  const out: Expectation[] = [];
  const { toMaster, fromMaster } = plan;
  const egress = (pattern: RegExp) => (sections: Map<string, string>) => pattern.test(sections.get('tc-egress') ?? '');
  const ifb = (pattern: RegExp) => (sections: Map<string, string>) => pattern.test(sections.get('tc-ifb') ?? '');
  if (toMaster?.rateBitsPerSecond !== undefined || toMaster?.netem !== undefined) {
    out.push({
      what: "to-master: u32 filter on the master's address",
      holds: egress(new RegExp(`match ${hex}/ffffffff at 16`)),
    });
  }
  if (toMaster?.rateBitsPerSecond !== undefined)
    out.push(rateExpectation('to-master', 'tc-egress', toMaster.rateBitsPerSecond));
  if (toMaster?.netem !== undefined)
    out.push({ what: `to-master: netem ${toMaster.netem}`, holds: egress(/qdisc netem 20:/) });
  if (toMaster !== undefined) out.push(...filterExpectations('to-master', 'OUTPUT', TO_MASTER_CHAIN, '-d', toMaster));
  if (fromMaster?.rateBitsPerSecond !== undefined || fromMaster?.netem !== undefined) {
    out.push({
      what: `from-master: ingress redirected to ${IFB_DEVICE}`,
      holds: egress(
        new RegExp(`match ${hex}/ffffffff at 12[\\s\\S]*mirred \\(Egress Redirect to device ${IFB_DEVICE}\\)`),
      ),
    });
  }
  if (fromMaster?.rateBitsPerSecond !== undefined)
    out.push(rateExpectation('from-master', 'tc-ifb', fromMaster.rateBitsPerSecond));
  if (fromMaster?.netem !== undefined)
    out.push({ what: `from-master: netem ${fromMaster.netem}`, holds: ifb(/qdisc netem 20:/) });
  if (fromMaster !== undefined)
    out.push(...filterExpectations('from-master', 'INPUT', FROM_MASTER_CHAIN, '-s', fromMaster));
  return out;
}

function expectationsOf(plan: LinkPlan): Expectation[] {
  const out = directionExpectations(plan, hexAddress(plan.masterIp));
  const mtu = plan.routeMtu;
  if (mtu !== undefined) {
    out.push({
      what: `to-master: segments of at most ${mtu - SEGMENT_HEADER_BYTES} bytes (route mtu lock ${mtu})`,
      holds: (sections) => new RegExp(`\\bmtu lock ${mtu}\\b`).test(sections.get('route') ?? ''),
    });
  }
  return out;
}

/** Whether the helper's output shows `plan` in effect: what it says, or what is missing. */
export type LinkConfirmation = { ok: true; description: string } | { ok: false; missing: string[] };

/**
 * Reads the state the helper printed after applying `plan` (`tc qdisc/class/filter
 * show`, `iptables -S`, `ip route show`) and checks that every part of the plan
 * is in effect. The description names each part, for the run's timeline.
 */
export function confirmLinkPlan(plan: LinkPlan, output: string): LinkConfirmation {
  const sections = sectionsOf(output);
  const expectations = expectationsOf(plan);
  const missing = expectations.filter((expectation) => !expectation.holds(sections)).map((e) => e.what);
  if (missing.length > 0) return { ok: false, missing };
  const dev = (sections.get('dev') ?? '').trim();
  const parts = expectations.map((e) => e.what).filter((what) => !/jumps to|u32 filter|redirected/.test(what));
  return { ok: true, description: `${parts.join('; ') || 'nothing to set'} (on ${dev || 'the slave'})` };
}

/** What {@link clearScript}'s output shows is still set: empty when the link is clean. */
export function leftoversOf(output: string): string[] {
  const sections = sectionsOf(output);
  const left: string[] = [];
  if (/qdisc (htb|netem|tbf|ingress)/.test(sections.get('tc-egress') ?? '')) left.push('a qdisc on the interface');
  if (/qdisc/.test(sections.get('tc-ifb') ?? '')) left.push(`the device ${IFB_DEVICE}`);
  if (/PICLUSTER-/.test(sections.get('iptables') ?? '')) left.push('an iptables chain of picluster');
  if (/mtu lock/.test(sections.get('route') ?? '')) left.push('the route with a locked mtu');
  return left;
}
