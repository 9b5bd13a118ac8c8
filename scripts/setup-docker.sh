#!/usr/bin/env bash
# Installs and starts a Docker engine on a Debian 12 host (root, no systemd needed)
# that can build and run linux/amd64 and linux/arm64 images:
#   docker.io, docker-cli, docker-compose (v2 plugin) and docker-buildx from trixie,
#   the containerd image store (multi-platform images with --load),
#   dockerd started in the background, qemu-aarch64 registered with binfmt_misc.
# Safe to rerun: every step checks whether it is already done and says so.
# Env: DOCKERD_TIMEOUT_S (default 60) - how long to wait for `docker info`.
set -euo pipefail

readonly TRIXIE_SOURCES=/etc/apt/sources.list.d/picluster-trixie.sources
readonly TRIXIE_PIN=/etc/apt/preferences.d/picluster-trixie
readonly DAEMON_JSON=/etc/docker/daemon.json
readonly DOCKERD_LOG=/var/log/dockerd.log
readonly DOCKERD_TIMEOUT_S=${DOCKERD_TIMEOUT_S:-60}
readonly TRIXIE_PACKAGES=(docker.io docker-cli docker-compose docker-buildx)
readonly HOST_PACKAGES=(qemu-user-static binfmt-support)

log() { printf '[setup-docker] %s\n' "$*"; }
skip() { printf '[setup-docker] skip: %s\n' "$*"; }
die() {
  printf '[setup-docker] error: %s\n' "$*" >&2
  exit 1
}

[[ $(id -u) -eq 0 ]] || die "must run as root"
# shellcheck source=/dev/null
. /etc/os-release
[[ ${ID:-} == debian ]] || die "expected Debian, found ${ID:-unknown}"

export DEBIAN_FRONTEND=noninteractive

apt_updated=0
apt_update() {
  log "apt-get update"
  apt-get update -qq
  apt_updated=1
}

# Writes $2 to file $1 only when the content differs; returns 1 when unchanged.
write_if_changed() {
  local path=$1 content=$2
  if [[ -f $path && "$(cat "$path")" == "$content" ]]; then
    return 1
  fi
  printf '%s\n' "$content" >"$path"
}

# The mirror apt already uses for this release's main archive. apt resolves
# both sources.list formats for us; Origin is only known after an update.
debian_mirror() {
  # shellcheck disable=SC2016 # $(...) are apt's format fields, not shell.
  apt-get indextargets --format '$(RELEASE) $(ORIGIN) $(IDENTIFIER) $(REPO_URI)' |
    awk -v rel="$VERSION_CODENAME" '$1 == rel && $2 == "Debian" && $3 == "Packages" { print $4; exit }'
}

missing_packages() {
  local pkg
  for pkg in "$@"; do
    dpkg-query -W -f '${Status}\n' "$pkg" 2>/dev/null | grep -q '^install ok installed$' ||
      printf '%s\n' "$pkg"
  done
}

step_trixie_source() {
  local mirror
  mirror=$(debian_mirror)
  if [[ -z $mirror ]]; then
    apt_update
    mirror=$(debian_mirror)
  fi
  [[ -n $mirror ]] || die "no Debian source for '$VERSION_CODENAME' in apt's configuration"

  local keyring=/usr/share/keyrings/debian-archive-keyring.gpg signed_by=""
  [[ -f $keyring ]] && signed_by="Signed-By: $keyring"
  # Only the native architecture: build-base.sh adds arm64 to dpkg, and the
  # arm64 libraries it downloads must come from the host's release, not trixie.
  local changed=0
  write_if_changed "$TRIXIE_SOURCES" "Types: deb
URIs: $mirror
Suites: trixie
Components: main
Architectures: $(dpkg --print-architecture)
$signed_by" && changed=1
  # Priority 100: nothing installed from bookworm moves to trixie on upgrade.
  write_if_changed "$TRIXIE_PIN" "Package: *
Pin: release n=trixie
Pin-Priority: 100" && changed=1
  if ((changed)); then
    log "wrote $TRIXIE_SOURCES and $TRIXIE_PIN (trixie at Pin-Priority 100)"
    apt_update
  else
    skip "trixie apt source already configured"
  fi
}

step_daemon_json() {
  mkdir -p "$(dirname "$DAEMON_JSON")"
  local before=""
  [[ -f $DAEMON_JSON ]] && before=$(cat "$DAEMON_JSON")
  # Merge rather than overwrite: an existing daemon.json may hold settings we must keep.
  if command -v python3 >/dev/null 2>&1; then
    python3 - "$DAEMON_JSON" <<'EOF'
import json, os, sys
path = sys.argv[1]
conf = {}
if os.path.exists(path) and os.path.getsize(path) > 0:
    with open(path) as f:
        conf = json.load(f)
conf.setdefault("features", {})["containerd-snapshotter"] = True
with open(path + ".tmp", "w") as f:
    json.dump(conf, f, indent=2)
    f.write("\n")
os.replace(path + ".tmp", path)
EOF
  elif command -v node >/dev/null 2>&1; then
    node - "$DAEMON_JSON" <<'EOF'
const fs = require("fs");
const path = process.argv[2];
const conf = fs.existsSync(path) && fs.statSync(path).size > 0 ? JSON.parse(fs.readFileSync(path, "utf8")) : {};
conf.features = { ...conf.features, "containerd-snapshotter": true };
fs.writeFileSync(path + ".tmp", JSON.stringify(conf, null, 2) + "\n");
fs.renameSync(path + ".tmp", path);
EOF
  else
    die "need python3 or node to merge $DAEMON_JSON"
  fi
  if [[ "$(cat "$DAEMON_JSON")" == "$before" ]]; then
    skip "containerd image store already enabled in $DAEMON_JSON"
  else
    log "enabled the containerd image store in $DAEMON_JSON"
    daemon_json_changed=1
  fi
}

step_install() {
  local missing
  mapfile -t missing < <(missing_packages "${TRIXIE_PACKAGES[@]}")
  if ((${#missing[@]})); then
    ((apt_updated)) || apt_update
    # pkg/trixie instead of `-t trixie`: -t raises every package apt touches to
    # trixie (libc6, python3, systemd, apt ...); pkg/trixie takes only the
    # dependencies whose bookworm version is too old (here: containerd).
    log "installing from trixie: ${missing[*]}"
    apt-get install -y -qq --no-install-recommends "${missing[@]/%//trixie}"
  else
    skip "already installed: ${TRIXIE_PACKAGES[*]}"
  fi
  mapfile -t missing < <(missing_packages "${HOST_PACKAGES[@]}")
  if ((${#missing[@]})); then
    ((apt_updated)) || apt_update
    log "installing: ${missing[*]}"
    apt-get install -y -qq --no-install-recommends "${missing[@]}"
  else
    skip "already installed: ${HOST_PACKAGES[*]}"
  fi
}

step_dockerd() {
  if pidof dockerd >/dev/null; then
    skip "dockerd already running (pid $(pidof dockerd))"
    if ((daemon_json_changed)); then
      log "WARNING: $DAEMON_JSON changed while dockerd runs; restart dockerd yourself to apply it"
    fi
  else
    log "starting dockerd in the background, log: $DOCKERD_LOG"
    # Own session: stopping whatever ran this script must not take dockerd along.
    setsid nohup dockerd >>"$DOCKERD_LOG" 2>&1 </dev/null &
  fi
  local deadline=$((SECONDS + DOCKERD_TIMEOUT_S))
  until docker info >/dev/null 2>&1; do
    if ((SECONDS >= deadline)); then
      printf '[setup-docker] error: docker info still failing after %ss; last lines of %s:\n' \
        "$DOCKERD_TIMEOUT_S" "$DOCKERD_LOG" >&2
      tail -n 30 "$DOCKERD_LOG" >&2 || true
      exit 1
    fi
    sleep 1
  done
  local driver
  driver=$(docker info --format '{{.Driver}}')
  log "docker is up: server $(docker version --format '{{.Server.Version}}'), storage driver $driver"
  [[ $driver == overlayfs || $driver == *snapshotter* || $driver == native ]] ||
    log "WARNING: storage driver '$driver' is not a containerd snapshotter; multi-platform --load will fail"
}

step_binfmt() {
  local dir=/proc/sys/fs/binfmt_misc
  if [[ -f $dir/register ]]; then
    skip "binfmt_misc already mounted"
  else
    log "mounting binfmt_misc"
    mount -t binfmt_misc binfmt_misc "$dir"
  fi
  if grep -q '^enabled' "$dir/qemu-aarch64" 2>/dev/null; then
    skip "qemu-aarch64 already registered"
  else
    log "enabling qemu-aarch64"
    update-binfmts --enable qemu-aarch64 ||
      update-binfmts --import qemu-aarch64
  fi
  grep -q '^enabled' "$dir/qemu-aarch64" || die "qemu-aarch64 is not enabled in $dir"
  # F (fix binary): the kernel opens the interpreter now, so it works inside
  # containers whose filesystem has no qemu.
  grep -q '^flags:.*F' "$dir/qemu-aarch64" ||
    die "qemu-aarch64 is registered without the F flag; arm64 containers cannot find the interpreter"
  log "qemu-aarch64: $(grep -E '^(interpreter|flags)' "$dir/qemu-aarch64" | tr '\n' ' ')"
}

daemon_json_changed=0
step_trixie_source
step_daemon_json
step_install
step_binfmt
step_dockerd
log "docker compose $(docker compose version --short), buildx $(docker buildx version | awk '{print $2}')"
log "done"
