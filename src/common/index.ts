export { Backoff, DEFAULT_BACKOFF, type BackoffOptions } from './backoff';
export { systemClock, type Clock, type TimerHandle } from './clock';
export { OptionError, PiclusterError, ProtocolError, escapeControl, fileKind, type ErrorCode } from './errors';
export { LOG_FORMATS, createLog, type Log, type LogFields, type LogFormat, type LoggerOptions } from './logger';
export { checkInRange, checkInteger } from './options';
export {
  CONNECT_PORT_RANGE,
  DURATION_MS_RANGE,
  LISTEN_PORT_RANGE,
  MAX_DURATION_MS,
  MAX_PORT,
  UNBOUNDED_COUNT_RANGE,
  type IntegerRange,
} from './limits';
export { DURATION_FORMS, formatDuration, parseDuration, showValue } from './duration';
export { ExitGuard } from './exit-guard';
