import { X509Certificate, createPrivateKey } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { PiclusterError, type Log } from '../common';
import type { MasterTlsOptions } from '../master';
import type { MasterLogWrite, SlaveLogWrite } from '../protocol';
import type { SlaveTlsOptions } from '../slave';
import { closeLog } from './common-flags';
import { UsageError, defineFlags, type FlagValues } from './flags';

export const MASTER_TLS_FLAGS = defineFlags([
  {
    flag: 'tls-cert',
    env: 'TLS_CERT',
    kind: 'string',
    valueName: 'pem-file',
    description: "Listen with TLS: the master's certificate (chain), with --tls-key",
    defaultText: 'plain TCP',
  },
  {
    flag: 'tls-key',
    env: 'TLS_KEY',
    kind: 'string',
    valueName: 'pem-file',
    description: "The private key of --tls-cert's certificate (unencrypted)",
  },
  {
    flag: 'tls-client-ca',
    env: 'TLS_CLIENT_CA',
    kind: 'string',
    valueName: 'pem-file',
    description: 'Mutual TLS: require of every slave a client certificate signed by this CA',
    defaultText: 'no client certificate asked for',
  },
]);

export const SLAVE_TLS_FLAGS = defineFlags([
  {
    flag: 'tls',
    env: 'TLS',
    kind: 'boolean',
    description: "Connect with TLS, checking the master's certificate against the CAs Node trusts (set TLS=1)",
    defaultText: 'plain TCP',
  },
  {
    flag: 'tls-ca',
    env: 'TLS_CA',
    kind: 'string',
    valueName: 'pem-file',
    description: "Connect with TLS; the master's certificate must be signed by this CA and name the master's host",
  },
  {
    flag: 'tls-client-cert',
    env: 'TLS_CLIENT_CERT',
    kind: 'string',
    valueName: 'pem-file',
    description: 'Mutual TLS: this client certificate, with --tls-client-key',
  },
  {
    flag: 'tls-client-key',
    env: 'TLS_CLIENT_KEY',
    kind: 'string',
    valueName: 'pem-file',
    description: "The private key of --tls-client-cert's certificate (unencrypted)",
  },
]);

/** A PEM file a flag names, and what it must hold. */
interface PemFile {
  flag: string;
  path: string;
  holds: 'certificate' | 'private key';
}

/** Which files to read: the flags are checked when parsed, the files only once the log can say what is wrong. */
export interface TlsFiles {
  ca?: PemFile;
  cert?: PemFile;
  key?: PemFile;
}

/** A TLS file that cannot be read or used: the process cannot start (exit 1). */
export class TlsFileError extends PiclusterError {
  override readonly name = 'TlsFileError';

  constructor(
    readonly file: string,
    message: string,
  ) {
    super('PICLUSTER_ERR_TLS_FILE', message);
  }
}

/** The master's TLS files, or undefined for plain TCP; a flag without its pair is a usage error. */
export function masterTlsFiles(values: FlagValues<typeof MASTER_TLS_FLAGS>): TlsFiles | undefined {
  const files = pairOf(values, ['tls-cert', 'TLS_CERT'], ['tls-key', 'TLS_KEY']);
  const ca = pemFile(values, 'tls-client-ca', 'certificate');
  if (ca !== undefined && files === undefined) {
    throw new UsageError('--tls-client-ca', '--tls-client-ca (TLS_CLIENT_CA) needs --tls-cert and --tls-key');
  }
  return files && { ...files, ca };
}

/** The slave's TLS files, or undefined for plain TCP; a flag without its pair is a usage error. */
export function slaveTlsFiles(values: FlagValues<typeof SLAVE_TLS_FLAGS>): TlsFiles | undefined {
  const client = pairOf(values, ['tls-client-cert', 'TLS_CLIENT_CERT'], ['tls-client-key', 'TLS_CLIENT_KEY']);
  const ca = pemFile(values, 'tls-ca', 'certificate');
  if (ca === undefined && values.tls !== true) {
    if (client === undefined) return undefined;
    throw new UsageError(
      '--tls-client-cert',
      '--tls-client-cert (TLS_CLIENT_CERT) needs --tls-ca (TLS_CA) or --tls (TLS=1): which CA should sign the master?',
    );
  }
  // `--tls` alone: no file, the CAs Node trusts.
  return { ...client, ca };
}

/** Reads and checks the master's files: the PEM contents `MasterOptions.tls` takes. */
export function readMasterTls(files: TlsFiles): MasterTlsOptions {
  const { cert, key } = readPair(files);
  return { cert, key, clientCa: files.ca && readPem(files.ca) };
}

/** Reads and checks the slave's files: the PEM contents `SlaveOptions.tls` takes. */
export function readSlaveTls(files: TlsFiles): SlaveTlsOptions {
  return { ca: files.ca && readPem(files.ca), ...(files.cert && readPair(files)) };
}

/**
 * Logs why the process cannot start, as the master's start-up failures are
 * logged (an `error` line), closes the log and gives the exit code: 1.
 */
export function cannotStart(log: Log<MasterLogWrite | SlaveLogWrite>, error: TlsFileError): Promise<number> {
  log.write({
    event: 'error',
    level: 'error',
    message: `Cannot start: ${error.message}`,
    code: error.code,
    file: error.file,
  });
  return closeLog(log, 1);
}

/** The values of the flags that name PEM files. */
type PemPaths<Flag extends string> = { readonly [Name in Flag]?: string };

function pemFile<Flag extends string>(
  values: PemPaths<Flag>,
  flag: Flag,
  holds: PemFile['holds'],
): PemFile | undefined {
  const path = values[flag];
  return typeof path === 'string' ? { flag: `--${flag}`, path, holds } : undefined;
}

/** A certificate flag and its key flag, both given or neither. */
function pairOf<CertFlag extends string, KeyFlag extends string>(
  values: PemPaths<CertFlag | KeyFlag>,
  [certFlag, certEnv]: [CertFlag, string],
  [keyFlag, keyEnv]: [KeyFlag, string],
): Pick<TlsFiles, 'cert' | 'key'> | undefined {
  const cert = pemFile(values, certFlag, 'certificate');
  const key = pemFile(values, keyFlag, 'private key');
  if (cert === undefined && key === undefined) return undefined;
  if (cert === undefined) {
    throw new UsageError(
      `--${keyFlag}`,
      `--${keyFlag} (${keyEnv}) needs --${certFlag} (${certEnv}): give both, or neither`,
    );
  }
  if (key === undefined) {
    throw new UsageError(
      `--${certFlag}`,
      `--${certFlag} (${certEnv}) needs --${keyFlag} (${keyEnv}): give both, or neither`,
    );
  }
  return { cert, key };
}

/** The certificate and its key, read, and checked to belong together. */
function readPair(files: TlsFiles): { cert: Buffer; key: Buffer } {
  const certFile = files.cert as PemFile;
  const keyFile = files.key as PemFile;
  const cert = readPem(certFile);
  const key = readPem(keyFile);
  if (!new X509Certificate(cert).checkPrivateKey(createPrivateKey(key))) {
    throw new TlsFileError(
      keyFile.path,
      `${keyFile.flag} file "${keyFile.path}" is not the key of the certificate in ${certFile.flag} file "${certFile.path}"`,
    );
  }
  return { cert, key };
}

/** A file's bytes, once they are known to be the PEM certificate or key the flag wants. */
function readPem({ flag, path, holds }: PemFile): Buffer {
  let pem: Buffer;
  try {
    pem = readFileSync(path);
  } catch (err) {
    throw new TlsFileError(path, `cannot read ${flag} file "${path}": ${(err as Error).message}`);
  }
  const bad = (why: string): TlsFileError =>
    new TlsFileError(path, `${flag} file "${path}" is not a PEM ${holds}: ${why}`);
  // Node's TLS takes PEM only, where its parsers also take DER: refuse it here, not at the handshake.
  if (!pem.includes('-----BEGIN ')) throw bad('no "-----BEGIN" line');
  try {
    if (holds === 'certificate') new X509Certificate(pem);
    else createPrivateKey(pem);
  } catch (err) {
    throw bad((err as Error).message);
  }
  return pem;
}
