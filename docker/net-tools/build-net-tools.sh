#!/usr/bin/env bash
# Makes the build context of docker/net-tools/Dockerfile without any container
# registry: iproute2 (ip, tc, ss), iptables and busybox (sh, awk, sed, grep)
# from Debian packages, with the libraries they need beyond the base image's
# (glibc, libstdc++), extracted into one tar file per architecture:
#   docker/net-tools/out/net-tools-{amd64,arm64}.tar
# Each tar is checked by running `ip -V`, `tc -V`, `ss -V` and iptables with its
# statistic match inside it (arm64 through qemu's binfmt handler).
# Needs root (dpkg --add-architecture, chroot); run by scripts/build-images.sh.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
readonly HERE
readonly OUT=$HERE/out
readonly ARCHES=(amd64 arm64)
# The binaries and every library they (and iptables' extension modules) link
# that the base image lacks; checked below, inside the root filesystem.
readonly PACKAGES=(
  iproute2 iptables busybox
  libbpf1 libbsd0 libcap2 libcom-err2 libelf1 libgssapi-krb5-2 libip4tc2 libip6tc2 libk5crypto3
  libkeyutils1 libkrb5-3 libkrb5support0 libmd0 libmnl0 libnetfilter-conntrack3 libnfnetlink0
  libnftnl11 libxtables12 libpcre2-8-0 libselinux1 libtirpc3 zlib1g libc6
)
# The same for every architecture (Architecture: all).
readonly COMMON_PACKAGES=(libtirpc-common)
# What the helper's scripts use of busybox.
readonly APPLETS=(sh awk sed grep cat echo head tail tr cut wc sleep true false printf)
# shellcheck source=docker/lib/debs.sh
source "$HERE/../lib/debs.sh"

log() { printf '[build-net-tools] %s\n' "$*" >&2; }
die() {
  printf '[build-net-tools] error: %s\n' "$*" >&2
  exit 1
}

[[ $(id -u) -eq 0 ]] || die "must run as root (dpkg --add-architecture, chroot)"
add_foreign_arches "${ARCHES[@]}"

mkdir -p "$OUT"
work=$(mktemp -d "${TMPDIR:-/tmp}/picluster-net-tools.XXXXXX")
chmod 0755 "$work"
trap 'rm -rf "$work"' EXIT

for arch in "${ARCHES[@]}"; do
  rootfs=$work/rootfs-$arch
  debs=$work/debs-$arch
  log "[$arch] apt-get download ${PACKAGES[*]} ${COMMON_PACKAGES[*]}"
  unpack_debs "$debs" "$rootfs" "${PACKAGES[@]/%/:$arch}" "${COMMON_PACKAGES[@]}"
  # Debian sets these with update-alternatives, which dpkg-deb -x does not run.
  ln -sf xtables-nft-multi "$rootfs/usr/sbin/iptables"
  busybox=""
  for candidate in usr/bin/busybox bin/busybox; do
    [[ -f $rootfs/$candidate ]] && busybox=$candidate
  done
  [[ -n $busybox ]] || die "[$arch] busybox binary not found in the busybox package"
  mkdir -p "$rootfs/bin"
  for applet in "${APPLETS[@]}"; do
    [[ -e $rootfs/bin/$applet ]] || ln -s "/$busybox" "$rootfs/bin/$applet"
  done
  rm -rf "${rootfs:?}/usr/share/doc" "${rootfs:?}/usr/share/man" "${rootfs:?}/usr/share/locale" \
    "${rootfs:?}/usr/share/lintian" "${rootfs:?}/usr/share/bash-completion" "${rootfs:?}/etc/init.d"

  # ip -V asks libbpf for its version and complains on stderr when it cannot tell.
  # qemu-user has no netfilter netlink, so iptables-nft runs only on the native architecture.
  checks=('ip -V' 'tc -V' 'ss -V' 'iptables-legacy -m statistic -h')
  [[ $arch == "$(dpkg --print-architecture)" ]] && checks+=('iptables-nft -m statistic -h')
  for cmd in "${checks[@]}"; do
    # shellcheck disable=SC2086
    chroot "$rootfs" /bin/sh -c "PATH=/usr/sbin:/usr/bin:/sbin:/bin $cmd" >/dev/null 2>&1 ||
      die "[$arch] \`$cmd\` does not run in the root filesystem (a library missing?)"
  done
  # libc6 is in the base image already: leave it out of the layer.
  (cd "$debs" && dpkg-deb -c libc6_*.deb) | awk '{ print $6 }' | sed -n 's|^\./||p' |
    while read -r path; do
      if [[ -f $rootfs/$path && ! -L $rootfs/$path ]]; then rm -f "${rootfs:?}/$path"; fi
    done
  # Renamed into place: a concurrent build (e2e suites build images in parallel) never reads half a layer.
  tar --numeric-owner -C "$rootfs" -cf "$OUT/.net-tools-$arch.tar.$$" .
  mv "$OUT/.net-tools-$arch.tar.$$" "$OUT/net-tools-$arch.tar"
  log "[$arch] $OUT/net-tools-$arch.tar: $(du -m "$OUT/net-tools-$arch.tar" | cut -f1) MiB"
done
