import type { Log } from '../common';
import { DEFAULT_MASTER_OPTIONS, MASTER_OPTION_RANGES as RANGES, Master, type MasterOptions } from '../master';
import { DETECTOR_KINDS, type MasterLogWrite } from '../protocol';
import { LOG_FLAGS, closeLog, logFromFlags, onStopSignal } from './common-flags';
import { TOKEN_FLAGS, tokenFromFlags } from './token-flags';
import { defineCommand, parseCommand, setOnly } from './flags';
import { MASTER_TLS_FLAGS, TlsFileError, cannotStart, masterTlsFiles, readMasterTls } from './tls-flags';

export const MASTER_COMMAND = defineCommand({
  name: 'master',
  usage: 'picluster master [options]',
  summary: 'Run the master: accept slaves over TCP and log every message and every disconnect as JSON lines.',
  flags: [
    {
      flag: 'port',
      env: 'MASTER_PORT',
      kind: 'integer',
      ...RANGES.port,
      description: 'TCP port to listen on; 0 picks a free one',
      defaultText: String(DEFAULT_MASTER_OPTIONS.port),
    },
    {
      flag: 'host',
      env: 'MASTER_BIND',
      kind: 'string',
      valueName: 'address',
      description: 'Address to listen on',
      defaultText: 'every address',
    },
    {
      flag: 'heartbeat-timeout-ms',
      env: 'HEARTBEAT_TIMEOUT_MS',
      kind: 'integer',
      ...RANGES.heartbeatTimeoutMs,
      description: 'Declare a node silent after this long without a frame',
      defaultText: `${DEFAULT_MASTER_OPTIONS.heartbeatTimeoutFactor} × the interval its hello announced (${DEFAULT_MASTER_OPTIONS.defaultHeartbeatIntervalMs} ms if none)`,
    },
    {
      flag: 'max-heartbeat-timeout-ms',
      env: 'MAX_HEARTBEAT_TIMEOUT_MS',
      kind: 'integer',
      ...RANGES.maxHeartbeatTimeoutMs,
      description:
        'Longest heartbeat timeout a hello can obtain by announcing its interval (a "limit" line says when it applies)',
      defaultText: String(DEFAULT_MASTER_OPTIONS.maxHeartbeatTimeoutMs),
    },
    {
      flag: 'detector',
      env: 'DETECTOR',
      kind: 'choice',
      choices: DETECTOR_KINDS,
      description:
        'How silence is judged: "fixed", after the heartbeat timeout; "phi", phi accrual over each connection\'s inter-arrival times, never later than that timeout',
      defaultText: DEFAULT_MASTER_OPTIONS.detector,
    },
    {
      flag: 'phi-threshold',
      env: 'PHI_THRESHOLD',
      kind: 'integer',
      ...RANGES.phiThreshold,
      description:
        'With --detector phi: the suspicion level at which a node is silent (phi 8: a 10^-8 chance it is only late)',
      defaultText: String(DEFAULT_MASTER_OPTIONS.phiThreshold),
    },
    {
      flag: 'phi-min-std-dev-ms',
      env: 'PHI_MIN_STD_DEV_MS',
      kind: 'integer',
      ...RANGES.phiMinStdDevMs,
      description: 'With --detector phi: floor of the standard deviation of inter-arrival times',
      defaultText: String(DEFAULT_MASTER_OPTIONS.phiMinStdDevMs),
    },
    {
      flag: 'phi-acceptable-pause-ms',
      env: 'PHI_ACCEPTABLE_PAUSE_MS',
      kind: 'integer',
      ...RANGES.phiAcceptablePauseMs,
      description: 'With --detector phi: a pause added to the mean inter-arrival time before phi rises',
      defaultText: String(DEFAULT_MASTER_OPTIONS.phiAcceptablePauseMs),
    },
    {
      flag: 'max-frame-bytes',
      env: 'MAX_FRAME_BYTES',
      kind: 'integer',
      ...RANGES.maxFrameBytes,
      description: 'Largest frame accepted',
      defaultText: String(DEFAULT_MASTER_OPTIONS.maxFrameBytes),
    },
    {
      flag: 'max-frame-depth',
      env: 'MAX_FRAME_DEPTH',
      kind: 'integer',
      ...RANGES.maxFrameDepth,
      description: 'Deepest nesting of arrays and objects accepted in a frame, checked before it is parsed',
      defaultText: String(DEFAULT_MASTER_OPTIONS.maxFrameDepth),
    },
    {
      flag: 'max-connections',
      env: 'MAX_CONNECTIONS',
      kind: 'integer',
      ...RANGES.maxConnections,
      description:
        'Connections open at once; more are refused and counted in a "limit" line each second (lowered at start to what ulimit -n allows)',
      defaultText: String(DEFAULT_MASTER_OPTIONS.maxConnections),
    },
    {
      flag: 'max-protocol-errors',
      env: 'MAX_PROTOCOL_ERRORS',
      kind: 'integer',
      ...RANGES.maxProtocolErrors,
      description: 'Close a connection after this many bad frames',
      defaultText: String(DEFAULT_MASTER_OPTIONS.maxProtocolErrors),
    },
    {
      flag: 'max-frames-per-second',
      env: 'MAX_FRAMES_PER_SECOND',
      kind: 'integer',
      ...RANGES.maxFramesPerSecond,
      description:
        'Frames a connection may send per second (bursts of one second\'s worth); beyond, it is closed (reason "rate_limited")',
      defaultText: String(DEFAULT_MASTER_OPTIONS.maxFramesPerSecond),
    },
    {
      flag: 'max-ledger-nodes',
      env: 'MAX_LEDGER_NODES',
      kind: 'integer',
      ...RANGES.maxLedgerNodes,
      description:
        'Node ids whose last seq is remembered for acks; beyond, the least recently active id with no open connection is forgotten (a "limit" line each second counts them). At least --max-connections',
      defaultText: `${DEFAULT_MASTER_OPTIONS.maxLedgerNodes} (or --max-connections if higher)`,
    },
    {
      flag: 'checkpoint-interval-ms',
      env: 'CHECKPOINT_INTERVAL_MS',
      kind: 'integer',
      ...RANGES.checkpointIntervalMs,
      description: `With --log-file: write the ledger checkpoint (<log-file>.ledger) this often when the log grew, and whenever it grew by ${DEFAULT_MASTER_OPTIONS.checkpointBytes / 1024 / 1024} MiB`,
      defaultText: String(DEFAULT_MASTER_OPTIONS.checkpointIntervalMs),
    },
    {
      flag: 'health-port',
      env: 'HEALTH_PORT',
      kind: 'integer',
      ...RANGES.healthPort,
      description: 'Loopback port whose connections are accepted and closed unlogged, for container health checks',
      defaultText: 'none',
    },
    {
      flag: 'metrics-port',
      env: 'METRICS_PORT',
      kind: 'integer',
      ...RANGES.metricsPort,
      description: 'Serve Prometheus metrics at GET /metrics over HTTP on this port (on --host); 0 picks a free one',
      defaultText: 'none',
    },
    ...TOKEN_FLAGS,
    ...MASTER_TLS_FLAGS,
    ...LOG_FLAGS,
  ],
  notes:
    'Stops on SIGTERM or SIGINT: logs a disconnect (reason "shutdown") for every open connection, then a "shutdown" line, and exits 0.\n' +
    'Slaves that ask for acks get them, and each of their messages is logged once. With --log-file (JSON), the master reads that file back on start-up to learn the last seq logged per node, so that messages resent after a restart are not logged twice; a checkpoint beside it (<log-file>.ledger) limits that reading to the lines logged since.',
});

export async function runMaster(argv: readonly string[], env: NodeJS.ProcessEnv): Promise<number | 'help'> {
  const { values, help } = parseCommand(MASTER_COMMAND, argv, env);
  if (help) return 'help';
  const options: Partial<MasterOptions> = setOnly({
    port: values.port,
    host: values.host,
    heartbeatTimeoutMs: values['heartbeat-timeout-ms'],
    maxHeartbeatTimeoutMs: values['max-heartbeat-timeout-ms'],
    detector: values.detector,
    phiThreshold: values['phi-threshold'],
    phiMinStdDevMs: values['phi-min-std-dev-ms'],
    phiAcceptablePauseMs: values['phi-acceptable-pause-ms'],
    maxFrameBytes: values['max-frame-bytes'],
    maxFrameDepth: values['max-frame-depth'],
    maxProtocolErrors: values['max-protocol-errors'],
    maxFramesPerSecond: values['max-frames-per-second'],
    maxConnections: values['max-connections'],
    healthPort: values['health-port'],
    metricsPort: values['metrics-port'],
    maxLedgerNodes: values['max-ledger-nodes'],
    checkpointIntervalMs: values['checkpoint-interval-ms'],
  });
  options.token = tokenFromFlags(values);

  const tlsFiles = masterTlsFiles(values);

  const logFile = values['log-file'];
  // The master reads back its own log file on start-up; a text-format one cannot be read back.
  if (logFile !== undefined && values['log-format'] !== 'text') options.recoverFrom = logFile;
  // Before anything opens the log file: a signal from here on, even during the file's replay at start-up,
  // stops the master once it has started, never kills it half-way.
  const stopSignal = new Promise<NodeJS.Signals>((resolve) => onStopSignal(resolve));
  const log: Log<MasterLogWrite> = logFromFlags(values);
  try {
    if (tlsFiles !== undefined) options.tls = readMasterTls(tlsFiles);
  } catch (err) {
    if (err instanceof TlsFileError) return cannotStart(log, err);
    throw err;
  }
  const master = new Master(options, log);
  try {
    await master.start();
  } catch (err) {
    const error = err as NodeJS.ErrnoException;
    log.write({ event: 'error', level: 'error', message: `Cannot start: ${error.message}`, code: error.code });
    return closeLog(log, 1);
  }
  await master.stop(await stopSignal);
  return closeLog(log, 0);
}
