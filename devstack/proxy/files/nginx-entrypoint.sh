#!/bin/sh
# Wait for the watcher's first configuration, then run nginx in the foreground as PID 1
# (SIGHUP reloads it gracefully; SIGQUIT stops it gracefully).
set -eu
conf=/etc/devstack-proxy/live/nginx.conf
waited=0
while [ ! -e "$conf" ]; do
  if [ "$waited" -eq 0 ]; then echo "devstack proxy: waiting for the watcher to write $conf" >&2; fi
  waited=1
  sleep 0.2
done
exec nginx -c "$conf" -g 'daemon off;'
