#!/usr/bin/env bash
# Prints the unpacked size of IMAGE for each PLATFORM.
# Usage: scripts/image-sizes.sh IMAGE PLATFORM...
# `docker image inspect` reports only the host platform and `docker image ls
# --tree` needs a newer daemon, so this measures a created (never started)
# container's root filesystem instead.
set -euo pipefail

(($# >= 2)) || {
  echo "usage: $0 IMAGE PLATFORM..." >&2
  exit 2
}
image=$1
shift
for platform in "$@"; do
  id=$(docker create --platform "$platform" "$image")
  bytes=$(docker container inspect --size --format '{{.SizeRootFs}}' "$id")
  docker rm "$id" >/dev/null
  printf '%-28s %-12s %6.1f MB\n' "$image" "$platform" "$(echo "$bytes" | awk '{ print $1 / 1e6 }')"
done
