export { DEFAULT_SLAVE_OPTIONS, resolveSlaveOptions, type SlaveOptions } from './options';
export { Slave } from './slave';
