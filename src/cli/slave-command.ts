import { MAX_NODE_ID_LENGTH } from '../protocol';
import {
  ACK_TIMEOUT_INTERVALS,
  DEFAULT_SLAVE_OPTIONS,
  MIN_DEFAULT_ACK_TIMEOUT_MS,
  NODE_ID_SOURCES,
  SLAVE_OPTION_RANGES as RANGES,
  SLAVE_GROUP_RANGES,
  Slave,
  SlaveGroup,
  resolveNodeId,
  type NodeIdSource,
  type SlaveOptions,
} from '../slave';
import { LOG_FLAGS, closeLog, logFromFlags, onStopSignal } from './common-flags';
import { TOKEN_FLAGS, tokenFromFlags } from './token-flags';
import { defineCommand, parseCommand, setOnly, UsageError } from './flags';
import { SLAVE_TLS_FLAGS, TlsFileError, cannotStart, readSlaveTls, slaveTlsFiles } from './tls-flags';

export const SLAVE_COMMAND = defineCommand({
  name: 'slave',
  usage: 'picluster slave [options]',
  summary:
    'Run a slave: connect to the master, say hello, then send a heartbeat every interval; reconnect after any failure.',
  flags: [
    {
      flag: 'master',
      kind: 'string',
      valueName: 'host:port',
      description: 'The master to connect to (port optional)',
      defaultText: `${DEFAULT_SLAVE_OPTIONS.masterHost}:${DEFAULT_SLAVE_OPTIONS.masterPort}; env MASTER_HOST and MASTER_PORT`,
    },
    {
      flag: 'id',
      env: 'NODE_ID',
      kind: 'string',
      maxLength: MAX_NODE_ID_LENGTH,
      valueName: 'node-id',
      description: `This slave's node id (1 to ${MAX_NODE_ID_LENGTH} characters)`,
      defaultText: 'the host name',
    },
    {
      flag: 'heartbeat-interval-ms',
      env: 'HEARTBEAT_INTERVAL_MS',
      kind: 'integer',
      ...RANGES.heartbeatIntervalMs,
      description: 'Time between heartbeats',
      defaultText: String(DEFAULT_SLAVE_OPTIONS.heartbeatIntervalMs),
    },
    {
      flag: 'count',
      env: 'HEARTBEAT_COUNT',
      kind: 'integer',
      ...RANGES.heartbeatCount,
      description: 'Stop cleanly after this many heartbeats',
      defaultText: 'run until stopped',
    },
    {
      flag: 'connect-timeout-ms',
      env: 'CONNECT_TIMEOUT_MS',
      kind: 'integer',
      ...RANGES.connectTimeoutMs,
      description: 'Give up one connection attempt after this long',
      defaultText: String(DEFAULT_SLAVE_OPTIONS.connectTimeoutMs),
    },
    {
      flag: 'reconnect-max-delay-ms',
      env: 'RECONNECT_MAX_DELAY_MS',
      kind: 'integer',
      ...RANGES['backoff.maxDelayMs'],
      description: 'Cap of the reconnect backoff',
      defaultText: String(DEFAULT_SLAVE_OPTIONS.backoff.maxDelayMs),
    },
    {
      flag: 'id-from',
      env: 'NODE_ID_FROM',
      kind: 'choice',
      choices: NODE_ID_SOURCES,
      description:
        'Where the node id comes from without --id: the host name, or the name reverse DNS gives this host (the container name under Compose)',
      defaultText: 'hostname',
    },
    {
      flag: 'acks',
      env: 'ACKS',
      kind: 'choice',
      choices: ['on', 'off'],
      description:
        'Ask the master for acks; keep unacked messages and resend them after a reconnect (a master that never acks gets no resends)',
      defaultText: 'on',
    },
    {
      flag: 'max-unacked',
      env: 'MAX_UNACKED',
      kind: 'integer',
      ...RANGES.maxUnacked,
      description: 'Unacked messages kept; when full, the oldest is dropped and logged ("dropped")',
      defaultText: String(DEFAULT_SLAVE_OPTIONS.maxUnacked),
    },
    {
      flag: 'ack-timeout-ms',
      env: 'ACK_TIMEOUT_MS',
      kind: 'integer',
      ...RANGES.ackTimeoutMs,
      description: 'With a master that acks: replace a connection that leaves a message unacked this long',
      defaultText: `${ACK_TIMEOUT_INTERVALS} × the heartbeat interval, at least ${MIN_DEFAULT_ACK_TIMEOUT_MS}`,
    },
    {
      flag: 'replicas',
      env: 'SLAVE_REPLICAS',
      kind: 'integer',
      ...SLAVE_GROUP_RANGES.replicas,
      description:
        'Run this many slaves in this process, ids <id>-1 … <id>-N, each with its own connection; their starts are spread over one heartbeat interval',
      defaultText: 'one slave, id <id>',
    },
    {
      flag: 'first-replica',
      env: 'SLAVE_FIRST_REPLICA',
      kind: 'integer',
      ...SLAVE_GROUP_RANGES.firstReplica,
      description: 'With --replicas: the number of the first replica (ids <id>-K … <id>-(K+N-1))',
      defaultText: '1',
    },
    ...TOKEN_FLAGS,
    ...SLAVE_TLS_FLAGS,
    ...LOG_FLAGS,
  ],
  notes:
    'Every message sent is logged as a JSON line with event "sent", its node and seq ("resent" when sent again after a reconnect). SIGTERM waits up to 0.75 s for the acks of what was sent, then closes the connection; the slave exits within 2 s whatever the master does.',
});

/** `host:port`, `host`, `[v6]:port` or `[v6]`; a missing part comes from MASTER_HOST / MASTER_PORT. */
export function parseMasterAddress(text: string | undefined, env: NodeJS.ProcessEnv): { host: string; port: number } {
  let host = env.MASTER_HOST || DEFAULT_SLAVE_OPTIONS.masterHost;
  let portText = env.MASTER_PORT || undefined;
  let source = portText === undefined ? '' : 'MASTER_PORT';
  if (text !== undefined) {
    const match = /^(?:\[([^\]]+)\]|([^:[\]]+))(?::(.*))?$/.exec(text);
    if (match === null) throw new UsageError('--master', `--master must be host:port, got "${text}"`);
    host = match[1] ?? match[2] ?? host;
    if (match[3] !== undefined) {
      portText = match[3];
      source = '--master';
    }
  }
  if (portText === undefined) return { host, port: DEFAULT_SLAVE_OPTIONS.masterPort };
  const port = /^\d+$/.test(portText) ? Number(portText) : NaN;
  const { min, max } = RANGES.masterPort;
  if (!(port >= min && port <= max)) {
    throw new UsageError(source, `${source} port must be an integer from ${min} to ${max}, got "${portText}"`);
  }
  return { host, port };
}

/** The default backoff with its cap lowered or raised to `maxDelayMs` (and its first delay no longer than that). */
function backoffCappedAt(maxDelayMs: number): SlaveOptions['backoff'] {
  return {
    ...DEFAULT_SLAVE_OPTIONS.backoff,
    maxDelayMs,
    initialDelayMs: Math.min(DEFAULT_SLAVE_OPTIONS.backoff.initialDelayMs, maxDelayMs),
  };
}

export async function runSlave(argv: readonly string[], env: NodeJS.ProcessEnv): Promise<number | 'help'> {
  const { values, help } = parseCommand(SLAVE_COMMAND, argv, env);
  if (help) return 'help';
  const { host, port } = parseMasterAddress(values.master, env);
  const tlsFiles = slaveTlsFiles(values);
  const maxDelayMs = values['reconnect-max-delay-ms'];
  const options: Partial<SlaveOptions> = setOnly({
    masterHost: host,
    masterPort: port,
    heartbeatIntervalMs: values['heartbeat-interval-ms'],
    heartbeatCount: values.count,
    connectTimeoutMs: values['connect-timeout-ms'],
    backoff: maxDelayMs === undefined ? undefined : backoffCappedAt(maxDelayMs),
    acks: values.acks === undefined ? undefined : values.acks === 'on',
    maxUnacked: values['max-unacked'],
    ackTimeoutMs: values['ack-timeout-ms'],
  });
  let idSource: NodeIdSource | 'flag' = 'flag';
  if (values.id !== undefined) {
    options.node = values.id;
  } else {
    const resolved = await resolveNodeId(values['id-from'] ?? 'hostname');
    options.node = resolved.node;
    idSource = resolved.source;
  }
  options.token = tokenFromFlags(values);
  const log = logFromFlags(values);
  try {
    if (tlsFiles !== undefined) options.tls = readSlaveTls(tlsFiles);
  } catch (err) {
    if (err instanceof TlsFileError) return cannotStart(log, err);
    throw err;
  }
  const replicas = values.replicas;
  const firstReplica = values['first-replica'];
  if (firstReplica !== undefined && replicas === undefined) {
    throw new UsageError('--first-replica', '--first-replica goes with --replicas');
  }
  // One signal handler for the whole process, however many slaves it runs.
  const slave =
    replicas === undefined
      ? new Slave(options, log).start(idSource)
      : new SlaveGroup(options, setOnly({ replicas, firstReplica }), log).start(idSource);
  onStopSignal(() => void slave.stop());
  await slave.done;
  return closeLog(log, 0);
}
