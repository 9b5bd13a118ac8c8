export { NODE_ID_SOURCES, resolveNodeId, type NodeIdSource } from './node-id';
export { DEFAULT_SLAVE_OPTIONS, resolveSlaveOptions, type SlaveOptions, type SlaveTlsOptions } from './options';
export { Slave } from './slave';
