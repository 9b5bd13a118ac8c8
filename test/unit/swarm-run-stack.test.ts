import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { SWARM_RUN_CHANGES, swarmRunStackFile } from '../../src/orchestrator/swarm';

const COMPOSE_FILE = join(__dirname, '..', '..', 'compose.yaml');
const composeText = readFileSync(COMPOSE_FILE, 'utf8');

interface Service {
  healthcheck?: unknown;
  hostname?: string;
  environment?: Record<string, string>;
  deploy?: Record<string, unknown>;
  [key: string]: unknown;
}
type ComposeFile = { services: Record<string, Service>; volumes?: unknown };

describe('the Compose file a swarm run deploys', () => {
  const original = parse(composeText) as ComposeFile;
  const run = parse(swarmRunStackFile(composeText, COMPOSE_FILE)) as ComposeFile;

  it("has no health check on the master, so Swarm puts a new master task's name in its DNS when the task starts", () => {
    // Swarm adds a task with a health check to its DNS only once a probe has passed; deployed as it is,
    // compose.yaml keeps its check (Compose and production use it).
    expect(original.services.master?.healthcheck).toBeDefined();
    expect(run.services.master).not.toHaveProperty('healthcheck');
  });

  it("replaces the master's task at once, leaves a stopped slave stopped, and names slaves by slot", () => {
    expect(run.services.master?.deploy?.restart_policy).toEqual({ condition: 'any', delay: '0s' });
    expect(run.services.slave?.deploy?.restart_policy).toEqual({ condition: 'none' });
    expect(run.services.slave?.hostname).toBe('{{.Service.Name}}-{{.Task.Slot}}');
    expect(run.services.slave?.environment).toEqual({
      ...original.services.slave?.environment,
      NODE_ID_FROM: 'hostname',
    });
  });

  it('changes nothing else, and leaves the ${…} variables to docker stack deploy', () => {
    const without = (file: ComposeFile): ComposeFile => {
      const copy = structuredClone(file);
      for (const { path } of SWARM_RUN_CHANGES) {
        let node: Record<string, unknown> | undefined = copy as unknown as Record<string, unknown>;
        for (const key of path.slice(0, -1)) node = node?.[key] as Record<string, unknown> | undefined;
        if (node !== undefined) delete node[path[path.length - 1] as string];
      }
      return copy;
    };
    expect(without(run)).toEqual(without(original));
    expect(run.services.slave?.deploy?.replicas).toBe('${SLAVES:-3}');
  });

  it('rejects a file that is not YAML or lacks a service, naming the file', () => {
    expect(() => swarmRunStackFile('services: [', 'x.yaml')).toThrow(
      expect.objectContaining({
        code: 'PICLUSTER_ERR_BACKEND_UNAVAILABLE',
        message: expect.stringMatching(/^x\.yaml: /),
      }),
    );
    expect(() => swarmRunStackFile('services:\n  master: { image: x }\n', 'x.yaml')).toThrow(
      expect.objectContaining({ code: 'PICLUSTER_ERR_BACKEND_UNAVAILABLE', message: 'x.yaml: no service slave' }),
    );
  });
});
