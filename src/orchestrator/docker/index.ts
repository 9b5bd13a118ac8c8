export {
  COMPOSE_MS_PER_CONTAINER,
  DEFAULT_COMPOSE_PARALLEL_LIMIT,
  MASTER_CPU_SHARES,
  DEFAULT_DOCKER_COMPOSE_TIMEOUT_MS,
  DEFAULT_DOCKER_CONFIRM_TIMEOUT_MS,
  DEFAULT_DOCKER_STOP_TIMEOUT_S,
  COMPOSE_PROJECT_LABEL,
  DOCKER_PROJECT_PREFIX,
  DockerBackend,
  DockerCluster,
  composeTimeoutFor,
  removeRunResources,
  resolveDockerBackendOptions,
  type DockerBackendOptions,
} from './docker-backend';
export {
  DEFAULT_COMPOSE_FILE,
  DEFAULT_DOCKER_IMAGE,
  TOKEN_SECRET_FILE_VARIABLE,
  ContainerCluster,
  liveClustersOf,
  resolveContainerBackendOptions,
  type ContainerBackendOptions,
  type NodeContainer,
} from './container-cluster';
export { DEFAULT_ENGINE_CONCURRENCY, mapBounded } from './bounded';
export { memorySampleOf, readMemory, summarizeMemory, type MemorySample, type StartUpTimes } from './container-memory';
export { DockerCli, startFailed } from './docker-cli';
export { attemptRemoval, removeLabelled, removeLabelledSync, type RemovedResources } from './labelled-resources';
export { ContainerLogFollower, parseDockerTimestamp } from './log-follower';
export {
  FROM_MASTER_CHAIN,
  IFB_DEVICE,
  MIN_SLICE_BYTES,
  TO_MASTER_CHAIN,
  applyScript,
  clearScript,
  confirmLinkPlan,
  leftoversOf,
  planLinkFault,
  resetScript,
  unsupportedLinkFault,
  type DirectionPlan,
  type LinkCapabilities,
  type LinkConfirmation,
  type LinkPlan,
  type LinkTarget,
} from './link-fault-plan';
export {
  DEFAULT_NET_HELPER_TIMEOUT_MS,
  DEFAULT_NET_IMAGE,
  REMOTE_CONTAINER_REFUSAL,
  ContainerLinkFaults,
  addressOn,
  resolveLinkFaultsOptions,
  type LinkFaultsOptions,
} from './link-faults';
