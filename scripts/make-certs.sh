#!/usr/bin/env bash
# Makes throwaway TLS material for picluster: a CA, a master (server)
# certificate signed by it, and a slave (client) certificate for mutual TLS.
#
#   scripts/make-certs.sh [--force] [out-dir] [host-name-or-address…]
#
# out-dir defaults to ./certs. The server certificate names master, localhost
# and 127.0.0.1, plus every name or address given: a slave checks that the host
# it connects to (its MASTER_HOST) is one of them. Keys are readable by their
# owner only (0600). Existing files are never overwritten without --force.
#
# Written into out-dir:
#   ca.pem                  the CA certificate: the slaves' --tls-ca, the master's --tls-client-ca
#   server.pem server-key.pem  the master's --tls-cert and --tls-key
#   client.pem client-key.pem  a slave's --tls-client-cert and --tls-client-key
# The CA's own key is not kept: nothing can be signed with it later, so a
# leaked copy of this directory cannot mint new certificates.
set -euo pipefail

usage() {
  sed -n '5p' "$0" | sed 's/^#  *//' >&2
  exit 2
}

force=0
positional=()
for arg in "$@"; do
  case "$arg" in
    --force) force=1 ;;
    -h | --help) usage ;;
    -*) echo "make-certs: unknown option $arg" >&2 && usage ;;
    *) positional+=("$arg") ;;
  esac
done
out=${positional[0]:-certs}
extra_names=("${positional[@]:1}")

if ! command -v openssl >/dev/null; then
  echo "make-certs: openssl is not installed (Debian: apt-get install openssl)" >&2
  exit 1
fi

files=(ca.pem server.pem server-key.pem client.pem client-key.pem)
if [ "$force" = 0 ]; then
  for file in "${files[@]}"; do
    if [ -e "$out/$file" ]; then
      echo "make-certs: $out/$file exists; use --force to replace the certificates in $out" >&2
      exit 1
    fi
  done
fi

# Everything is made in a private scratch directory and moved into place at the
# end, so a failure half-way leaves out-dir as it was.
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
umask 077

san="DNS:master,DNS:localhost,IP:127.0.0.1"
for name in "${extra_names[@]}"; do
  # An address must be an IP SAN: a slave given an address checks IP SANs only.
  if [[ "$name" =~ ^[0-9.]+$ || "$name" == *:* ]]; then
    san+=",IP:$name"
  else
    san+=",DNS:$name"
  fi
done

days=825
new_key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; }
serial() { echo "0x$(openssl rand -hex 16)"; }

new_key "$work/ca-key.pem"
openssl req -x509 -new -key "$work/ca-key.pem" -out "$work/ca.pem" -days "$days" \
  -subj "/CN=picluster throwaway CA" \
  -addext "basicConstraints=critical,CA:TRUE" \
  -addext "keyUsage=critical,keyCertSign,cRLSign"

# sign <name> <common name> <extensions>
sign() {
  new_key "$work/$1-key.pem"
  openssl req -new -key "$work/$1-key.pem" -out "$work/$1.csr" -subj "/CN=$2"
  printf '%s\n' "basicConstraints=critical,CA:FALSE" "keyUsage=critical,digitalSignature" "$3" >"$work/$1.ext"
  openssl x509 -req -in "$work/$1.csr" -CA "$work/ca.pem" -CAkey "$work/ca-key.pem" -set_serial "$(serial)" \
    -days "$days" -extfile "$work/$1.ext" -out "$work/$1.pem" 2>/dev/null
}
sign server master "extendedKeyUsage=serverAuth
subjectAltName=$san"
sign client picluster-slave "extendedKeyUsage=clientAuth"

chmod 644 "$work/ca.pem" "$work/server.pem" "$work/client.pem"
chmod 600 "$work/server-key.pem" "$work/client-key.pem"
(umask 022 && mkdir -p "$out")
for file in "${files[@]}"; do mv -f "$work/$file" "$out/$file"; done
echo "make-certs: wrote ${files[*]} to $out (server names: $san)"
