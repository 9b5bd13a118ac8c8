#!/usr/bin/env bash
# Writes a random cluster token (32 bytes, hex) to the file compose.yaml makes
# its `cluster_token` secret from: $CLUSTER_TOKEN_SECRET_FILE, default
# ./secrets/cluster_token next to compose.yaml. An existing token is kept (a
# running cluster uses it) unless --force is given. Prints the file's path,
# never the token.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
readonly ROOT
FILE=${CLUSTER_TOKEN_SECRET_FILE:-$ROOT/secrets/cluster_token}
readonly FILE

if [ -s "$FILE" ] && [ "${1:-}" != --force ]; then
  printf '[make-token] %s exists; kept (--force writes a new one)\n' "$FILE" >&2
  echo "$FILE"
  exit 0
fi
# The directory keeps other users out; the file itself is readable by all because Compose
# bind-mounts it as it is, and the image's user (uid 1000) may not own it.
mkdir -p "$(dirname "$FILE")"
chmod 700 "$(dirname "$FILE")"
umask 022
if command -v openssl >/dev/null; then
  openssl rand -hex 32 >"$FILE.tmp"
else
  node -e 'process.stdout.write(require("crypto").randomBytes(32).toString("hex") + "\n")' >"$FILE.tmp"
fi
mv "$FILE.tmp" "$FILE"
printf '[make-token] wrote a new token to %s\n' "$FILE" >&2
echo "$FILE"
