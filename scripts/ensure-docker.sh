#!/usr/bin/env bash
# Make a Docker engine, Compose v2 (plugin) and Compose v1 available on this machine.
#
# Idempotent: if everything already answers, it returns in well under a second.
# On Debian as root it installs what is missing and starts dockerd:
#   - Docker Engine 26.1 from Debian 13 (docker.io, docker-cli, docker-buildx), close to the
#     27-29 users run; healthcheck `start_interval` needs Engine 25+. On Debian 12 the trixie
#     archive is added with a low pin (priority 100), so nothing else is upgraded from it.
#     An older engine that is running is stopped and replaced (images and volumes are kept).
#   - docker-compose v1 from the release's own archive (v1 compatibility tests),
#   - the Compose v2 plugin from Debian 13's package.
# Anywhere else it says what is missing and exits non-zero.
set -euo pipefail

log() { printf 'ensure-docker: %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }

MIN_ENGINE_MAJOR=25
have_engine() { docker info >/dev/null 2>&1; }
major_of() { sed -E 's/^[^0-9]*([0-9]+)\..*/\1/;t;s/.*/0/'; }
engine_major() { docker version --format '{{.Server.Version}}' 2>/dev/null | major_of; }
dockerd_major() { dockerd --version 2>/dev/null | major_of; }
have_new_engine() { have_engine && [ "$(engine_major)" -ge "$MIN_ENGINE_MAJOR" ]; }
have_v2() { docker compose version >/dev/null 2>&1; }
have_v1() { command -v docker-compose >/dev/null 2>&1 && docker-compose version >/dev/null 2>&1; }
have_tools() { command -v debootstrap >/dev/null 2>&1 && [ -x /bin/busybox ] && busybox_is_static; }
busybox_is_static() { [ -x /usr/bin/busybox-static ] || dpkg -s busybox-static >/dev/null 2>&1; }

if have_new_engine && have_v2 && have_v1 && have_tools; then
  exit 0
fi

can_install() { [ "$(id -u)" = 0 ] && [ -f /etc/debian_version ] && command -v apt-get >/dev/null; }

apt_updated=""
apt_update() {
  if [ -z "$apt_updated" ]; then
    log "apt-get update"
    apt-get update -qq >/dev/null
    apt_updated=1
  fi
}
apt_install() {
  apt_update
  log "installing $*"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

. /etc/os-release 2>/dev/null || true
on_trixie_or_later() { [ "${VERSION_CODENAME:-}" = trixie ] || [ "${VERSION_CODENAME:-}" = forky ]; }
# Debian 12: add Debian 13 as a source with a low pin, so only what is asked for comes from it.
add_trixie_source() {
  on_trixie_or_later && return 0
  local src=/etc/apt/sources.list.d/devstack-trixie.list pin=/etc/apt/preferences.d/devstack-trixie
  if [ ! -f "$src" ]; then
    echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian trixie main" >"$src"
    printf 'Package: *\nPin: release n=trixie\nPin-Priority: 100\n' >"$pin"
    apt_updated=""
  fi
}

if ! have_tools; then
  can_install || die "debootstrap and busybox-static are needed to build test images; install them (apt-get install debootstrap busybox-static)"
  apt_install debootstrap busybox-static ca-certificates
fi

if ! command -v dockerd >/dev/null 2>&1 || [ "$(dockerd_major)" -lt "$MIN_ENGINE_MAJOR" ]; then
  if can_install; then
    if on_trixie_or_later; then
      apt_install docker.io iptables
    else
      add_trixie_source
      apt_install iptables
      log "installing Docker Engine from Debian 13 (docker.io docker-cli docker-buildx)"
      apt_update
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends -t trixie \
        docker.io docker-cli docker-buildx >/dev/null
    fi
  elif ! command -v dockerd >/dev/null 2>&1 && ! have_engine; then
    die "no Docker engine answers and this is not Debian as root: install and start Docker, then re-run"
  else
    log "the Docker engine is older than $MIN_ENGINE_MAJOR: healthchecks' start_interval is ignored (slower start-up)"
  fi
fi

if ! have_v1; then
  if can_install; then
    # Debian 12's docker-compose is Compose v1 (1.29.2); keep it for v1 compatibility tests.
    apt_install docker-compose
  else
    log "Compose v1 (docker-compose) is not installed: v1 tests will be skipped"
  fi
fi

if ! have_v2; then
  can_install || die "the Compose v2 plugin ('docker compose') is missing: install docker-compose-plugin"
  # Debian 12 has no Compose v2; Debian 13 ships it as package docker-compose. Add trixie with
  # a low pin so nothing else is upgraded from it, download only that package and unpack it.
  if on_trixie_or_later; then
    apt_install docker-compose
  else
    add_trixie_source
    apt_update
    tmp=$(mktemp -d)
    chmod 755 "$tmp"  # apt downloads as user _apt
    (cd "$tmp" && apt-get download -qq docker-compose/trixie >/dev/null)
    dpkg -x "$tmp"/docker-compose_*.deb "$tmp/x"
    install -D -m 0755 "$tmp/x/usr/libexec/docker/cli-plugins/docker-compose" \
      /usr/libexec/docker/cli-plugins/docker-compose
    rm -rf "$tmp"
  fi
  have_v2 || die "installed the Compose v2 plugin but 'docker compose version' still fails"
fi

# A running engine older than the installed one (docker.io was just upgraded): replace it.
# Containers stop with it; images and volumes in /var/lib/docker are kept.
if have_engine && [ "$(engine_major)" -lt "$(dockerd_major)" ] && [ "$(id -u)" = 0 ] \
  && pgrep -x dockerd >/dev/null 2>&1; then
  log "stopping dockerd $(docker version --format '{{.Server.Version}}') to start the installed $(dockerd --version | cut -d, -f1)"
  pkill -x dockerd || true
  for _ in $(seq 1 60); do
    pgrep -x dockerd >/dev/null 2>&1 || break
    sleep 0.5
  done
  pgrep -x dockerd >/dev/null 2>&1 && die "the old dockerd did not stop within 30 s"
  rm -f /var/run/docker.pid
fi

if ! have_engine; then
  if [ -S /var/run/docker.sock ] && pgrep -x dockerd >/dev/null 2>&1; then
    log "dockerd is running but does not answer yet"
  else
    [ "$(id -u)" = 0 ] || die "the Docker engine is not running and only root can start it here: start dockerd (or Docker Desktop)"
    log "starting dockerd (log: /var/log/dockerd.log)"
    setsid nohup dockerd >/var/log/dockerd.log 2>&1 </dev/null &
  fi
  for _ in $(seq 1 120); do
    have_engine && break
    sleep 0.5
  done
  have_engine || die "dockerd did not answer within 60 s; see /var/log/dockerd.log"
fi
log "engine $(docker version --format '{{.Server.Version}}'), $(docker compose version --short) (v2)$(have_v1 && printf ', %s (v1)' "$(docker-compose version --short 2>/dev/null)")"
