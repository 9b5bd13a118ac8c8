import { spawnSync } from 'node:child_process';
import { dirname } from 'node:path';
import Docker from 'dockerode';
import { DockerCli, attemptRemoval, removeLabelled, removeLabelledSync, type RemovedResources } from '../docker';

/** The label `docker stack deploy` puts on every service, container, network and volume of a stack. */
export const STACK_NAMESPACE_LABEL = 'com.docker.stack.namespace';

/**
 * One Swarm stack (`docker stack deploy|rm <stack>`) and the environment its
 * Compose files are interpolated with. Commands in flight can be aborted.
 */
export class SwarmStack {
  private readonly cli: DockerCli;

  constructor(
    readonly stack: string,
    /** The Compose file; commands run in its directory. */
    readonly file: string,
    env: Record<string, string>,
  ) {
    this.cli = new DockerCli(['stack'], dirname(file), env);
  }

  /**
   * `docker stack deploy` of `stackFile` (the text of a Compose file, given
   * on stdin; relative paths in it are taken from the Compose file's
   * directory), referring to images as they are: nothing is resolved against
   * a registry.
   */
  deploy(stackFile: string, timeoutMs: number): Promise<string> {
    const args = ['deploy', '--resolve-image', 'never', '--detach=true', '--compose-file', '-', this.stack];
    return this.cli.run(args, timeoutMs, stackFile);
  }

  /** `docker stack rm`: Swarm removes the services, their tasks and the stack's networks, in the background. */
  remove(timeoutMs: number): Promise<string> {
    return this.cli.run(['rm', this.stack], timeoutMs);
  }

  /** Stops every command of this stack still running; resolves once they have exited. */
  abort(): Promise<void> {
    return this.cli.abort();
  }

  /** For a process `exit` handler: kills commands in flight, `docker stack rm`, removes what is left by label. */
  removeSync(): void {
    this.cli.killAllSync();
    spawnSync('docker', ['stack', 'rm', this.stack], { stdio: 'ignore', timeout: 30_000 });
    removeLabelledSync(`${STACK_NAMESPACE_LABEL}=${this.stack}`, 'volume');
  }
}

/** What {@link removeStackResources} found left, and what it could not remove. */
export interface RemovedStackResources extends RemovedResources {
  services: number;
}

/**
 * Removes whatever of `stack` is left after `docker stack rm`: its services,
 * then, once Swarm has removed their tasks (within `settleMs`), every container
 * (forced), network and volume with the stack's label — `docker stack rm`
 * keeps volumes. Never rejects; `errors` says what failed.
 */
export async function removeStackResources(
  stack: string,
  docker: Docker = new Docker(),
  settleMs = 30_000,
): Promise<RemovedStackResources> {
  const label = `${STACK_NAMESPACE_LABEL}=${stack}`;
  const errors: string[] = [];
  let services: Array<{ ID: string }> = [];
  await attemptRemoval(errors, 'list services', async () => {
    services = await docker.listServices({ filters: { label: [label] } });
  });
  let removedServices = 0;
  for (const service of services) {
    if (await attemptRemoval(errors, `remove service ${service.ID}`, () => docker.getService(service.ID).remove())) {
      removedServices += 1;
    }
  }
  const rest = await removeLabelled(docker, label, settleMs);
  return { ...rest, services: removedServices, errors: [...errors, ...rest.errors] };
}
