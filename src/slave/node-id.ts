import { promises as dns } from 'node:dns';
import { hostname, networkInterfaces } from 'node:os';

/** How a slave finds its node id when none is given. */
export type NodeIdSource = 'hostname' | 'reverse-dns';
export const NODE_ID_SOURCES: readonly NodeIdSource[] = ['hostname', 'reverse-dns'];

/** A Swarm task id: 25 lower-case letters and digits. */
const SWARM_TASK_ID = /^[a-z0-9]{25}$/;

/**
 * The node id a reverse-DNS name stands for. Compose: the container name, its
 * first label (`picluster-slave-3.picluster_default` -> `picluster-slave-3`).
 * Swarm: `<service>.<slot>.<task id>.<network>` (`<service>.<node id>.…` for
 * a global service) -> `<service>-<slot>`, since every task of a service
 * shares the first label; a task that replaces another keeps the slot.
 */
export function nodeIdFromPtrName(name: string): string | undefined {
  const [first, second, third] = name.split('.');
  if (!first) return undefined;
  return second !== undefined && third !== undefined && SWARM_TASK_ID.test(third) ? `${first}-${second}` : first;
}

/**
 * The node id reverse DNS gives this host's first non-loopback address (see
 * {@link nodeIdFromPtrName}): stable per replica slot, unlike the container's
 * host name (a random id).
 */
export async function nodeIdFromReverseDns(attempts = 10, delayMs = 200): Promise<string | undefined> {
  const address = Object.values(networkInterfaces())
    .flat()
    .find((info) => info !== undefined && !info.internal && info.family === 'IPv4')?.address;
  if (address === undefined) return undefined;
  for (let attempt = 1; attempt <= attempts; attempt++) {
    try {
      // resolvePtr, not reverse(): c-ares' reverse() returns nothing from Docker's DNS.
      const arpa = address.split('.').reverse().join('.') + '.in-addr.arpa';
      const name = (await dns.resolvePtr(arpa))[0];
      const node = name === undefined ? undefined : nodeIdFromPtrName(name);
      if (node) return node;
    } catch {
      // The name may not be registered yet right after the container starts.
    }
    await new Promise((resolve) => setTimeout(resolve, delayMs));
  }
  return undefined;
}

export async function resolveNodeId(source: NodeIdSource): Promise<{ node: string; source: NodeIdSource }> {
  if (source === 'reverse-dns') {
    const node = await nodeIdFromReverseDns();
    if (node !== undefined) return { node, source };
  }
  return { node: hostname(), source: 'hostname' };
}
