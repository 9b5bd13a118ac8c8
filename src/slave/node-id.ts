import { promises as dns } from 'node:dns';
import { hostname, networkInterfaces } from 'node:os';

/** How a slave finds its node id when none is given. */
export type NodeIdSource = 'hostname' | 'reverse-dns';
export const NODE_ID_SOURCES: readonly NodeIdSource[] = ['hostname', 'reverse-dns'];

/**
 * The first label of the name that reverse DNS gives this host's first
 * non-loopback address. In a Compose project, Docker's DNS answers with the
 * container name (`picluster-slave-3.picluster_default`), which is stable per
 * replica slot, unlike the container's host name (a random id).
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
      const label = (await dns.resolvePtr(arpa))[0]?.split('.')[0];
      if (label) return label;
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
