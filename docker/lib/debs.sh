# shellcheck shell=bash
# Sourced by docker/base/build-base.sh and docker/net-tools/build-net-tools.sh:
# Debian packages of any architecture, unpacked into a root filesystem, with no
# container registry. The sourcing script defines log() and die().

# dpkg --add-architecture for each of "$@" that dpkg does not know yet.
add_foreign_arches() {
  local arch
  for arch in "$@"; do
    if [[ $arch != "$(dpkg --print-architecture)" ]] &&
      ! dpkg --print-foreign-architectures | grep -qx "$arch"; then
      log "dpkg --add-architecture $arch"
      dpkg --add-architecture "$arch"
      apt-get update -qq
    fi
  done
}

# Downloads packages "${@:3}" (name:arch) into directory $1 and unpacks every
# .deb there into root filesystem $2.
unpack_debs() {
  local debs=$1 rootfs=$2 deb
  mkdir -p "$debs" "$rootfs"
  # apt-get download drops privileges to _apt, which must be able to write there.
  chown _apt "$debs" 2>/dev/null || true
  (cd "$debs" && apt-get download -qq "${@:3}")
  for deb in "$debs"/*.deb; do
    dpkg-deb -x "$deb" "$rootfs"
  done
}
