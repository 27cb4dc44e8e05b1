# The devstack proxy's nginx: Debian's nginx (and inotify-tools), built locally by `devstack proxy start`.
#
# It never holds the Docker socket. The watcher (its own container) writes each generation of the
# configuration into a volume shared read-only with this container, tests it with `nginx -t` and
# switches a link to it; the entrypoint notices the switch (inotify) and reloads nginx with SIGHUP.
FROM debian:trixie-slim
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends nginx inotify-tools \
 && rm -rf /var/lib/apt/lists/* /etc/nginx/sites-enabled/default \
 && ln -sf /dev/stderr /var/log/nginx/error.log
COPY nginx-entrypoint.sh /usr/local/bin/devstack-proxy-nginx
EXPOSE 80
ENTRYPOINT ["/bin/sh", "/usr/local/bin/devstack-proxy-nginx"]
