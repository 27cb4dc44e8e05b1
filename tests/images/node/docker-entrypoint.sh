#!/bin/sh
# Entrypoint of the test stand-in for the official "node" image: run the command under node
# when the first argument is an option ("-e ...") or not a command ("server.js"), or is a
# file that exists but is not executable; otherwise run it as it is (npm, sh, ...).
set -e

if [ "${1#-}" != "$1" ] || [ -z "$(command -v "$1" || true)" ] || { [ -f "$1" ] && ! [ -x "$1" ]; }; then
  set -- node "$@"
fi

exec "$@"
