#!/bin/sh
# Entrypoint of the test stand-in for the official "memcached" image: a first argument that
# is an option ("-m 128") runs memcached with it; anything else runs as it is.
set -e

if [ "${1#-}" != "$1" ]; then
  set -- memcached "$@"
fi

exec "$@"
