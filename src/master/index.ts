export { Master } from './master';
export { DEFAULT_MASTER_OPTIONS, DEFAULT_MASTER_PORT, resolveMasterOptions, type MasterOptions } from './options';
export type { DisconnectReason } from './session';
