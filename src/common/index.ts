export { Backoff, DEFAULT_BACKOFF, type BackoffOptions } from './backoff';
export { systemClock, type Clock, type TimerHandle } from './clock';
export { OptionError, PiclusterError, ProtocolError, escapeControl, fileKind, type ErrorCode } from './errors';
export { LOG_FORMATS, createLog, type Log, type LogFields, type LogFormat, type LoggerOptions } from './logger';
export { checkInteger } from './options';
export { DURATION_FORMS, formatDuration, parseDuration, showValue } from './duration';
export { ExitGuard } from './exit-guard';
