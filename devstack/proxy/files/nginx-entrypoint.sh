#!/bin/sh
# The devstack proxy's nginx. Waits for the watcher's first configuration, runs nginx, and reloads
# it (SIGHUP: graceful, requests in flight finish) whenever the watcher switches the `live` link to
# a new, tested generation. Nothing outside this container signals nginx: a `docker kill -s HUP`
# would mark the container as stopped by hand, and `unless-stopped` would then not bring it back
# with the engine.
set -u
dir=/etc/devstack-proxy
conf=$dir/live/nginx.conf
announced=
while [ ! -e "$conf" ]; do
  [ -n "$announced" ] || echo "devstack proxy: waiting for the watcher to write $conf" >&2
  announced=1
  sleep 0.2
done
nginx -c "$conf" -g 'daemon off;' &
nginx=$!
watch=
trap 'kill -TERM "$nginx" 2>/dev/null; [ -z "$watch" ] || kill "$watch" 2>/dev/null' TERM INT
trap 'kill -QUIT "$nginx" 2>/dev/null; [ -z "$watch" ] || kill "$watch" 2>/dev/null' QUIT
current=$(readlink "$dir/live")
while kill -0 "$nginx" 2>/dev/null; do
  # The watcher renames a new link over `live`: wake up on that (or every 5 s, to notice an exit).
  inotifywait -qq -t 5 -e moved_to -e create "$dir" >/dev/null 2>&1 &
  watch=$!
  wait "$watch"
  watch=
  next=$(readlink "$dir/live" 2>/dev/null || echo "$current")
  if [ "$next" != "$current" ]; then
    current=$next
    kill -HUP "$nginx" 2>/dev/null
  fi
done
wait "$nginx"
