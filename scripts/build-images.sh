#!/usr/bin/env bash
# Builds the picluster image (both roles) for linux/amd64 and linux/arm64 from
# docker/Dockerfile, and the network fault helper picluster-net from
# docker/net-tools/Dockerfile, and loads both into the local docker image store.
# Env:
#   OFFLINE_BASE=1  build on images made from packages instead of pulling
#                   node:22-bookworm-slim; docker/base/build-base.sh runs first
#                   when they are missing (it needs root)
#   IMAGE           tag to build (default picluster:latest)
#   PLATFORMS       default linux/amd64,linux/arm64
#   BASE_IMAGE, BUILD_IMAGE  offline images (defaults picluster-base:node22,
#                   picluster-build:node22)
#   NET_IMAGE       tag of the network fault helper (default picluster-net:latest);
#                   NET_IMAGE=none skips it. Its Debian packages come from
#                   docker/net-tools/build-net-tools.sh (run when its output is
#                   missing; it needs root)
# npm in the build stage uses the host's registry and cafile (`npm config get`).
# Arguments are passed on to `docker buildx build` (e.g. --no-cache).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
readonly ROOT
readonly IMAGE=${IMAGE:-picluster:latest}
readonly PLATFORMS=${PLATFORMS:-linux/amd64,linux/arm64}
readonly OFFLINE_BASE=${OFFLINE_BASE:-0}
readonly NET_IMAGE=${NET_IMAGE:-picluster-net:latest}
export BASE_IMAGE=${BASE_IMAGE:-picluster-base:node22}
export BUILD_IMAGE=${BUILD_IMAGE:-picluster-build:node22}

log() { printf '[build-images] %s\n' "$*" >&2; }
die() {
  printf '[build-images] error: %s\n' "$*" >&2
  exit 1
}

command -v docker >/dev/null || die "docker not found; run scripts/setup-docker.sh"
docker info >/dev/null 2>&1 || die "docker daemon not reachable; run scripts/setup-docker.sh"
cd "$ROOT"

args=()
if [[ $OFFLINE_BASE == 1 ]]; then
  if ! docker image inspect "$BASE_IMAGE" >/dev/null 2>&1 ||
    ! docker image inspect "$BUILD_IMAGE" >/dev/null 2>&1; then
    log "$BASE_IMAGE or $BUILD_IMAGE missing: running docker/base/build-base.sh"
    docker/base/build-base.sh
  else
    log "using existing $BUILD_IMAGE (build) and $BASE_IMAGE (runtime)"
  fi
  args+=(--build-arg "BUILD_IMAGE=$BUILD_IMAGE" --build-arg "RUNTIME_IMAGE=$BASE_IMAGE")
fi

registry=$(npm config get registry)
args+=(--build-arg "NPM_CONFIG_REGISTRY=$registry")
cafile=$(npm config get cafile)
if [[ -f $cafile ]]; then
  args+=(--secret "id=npm_cafile,src=$cafile")
fi
# Build containers do not see the host's /etc/hosts; pin the registry to the
# address the host uses so that a registry reachable only that way still works.
registry_host=$(node -p 'new URL(process.argv[1]).hostname' "$registry")
registry_ip=$(getent hosts "$registry_host" | awk '{ print $1; exit }')
if [[ -n $registry_ip ]]; then
  args+=(--add-host "$registry_host:$registry_ip")
fi

version=$(node -p 'require("./package.json").version')
args+=(--build-arg "VERSION=$version")
source_url=$(git remote get-url origin 2>/dev/null || true)
[[ -n $source_url ]] && args+=(--build-arg "SOURCE=$source_url")

log "docker buildx build --platform $PLATFORMS -t $IMAGE (version $version)"
start=$SECONDS
# --provenance=false: no attestation manifests ("unknown/unknown" platform
# entries) in the local image index.
docker buildx build --platform "$PLATFORMS" --provenance=false "${args[@]}" "$@" \
  -t "$IMAGE" --load -f docker/Dockerfile .
log "built $IMAGE in $((SECONDS - start))s"

IFS=, read -ra platform_list <<<"$PLATFORMS"
for platform in "${platform_list[@]}"; do
  log "$platform: $IMAGE --version -> $(docker run --rm --platform "$platform" "$IMAGE" --version)"
done
scripts/image-sizes.sh "$IMAGE" "${platform_list[@]}"

[[ $NET_IMAGE == none ]] && exit 0
net_out=docker/net-tools/out
missing_layer=0
for platform in "${platform_list[@]}"; do
  [[ -f $net_out/net-tools-${platform#linux/}.tar ]] || missing_layer=1
done
if ((missing_layer)); then
  log "$net_out incomplete: running docker/net-tools/build-net-tools.sh"
  docker/net-tools/build-net-tools.sh
fi
# The helper needs glibc only: the offline runtime base, else the image the picluster runtime stage pulls.
net_base=node:22-bookworm-slim
[[ $OFFLINE_BASE == 1 ]] && net_base=$BASE_IMAGE
log "docker buildx build --platform $PLATFORMS -t $NET_IMAGE (on $net_base)"
start=$SECONDS
docker buildx build --platform "$PLATFORMS" --provenance=false --build-arg "BASE_IMAGE=$net_base" \
  --build-arg "VERSION=$version" -t "$NET_IMAGE" --load -f docker/net-tools/Dockerfile "$net_out"
log "built $NET_IMAGE in $((SECONDS - start))s"
for platform in "${platform_list[@]}"; do
  got=$(docker run --rm --platform "$platform" "$NET_IMAGE" 'tc -V && iptables-legacy -V' | tr '\n' ' ')
  log "$platform: $NET_IMAGE -> $got"
done
scripts/image-sizes.sh "$NET_IMAGE" "${platform_list[@]}"
