import { readFileSync } from 'node:fs';
import { UsageError, defineFlags, type FlagValues } from './flags';

/**
 * The cluster token, from a flag or its variable, or from a file (e.g. a
 * Docker secret). The value never appears in `--help` or in any error.
 */
export const TOKEN_FLAGS = defineFlags([
  {
    flag: 'token',
    env: 'CLUSTER_TOKEN',
    kind: 'string',
    valueName: 'secret',
    description:
      'Shared secret of the cluster: the master takes only slaves whose hello proves it (HMAC of a per-connection nonce); visible to other local users in argv, prefer the variable or --token-file',
    defaultText: 'none (no authentication)',
  },
  {
    flag: 'token-file',
    env: 'CLUSTER_TOKEN_FILE',
    kind: 'string',
    valueName: 'path',
    description: 'Read the token from this file (one trailing newline dropped), e.g. /run/secrets/cluster_token',
  },
]);

/** The token the flags give, read from its file if need be; `undefined` when neither is set. */
export function tokenFromFlags(values: FlagValues<typeof TOKEN_FLAGS>): string | undefined {
  const { token, 'token-file': file } = values;
  if (token !== undefined && file !== undefined) {
    throw new UsageError(
      '--token',
      '--token (CLUSTER_TOKEN) and --token-file (CLUSTER_TOKEN_FILE) are both set: give one of them',
    );
  }
  if (file === undefined) return token;
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    const reason = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
    throw new UsageError('--token-file', `--token-file (CLUSTER_TOKEN_FILE) "${file}" cannot be read: ${reason}`);
  }
  // `echo` and `openssl rand -hex 32 >` end the file with a newline that is no part of the secret.
  const read = text.replace(/\r?\n$/, '');
  if (read === '') throw new UsageError('--token-file', `--token-file (CLUSTER_TOKEN_FILE) "${file}" is empty`);
  return read;
}
