#!/bin/sh
# Entrypoint of the test stand-ins for the official "redis:8.0" and "valkey/valkey:8.1" images.
#
# One script for both: /etc/stand-in-flavour (written by each Dockerfile) names the server,
# "redis" or "valkey"; the server command is "<name>-server", its user "<name>" (uid 999).
# Contract, as documented for the official images:
#   - a first argument that is an option ("--appendonly yes") or a config file ("x.conf")
#     runs the server with it; any other command just runs
#   - started as root: take ownership of the working directory /data (a root-owned bind mount
#     works), then re-run as the server's user; started as any other uid, run as that uid
#   - umask 0077 unless one was set
#   - no config file that sets it: the server runs with --protected-mode no, so other
#     containers on the network may connect (Compose networks are private); a password
#     (`--requirepass`) is then the way to restrict access, as with the official images
set -e

name=$(cat /etc/stand-in-flavour)
server="$name-server"

if [ "${1#-}" != "$1" ] || [ "${1%.conf}" != "$1" ]; then
  set -- "$server" "$@"
fi

if [ "$1" = "$server" ] && [ "$(id -u)" = 0 ]; then
  find . \! -user "$name" -exec chown "$name" '{}' +
  exec gosu "$name" "$0" "$@"
fi

if [ "$(umask)" = 0022 ]; then
  umask 0077
fi

if [ "$1" = "$server" ]; then
  protected=1
  config=
  if [ -f "${2:-}" ]; then
    config=$2
    if grep -q '^protected-mode' "$config"; then protected=; fi
  fi
  if [ -n "$protected" ]; then
    shift
    [ -z "$config" ] || shift
    set -- --protected-mode no "$@"
    [ -z "$config" ] || set -- "$config" "$@"
    set -- "$server" "$@"
  fi
fi

exec "$@"
