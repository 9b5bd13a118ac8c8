import type Docker from 'dockerode';
import { DEFAULT_MASTER_PORT } from '../../protocol';
import { faultFailed } from '../backend';
import type { LinkFault } from '../link-fault';
import type { Scenario, ScenarioEvent } from '../types';
import { unsupportedLinkFault } from './link-fault-plan';
import { addressOn, ContainerLinkFaults } from './link-faults';

/**
 * Why the engine behind `docker` cannot carry out one of the scenario's
 * network events, in one line (the kernel lacks netem, the helper image is
 * missing…); undefined when it can, or when the scenario has none. Probes
 * the kernel only for a scenario with a network event.
 */
export async function linkRefusal(
  docker: Docker,
  scenario: Scenario,
): Promise<{ event: ScenarioEvent; why: string } | undefined> {
  const linked = scenario.events.filter((event) => event.link !== undefined);
  if (linked.length === 0) return undefined;
  let capabilities;
  try {
    capabilities = await new ContainerLinkFaults({ docker }).capabilities();
  } catch (err) {
    return { event: linked[0]!, why: (err as Error).message };
  }
  for (const event of linked) {
    const why = unsupportedLinkFault(event.link as LinkFault, capabilities);
    if (why !== undefined) return { event, why };
  }
  return undefined;
}

/**
 * The network faults of a container cluster's slaves: carries each one out
 * in the slave's network namespace, and keeps what is in effect, so that a
 * slave whose container starts again (a new namespace) or a master with a
 * new address gets it again.
 */
export class NodeLinks {
  private readonly faults: ContainerLinkFaults;
  /** The link fault in effect on each slave, by name, with the container it was set in. */
  private readonly active = new Map<string, LinkFault>();

  constructor(
    docker: Docker,
    /** The run's labels: cleanup by label removes a helper left behind. */
    labels: Record<string, string>,
    /** The network the slaves reach the master on. */
    private readonly network: () => string,
  ) {
    this.faults = new ContainerLinkFaults({ docker, labels });
  }

  /** Carries out a network action on `containerId` (`heal` clears, `reset` resets); resolves with what is in effect. */
  async carryOut(name: string, containerId: string, master: Docker.Container, event: ScenarioEvent): Promise<string> {
    const masterIp = await this.masterIp(master, event);
    const done = await this.faults.carryOut(
      { containerId, masterIp, masterPort: DEFAULT_MASTER_PORT },
      event.action,
      event.link,
    );
    if (event.action === 'heal') this.active.delete(name);
    else if (event.link !== undefined) this.active.set(name, event.link);
    return done;
  }

  /**
   * Sets again the faults in effect on `slaves` (a slave's container started
   * again: a new namespace; the master restarted, maybe at a new address).
   * Nothing to do for a slave with none.
   */
  async reapply(
    master: Docker.Container,
    event: ScenarioEvent,
    slaves: readonly { name: string; id: string }[],
  ): Promise<void> {
    for (const slave of slaves) {
      const active = this.active.get(slave.name);
      if (active === undefined) continue;
      const masterIp = await this.masterIp(master, event);
      await this.faults.apply({ containerId: slave.id, masterIp, masterPort: DEFAULT_MASTER_PORT }, active);
    }
  }

  private async masterIp(master: Docker.Container, event: ScenarioEvent): Promise<string> {
    const ip = addressOn(await master.inspect(), this.network());
    if (ip === undefined) throw faultFailed(event, `the master has no address on network ${this.network()}`);
    return ip;
  }
}
