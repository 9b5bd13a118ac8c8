import { spawnSync } from 'node:child_process';
import Docker from 'dockerode';

/** What {@link removeLabelled} removed, and what it could not. */
export interface RemovedResources {
  containers: number;
  networks: number;
  volumes: number;
  /** One line per resource that could not be listed or removed. */
  errors: string[];
}

/**
 * One step of a removal: false, with a line in `errors`, when it fails for
 * another reason than the resource being gone already.
 */
export async function attemptRemoval(errors: string[], what: string, action: () => Promise<unknown>): Promise<boolean> {
  try {
    await action();
    return true;
  } catch (err) {
    // Already gone (404), or being removed by Compose or Swarm at the same moment (409): nothing left to do.
    const status = (err as { statusCode?: number }).statusCode;
    if (status !== 404 && status !== 409) errors.push(`${what}: ${(err as Error).message}`);
    return false;
  }
}

/**
 * Removes every container (forced), network and volume that carries `label`
 * (`key=value`), once no container with it is left or `settleMs` passed,
 * whichever comes first. Never rejects; `errors` says what failed.
 */
export async function removeLabelled(docker: Docker, label: string, settleMs = 0): Promise<RemovedResources> {
  const filters = { label: [label] };
  const removed: RemovedResources = { containers: 0, networks: 0, volumes: 0, errors: [] };
  const attempt = (what: string, action: () => Promise<unknown>): Promise<boolean> =>
    attemptRemoval(removed.errors, what, action);

  // Swarm stops and removes a removed service's containers itself; removing them sooner would race with it.
  let containers: Docker.ContainerInfo[] = [];
  for (const deadline = Date.now() + settleMs; ;) {
    await attempt('list containers', async () => (containers = await docker.listContainers({ all: true, filters })));
    if (containers.length === 0 || Date.now() >= deadline) break;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  for (const info of containers) {
    if (
      await attempt(`remove container ${info.Id}`, () => docker.getContainer(info.Id).remove({ force: true, v: true }))
    ) {
      removed.containers += 1;
    }
  }
  let networks: Docker.NetworkInspectInfo[] = [];
  await attempt('list networks', async () => (networks = await docker.listNetworks({ filters })));
  for (const info of networks) {
    if (await attempt(`remove network ${info.Name}`, () => docker.getNetwork(info.Id).remove())) removed.networks += 1;
  }
  let volumes: Docker.VolumeInspectInfo[] = [];
  await attempt('list volumes', async () => (volumes = (await docker.listVolumes({ filters })).Volumes ?? []));
  for (const info of volumes) {
    if (await attempt(`remove volume ${info.Name}`, () => docker.getVolume(info.Name).remove())) removed.volumes += 1;
  }
  return removed;
}

/**
 * Removes the containers (forced) that carry `label`, then its networks or
 * its volumes, with the `docker` CLI, synchronously: the only kind of work a
 * process `exit` handler can still do.
 */
export function removeLabelledSync(label: string, then: 'network' | 'volume'): void {
  const filter = `label=${label}`;
  const ids = (args: string[]): string[] => {
    const result = spawnSync('docker', args, { encoding: 'utf8', timeout: 15_000 });
    return result.status === 0 ? result.stdout.split('\n').filter((id) => id !== '') : [];
  };
  const containers = ids(['ps', '--all', '--quiet', '--filter', filter]);
  if (containers.length > 0) spawnSync('docker', ['rm', '--force', ...containers], { timeout: 30_000 });
  const others = ids([then, 'ls', '--quiet', '--filter', filter]);
  const force = then === 'volume' ? ['--force'] : [];
  if (others.length > 0) spawnSync('docker', [then, 'rm', ...force, ...others], { timeout: 15_000 });
}
