import type Docker from 'dockerode';
import { DEFAULT_MASTER_PORT } from '../../protocol';
import { faultFailed } from '../backend';
import type { LinkFault } from '../link-fault';
import type { Scenario, ScenarioEvent } from '../types';
import { unsupportedLinkFault, type LinkTarget } from './link-fault-plan';
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

/** A slave's container, as the cluster knows it: its scenario name and container id. */
export interface LinkedSlave {
  name: string;
  id: string;
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

  /** Sets the event's link fault on `slave`, in place of any other, and checks it is in effect. */
  async apply(slave: LinkedSlave, master: Docker.Container, event: ScenarioEvent): Promise<void> {
    const fault = event.link;
    if (fault === undefined) throw faultFailed(event, `${event.action} carries no link fault to apply`);
    await this.faults.apply(await this.target(slave, master, event), fault);
    this.active.set(slave.name, fault);
  }

  /** `heal`: removes whatever fault is set on `slave`'s link. */
  async clear(slave: LinkedSlave, master: Docker.Container, event: ScenarioEvent): Promise<void> {
    await this.faults.clear(await this.target(slave, master, event));
    this.active.delete(slave.name);
  }

  /** `reset`: aborts `slave`'s connections to the master; a fault in effect stays. */
  async reset(slave: LinkedSlave, master: Docker.Container, event: ScenarioEvent): Promise<void> {
    await this.faults.reset(await this.target(slave, master, event));
  }

  /**
   * Sets again the faults in effect on `slaves` (a slave's container started
   * again: a new namespace; the master restarted, maybe at a new address).
   * Nothing to do for a slave with none.
   */
  async reapply(master: Docker.Container, event: ScenarioEvent, slaves: readonly LinkedSlave[]): Promise<void> {
    for (const slave of slaves) {
      const active = this.active.get(slave.name);
      if (active === undefined) continue;
      await this.faults.apply(await this.target(slave, master, event), active);
    }
  }

  private async target(slave: LinkedSlave, master: Docker.Container, event: ScenarioEvent): Promise<LinkTarget> {
    const masterIp = addressOn(await master.inspect(), this.network());
    if (masterIp === undefined) throw faultFailed(event, `the master has no address on network ${this.network()}`);
    return { containerId: slave.id, masterIp, masterPort: DEFAULT_MASTER_PORT };
  }
}
