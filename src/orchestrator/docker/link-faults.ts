/**
 * Network faults on a slave container with the kernel's own mechanisms (tc
 * qdiscs, an ifb device, iptables, a route with a locked MTU, sock_diag
 * destroy), set by a short-lived helper container that joins the slave's
 * network namespace (`NetworkMode: container:<id>`) with `NET_ADMIN`, so the
 * picluster image stays unprivileged. Only the slave's namespace is touched:
 * the master's container is restarted by `master-restart` and would lose
 * anything set in its own.
 */
import Docker from 'dockerode';
import { checkInteger } from '../../common';
import { RunError } from '../errors';
import type { LinkFault } from '../link-fault';
import {
  applyScript,
  clearScript,
  confirmLinkPlan,
  leftoversOf,
  planLinkFault,
  resetScript,
  unsupportedLinkFault,
  type LinkCapabilities,
  type LinkTarget,
} from './link-fault-plan';

/** The helper image when neither the options nor `PICLUSTER_NET_IMAGE` name one; built by scripts/build-images.sh. */
export const DEFAULT_NET_IMAGE = 'picluster-net:latest';

/** Longest one helper container may take, from create to removal, in ms. */
export const DEFAULT_NET_HELPER_TIMEOUT_MS = 30_000;

/** What {@link ContainerLinkFaults} takes. */
export interface LinkFaultsOptions {
  /** The Docker API client of the engine that runs the slaves. */
  docker: Docker;
  /** The helper image, in the engine's image store (nothing is pulled). Default: `PICLUSTER_NET_IMAGE`, else {@link DEFAULT_NET_IMAGE}. */
  image: string;
  /** Labels every helper container carries: the run's, so that cleanup by label removes a helper left behind. Default none. */
  labels: Record<string, string>;
  /** Longest one helper run may take, in ms (1000 to 300000). Default {@link DEFAULT_NET_HELPER_TIMEOUT_MS}. */
  helperTimeoutMs: number;
}

/** Fills in the defaults of {@link LinkFaultsOptions} and checks the ranges. */
export function resolveLinkFaultsOptions(options: Partial<LinkFaultsOptions> = {}): LinkFaultsOptions {
  return {
    docker: options.docker ?? new Docker(),
    image: options.image ?? (process.env.PICLUSTER_NET_IMAGE || DEFAULT_NET_IMAGE),
    labels: options.labels ?? {},
    helperTimeoutMs: checkInteger(
      'helperTimeoutMs',
      options.helperTimeoutMs ?? DEFAULT_NET_HELPER_TIMEOUT_MS,
      1000,
      300_000,
    ),
  };
}

/** What a helper printed and how it ended. */
interface HelperResult {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * The probe: can this kernel add a netem qdisc? Run in a namespace of its own
 * (`NetworkMode: none`), so it touches no node.
 */
const PROBE_SCRIPT = [
  'if tc qdisc add dev lo root netem delay 1ms 2>/tmp/err; then echo netem=1;',
  'else echo netem=0; cat /tmp/err >&2; fi',
].join(' ');

/**
 * The kernel's capabilities are the engine's, not a run's: one probe per
 * engine client and helper image, shared by a backend's refusal and its
 * clusters' first fault. A failed probe (no image yet, no engine) is not kept.
 */
const probes = new WeakMap<Docker, Map<string, Promise<LinkCapabilities>>>();

/**
 * Applies, confirms and clears {@link LinkFault}s on slave containers, and
 * resets their connections, each through one helper container. Every method
 * rejects with `PICLUSTER_ERR_FAULT_FAILED` when the helper fails or the
 * state it reads back is not what was set.
 */
export class ContainerLinkFaults {
  readonly options: LinkFaultsOptions;

  constructor(options: Partial<LinkFaultsOptions> = {}) {
    this.options = resolveLinkFaultsOptions(options);
  }

  /**
   * What this engine's kernel can do, found once per engine client and image
   * (later calls give the first answer): for {@link unsupportedLinkFault}.
   * Rejects with `PICLUSTER_ERR_IMAGE_MISSING` when the helper image is not there.
   */
  capabilities(): Promise<LinkCapabilities> {
    const { docker, image } = this.options;
    const byImage = probes.get(docker) ?? new Map<string, Promise<LinkCapabilities>>();
    probes.set(docker, byImage);
    let probed = byImage.get(image);
    if (probed === undefined) {
      probed = this.probe();
      byImage.set(image, probed);
      probed.catch(() => byImage.delete(image));
    }
    return probed;
  }

  /** Why `fault` cannot be carried out on this engine (one line), or undefined; probes first. */
  async refusal(fault: LinkFault): Promise<string | undefined> {
    return unsupportedLinkFault(fault, await this.capabilities());
  }

  /**
   * Clears what an earlier fault set on the slave, sets `fault`, reads the
   * state back and checks it is in effect. Resolves with what is in effect,
   * in one line (for the timeline).
   */
  async apply(target: LinkTarget, fault: LinkFault): Promise<string> {
    const capabilities = await this.capabilities();
    const why = unsupportedLinkFault(fault, capabilities);
    if (why !== undefined) throw new RunError('PICLUSTER_ERR_FAULT_FAILED', why);
    const plan = planLinkFault(fault, target.masterIp, capabilities);
    const result = await this.runChecked(target.containerId, applyScript(plan), 'apply');
    const confirmation = confirmLinkPlan(plan, result.stdout);
    if (!confirmation.ok) {
      throw new RunError(
        'PICLUSTER_ERR_FAULT_FAILED',
        `the network fault is not in effect after applying it: missing ${confirmation.missing.join(', ')}`,
      );
    }
    return confirmation.description;
  }

  /** Removes whatever a fault set on the slave (qdiscs, ifb device, chains, route), and checks it is gone. Idempotent. */
  async clear(target: Pick<LinkTarget, 'containerId' | 'masterIp'>): Promise<string> {
    const result = await this.runChecked(target.containerId, clearScript(target.masterIp), 'clear');
    const left = leftoversOf(result.stdout);
    if (left.length > 0) {
      throw new RunError('PICLUSTER_ERR_FAULT_FAILED', `still set after clearing the link: ${left.join(', ')}`);
    }
    return 'link clear: no qdisc, ifb device, picluster chain or locked route left';
  }

  /**
   * Aborts the slave's established TCP connections to the master: the slave
   * sees ECONNABORTED, the master a RST (ECONNRESET). Rejects when none was
   * reset (no connection, or a kernel without CONFIG_INET_DIAG_DESTROY, where
   * `ss -K` aborts nothing and says nothing).
   */
  async reset(target: LinkTarget): Promise<string> {
    const result = await this.runChecked(target.containerId, resetScript(target), 'reset');
    const aborted = result.stdout.split('\n').filter((line) => line.trim() !== '').length;
    if (aborted === 0) {
      throw new RunError(
        'PICLUSTER_ERR_FAULT_FAILED',
        `no connection to ${target.masterIp}:${target.masterPort} was reset: none was established, ` +
          `or the kernel cannot destroy sockets (CONFIG_INET_DIAG_DESTROY)`,
      );
    }
    return `reset ${aborted} connection${aborted === 1 ? '' : 's'} to ${target.masterIp}:${target.masterPort} (RST)`;
  }

  private async probe(): Promise<LinkCapabilities> {
    const result = await this.runHelper('none', PROBE_SCRIPT);
    const netem = /^netem=(\d)$/m.exec(result.stdout)?.[1];
    if (result.code !== 0 || netem === undefined) {
      throw new RunError(
        'PICLUSTER_ERR_BACKEND_UNAVAILABLE',
        `the network helper ${this.options.image} could not probe the kernel (exit ${result.code}): ${result.stderr.trim()}`,
      );
    }
    return { netem: netem === '1' };
  }

  private async runChecked(containerId: string, script: string, what: string): Promise<HelperResult> {
    const result = await this.runHelper(`container:${containerId}`, script);
    if (result.code !== 0) {
      const stderr = result.stderr.trim().split('\n').slice(-3).join(' | ');
      throw new RunError(
        'PICLUSTER_ERR_FAULT_FAILED',
        `the network helper could not ${what} the link (exit ${result.code}): ${stderr}`,
      );
    }
    return result;
  }

  /** Runs `script` in a helper container on network `mode`, to its end; the container is removed whatever happens. */
  private async runHelper(mode: string, script: string): Promise<HelperResult> {
    const { image, helperTimeoutMs } = this.options;
    const container = await this.create(mode, script);
    const timer = setTimeout(() => void container.kill().catch(() => undefined), helperTimeoutMs);
    try {
      await container.start();
      const { StatusCode } = (await container.wait()) as { StatusCode: number };
      const raw = (await container.logs({ stdout: true, stderr: true })) as unknown as Buffer;
      return { code: StatusCode, ...demux(raw) };
    } catch (err) {
      throw new RunError(
        'PICLUSTER_ERR_FAULT_FAILED',
        `the network helper (${image}) failed: ${(err as Error).message}`,
        { cause: err },
      );
    } finally {
      clearTimeout(timer);
      await container.remove({ force: true }).catch(() => undefined);
    }
  }

  private async create(mode: string, script: string): Promise<Docker.Container> {
    const { docker, image, labels } = this.options;
    try {
      return await docker.createContainer({
        Image: image,
        Cmd: [script],
        Labels: labels,
        HostConfig: {
          NetworkMode: mode,
          CapAdd: ['NET_ADMIN'],
          // Removed by runHelper once its output is read; AutoRemove would race with reading it.
          AutoRemove: false,
        },
      });
    } catch (err) {
      const missing = (err as { statusCode?: number }).statusCode === 404;
      throw new RunError(
        missing ? 'PICLUSTER_ERR_IMAGE_MISSING' : 'PICLUSTER_ERR_FAULT_FAILED',
        missing
          ? `the network helper image ${image} is not in the local image store (nothing is pulled); ` +
              `build it with \`OFFLINE_BASE=1 scripts/build-images.sh\`, or name another one with PICLUSTER_NET_IMAGE`
          : `cannot create the network helper container: ${(err as Error).message}`,
        { cause: err },
      );
    }
  }
}

/** A container's output as Docker gives it without a TTY (8-byte frame headers: stream, 0, 0, 0, size32be), split by stream. */
function demux(raw: Buffer): { stdout: string; stderr: string } {
  const parts: Record<number, Buffer[]> = { 1: [], 2: [] };
  for (let i = 0; i + 8 <= raw.length;) {
    const size = raw.readUInt32BE(i + 4);
    parts[raw[i] ?? 1]?.push(raw.subarray(i + 8, i + 8 + size));
    i += 8 + size;
  }
  return {
    stdout: Buffer.concat(parts[1] ?? []).toString('utf8'),
    stderr: Buffer.concat(parts[2] ?? []).toString('utf8'),
  };
}

/**
 * The address of `container` on `network`, as inspect reports it: for
 * {@link LinkTarget.masterIp}. Undefined when it is not on that network.
 */
export function addressOn(info: Docker.ContainerInspectInfo, network: string): string | undefined {
  const address = info.NetworkSettings.Networks[network]?.IPAddress;
  return address === undefined || address === '' ? undefined : address;
}

/**
 * Why a network action cannot be carried out on a slave whose container is
 * not on the engine the run talks to (a Swarm task on another node): the
 * helper must join the container's namespace, which only its own engine can
 * do. A reason for `firstRefusal`, which names the action and the target.
 */
export const REMOTE_CONTAINER_REFUSAL =
  "the network helper must join the slave container's namespace, and this slave's container runs on " +
  'another Swarm node, whose engine the run does not talk to';
