export {
  DEFAULT_COMPOSE_FILE,
  DEFAULT_DOCKER_COMPOSE_TIMEOUT_MS,
  DEFAULT_DOCKER_CONFIRM_TIMEOUT_MS,
  DEFAULT_DOCKER_IMAGE,
  DEFAULT_DOCKER_STOP_TIMEOUT_S,
  DOCKER_PROJECT_PREFIX,
  DockerBackend,
  DockerCluster,
  resolveDockerBackendOptions,
  type DockerBackendOptions,
} from './docker-backend';
export { COMPOSE_PROJECT_LABEL, removeRunResources, type RemovedResources } from './compose';
export { ContainerLogFollower, parseDockerTimestamp } from './log-follower';
