#!/usr/bin/env bash
# Build the images devstack's real-engine tests use (tests/images/), or reuse them when cached.
#
# usage: scripts/build-test-images.sh [--force]
#
# No image registry is reachable where the tests run, so every image is built here:
#   debian:trixie-slim            debootstrap + docker import (tests/images/debian-trixie-slim)
#   devstack-test/busybox:latest  FROM scratch + the host's static busybox (tests/images/busybox)
#   mariadb:11.8                  stand-in for the official image (tests/images/mariadb)
#   mysql:8.4                     stand-in for the official image, MariaDB underneath (tests/images/mysql)
#   postgres:17, redis:8.0, valkey/valkey:8.1, nginx:1.26, python:3.13-slim, node:24-slim,
#   wordpress:6.8-php8.4-apache, memcached:1.6, rabbitmq:4.0-management, adminer:5,
#   maildev/maildev:3.0.0         stand-ins for the official images (tests/images/<name>)
#
# node:24-slim and maildev download from the npm registry during `docker build`. Behind a
# TLS-intercepting proxy the build needs its CA: the host's extra CA certificates
# (*.crt in ${DEVSTACK_BUILD_CA_DIR:-/usr/local/share/ca-certificates}) go into the build
# context as certs/, trusted by the build only (they are part of the cache hash too).
#
# Each image carries the label devstack.test.hash: a hash of exactly what it was built from (its
# build context, as a reproducible tar, plus the id of its base image). An image is rebuilt only
# when that hash changes, so a warm run takes well under 2 s. An image of the same name that this
# script did not build (no label, e.g. the real debian:trixie-slim or mariadb:11.8 pulled from a
# registry) is left alone and used as it is. --force rebuilds the images this script built.
# Prints one line per image: name, "built" / "cached" / "kept", seconds. The stand-ins build up to
# DEVSTACK_TEST_IMAGES_JOBS (default 3) at a time; 1 builds them one after the other.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
images="$repo/tests/images"
label=devstack.test.hash
# maildev/maildev's tag is the npm version its build context pins (tests/images/maildev).
MAILDEV_IMAGE=maildev/maildev:3.0.0

force=
for arg in "$@"; do
  case "$arg" in
    --force) force=1 ;;
    -h | --help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "${BASH_SOURCE[0]}"; exit 0 ;;
    *) echo "build-test-images: unknown argument '$arg' (try --help)" >&2; exit 2 ;;
  esac
done

"$repo/scripts/ensure-docker.sh"

# Concurrent runs (two terminals, pytest-xdist workers) wait for each other instead of
# building the same image twice.
exec 9>"${TMPDIR:-/tmp}/devstack-test-images.lock"
flock 9

work=$(mktemp -d "${TMPDIR:-/tmp}/devstack-test-images.XXXXXX")
trap 'rm -rf "$work"' EXIT

now_us() {
  local t=${EPOCHREALTIME:-$(date +%s.%N)}
  t=${t/[.,]/}
  echo "${t:0:16}"
}
report() { # NAME STATUS START_US
  local us=$(($(now_us) - $3))
  printf '%-30s %-7s %4d.%01ds\n' "$1" "$2" $((us / 1000000)) $((us % 1000000 / 100000))
}

# Reproducible tar of the given sources: same content and modes, same bytes (no mtimes or owners).
# usage: context_tar OUT (-C DIR PATH)...
context_tar() {
  local out=$1; shift
  tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner --mode=go-w --format=gnu \
    -cf "$out" "$@"
}

# What the engine has, asked once for every image this script knows (one docker call instead of
# two per image keeps a warm run fast): KNOWN_ID[name] and KNOWN_LABEL[name] ("" = no label).
declare -A KNOWN_ID=() KNOWN_LABEL=()
load_known_images() {
  local tags id lbl tag
  while read -r tags id lbl; do
    tags=${tags#[}; tags=${tags%]}
    [ "$lbl" = '<no value>' ] && lbl=
    for tag in $tags; do
      KNOWN_ID[$tag]=$id
      KNOWN_LABEL[$tag]=$lbl
    done
  done < <(docker image inspect --format "{{ .RepoTags }} {{ .Id }} {{ index .Config.Labels \"$label\" }}" \
    "$@" 2>/dev/null || true)
}
forget_image() { # IMAGE: ask the engine again next time (after a build)
  unset "KNOWN_ID[$1]" "KNOWN_LABEL[$1]"
  load_known_images "$1"
}

image_label() { # IMAGE -> the hash label ("" when unlabelled), exit 1 when there is no such image
  [ -n "${KNOWN_ID[$1]:-}" ] || return 1
  echo "${KNOWN_LABEL[$1]}"
}
image_id() {
  [ -n "${KNOWN_ID[$1]:-}" ] || { echo "build-test-images: no image $1" >&2; return 1; }
  echo "${KNOWN_ID[$1]}"
}

fail_build() { # IMAGE LOG
  echo "build-test-images: building $1 failed; last lines of its log:" >&2
  tail -n 40 "$2" >&2
  exit 1
}

# usage: ensure_image IMAGE CONTEXT_TAR BASE_IMAGE|- BUILD_FUNCTION
ensure_image() {
  local image=$1 ctx=$2 base=$3 build=$4 start hash current old_id=
  start=$(now_us)
  hash=$({ cat "$ctx"; [ "$base" = - ] || image_id "$base"; } | sha256sum | cut -c1-32)
  if current=$(image_label "$image"); then
    if [ -z "$current" ]; then
      report "$image" kept "$start"
      return
    fi
    if [ "$current" = "$hash" ] && [ -z "$force" ]; then
      report "$image" cached "$start"
      return
    fi
    old_id=$(image_id "$image")
  fi
  local log="$work/build-${image//[\/:]/_}.log"
  "$build" "$image" "$ctx" "$hash" >"$log" 2>&1 || fail_build "$image" "$log"
  forget_image "$image"
  # The replaced image is garbage now, unless a container or another tag still uses it.
  if [ -n "$old_id" ] && [ "$old_id" != "$(image_id "$image")" ]; then
    docker image rm "$old_id" >/dev/null 2>&1 || true
  fi
  report "$image" built "$start"
}

build_with_docker() { # IMAGE CONTEXT_TAR HASH
  docker build --force-rm --label "$label=$3" -t "$1" - <"$2"
}

build_debian() { # IMAGE CONTEXT_TAR HASH
  "$images/debian-trixie-slim/mkimage.sh" "$1" --change "LABEL $label=$3"
}

load_known_images debian:trixie-slim devstack-test/busybox:latest mariadb:11.8 mysql:8.4 postgres:17 \
  redis:8.0 valkey/valkey:8.1 nginx:1.26 python:3.13-slim node:24-slim wordpress:6.8-php8.4-apache \
  memcached:1.6 rabbitmq:4.0-management adminer:5 "$MAILDEV_IMAGE"

context_tar "$work/debian.tar" -C "$images/debian-trixie-slim" .
ensure_image debian:trixie-slim "$work/debian.tar" - build_debian

# Debian's busybox-static: /bin/busybox, or /usr/bin/busybox-static next to the dynamic busybox.
busybox=
for candidate in /usr/bin/busybox-static /bin/busybox "$(command -v busybox || true)"; do
  if [ -n "$candidate" ] && [ -x "$candidate" ]; then busybox=$candidate; break; fi
done
[ -n "$busybox" ] || { echo "build-test-images: no busybox; install Debian's busybox-static" >&2; exit 1; }
# A dynamically linked busybox would not run in an image without a C library.
if command -v ldd >/dev/null && ldd "$busybox" >/dev/null 2>&1; then
  echo "build-test-images: $busybox is dynamically linked; install Debian's busybox-static" >&2
  exit 1
fi
mkdir "$work/busybox"
cp "$busybox" "$work/busybox/busybox"
context_tar "$work/busybox.tar" -C "$images/busybox" . -C "$work/busybox" busybox
ensure_image devstack-test/busybox:latest "$work/busybox.tar" - build_with_docker

# The host's extra CA certificates, for the images that download from the npm registry.
mkdir "$work/certs"
echo "Extra CA certificates for this build (copied from the host by build-test-images.sh)." >"$work/certs/README"
ca_dir=${DEVSTACK_BUILD_CA_DIR:-/usr/local/share/ca-certificates}
if [ -d "$ca_dir" ]; then
  find "$ca_dir" -maxdepth 2 -name '*.crt' -type f -exec cp {} "$work/certs/" \;
fi

# usage: stand_in IMAGE DIR BASE_IMAGE [EXTRA_TAR_ARGS...]
stand_in() {
  local image=$1 dir=$2 base=$3
  shift 3
  local tar="$work/${dir//\//_}.tar"
  context_tar "$tar" -C "$images/$dir" . "$@"
  ensure_image "$image" "$tar" "$base" build_with_docker
}

# The stand-ins only need debian:trixie-slim (maildev needs node), so they build side by side:
# a cold build is mostly apt downloading (network) and dpkg unpacking (CPU), which overlap.
# Each group runs in order; DEVSTACK_TEST_IMAGES_JOBS groups at a time (default 3; 1 builds
# one after the other). A group's lines are printed when it ends.
max_jobs=${DEVSTACK_TEST_IMAGES_JOBS:-3}
group_pids=() group_names=()
group() { # NAME COMMAND...
  local name=$1; shift
  if [ "$max_jobs" -le 1 ]; then
    "$@"
    return
  fi
  while [ "$(jobs -rp | wc -l)" -ge "$max_jobs" ]; do sleep 0.2; done
  ("$@") >"$work/group-$name.out" 2>&1 &
  group_pids+=("$!")
  group_names+=("$name")
}
wait_groups() {
  local i failed=0
  for i in "${!group_pids[@]}"; do
    if wait "${group_pids[$i]}"; then
      cat "$work/group-${group_names[$i]}.out"
    else
      cat "$work/group-${group_names[$i]}.out" >&2
      failed=1
    fi
  done
  return "$failed"
}

# The two database stand-ins share one entrypoint (tests/images/mysql-common) and their first
# layer, so they build one after the other.
databases() {
  stand_in mariadb:11.8 mariadb debian:trixie-slim -C "$images" mysql-common
  stand_in mysql:8.4 mysql debian:trixie-slim -C "$images" mysql-common
}
key_value_stores() {
  stand_in redis:8.0 redis debian:trixie-slim -C "$images" redis-common
  stand_in valkey/valkey:8.1 valkey debian:trixie-slim -C "$images" redis-common
}
# MailDev from npm, on the node stand-in (its build trusts the host's extra CAs, as node's does).
node_images() {
  stand_in node:24-slim node debian:trixie-slim -C "$work" certs
  stand_in "$MAILDEV_IMAGE" maildev node:24-slim -C "$work" certs
}

# Longest first, so that the short ones fill in around them.
group wordpress stand_in wordpress:6.8-php8.4-apache wordpress debian:trixie-slim
group postgres stand_in postgres:17 postgres debian:trixie-slim
group rabbitmq stand_in rabbitmq:4.0-management rabbitmq debian:trixie-slim
group databases databases
group node node_images
group adminer stand_in adminer:5 adminer debian:trixie-slim
group nginx stand_in nginx:1.26 nginx debian:trixie-slim
group python stand_in python:3.13-slim python debian:trixie-slim
group memcached stand_in memcached:1.6 memcached debian:trixie-slim
group key-value key_value_stores
wait_groups
