export {
  DEFAULT_SWARM_CONFIRM_TIMEOUT_MS,
  DEFAULT_SWARM_DEPLOY_TIMEOUT_MS,
  DEFAULT_SWARM_STOP_TIMEOUT_S,
  SWARM_RUN_CHANGES,
  SWARM_STACK_PREFIX,
  SwarmBackend,
  SwarmCluster,
  resolveSwarmBackendOptions,
  swarmRunStackFile,
  type SwarmBackendOptions,
  type SwarmRunChange,
} from './swarm-backend';
export { STACK_NAMESPACE_LABEL, removeStackResources, type RemovedStackResources } from './stack';
