export { Master } from './master';
export {
  DEFAULT_MASTER_OPTIONS,
  DEFAULT_MASTER_PORT,
  MAX_FRAME_DEPTH_LIMIT,
  MAX_LEDGER_NODES_LIMIT,
  MASTER_OPTION_RANGES,
  resolveMasterOptions,
  type MasterOptions,
  type MasterTlsOptions,
} from './options';
export type { AuthFailure, DisconnectReason } from '../protocol';
export {
  DETECTION_BUCKETS_S,
  INTER_ARRIVAL_BUCKETS_S,
  MESSAGE_TYPE_LABELS,
  METRIC_PREFIX,
  MasterMetrics,
  type BuildInfo,
} from './metrics';
