export { NODE_ID_SOURCES, resolveNodeId, type NodeIdSource } from './node-id';
export {
  ACK_TIMEOUT_INTERVALS,
  DEFAULT_SLAVE_OPTIONS,
  MIN_DEFAULT_ACK_TIMEOUT_MS,
  SLAVE_OPTION_RANGES,
  defaultAckTimeoutMs,
  resolveSlaveOptions,
  type SlaveOptions,
  type SlaveTlsOptions,
} from './options';
export { Slave } from './slave';
export {
  DEFAULT_SLAVE_GROUP_OPTIONS,
  SLAVE_GROUP_RANGES,
  SlaveGroup,
  replicaIds,
  type SlaveGroupOptions,
} from './slave-group';
