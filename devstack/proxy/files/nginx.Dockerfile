# The devstack proxy's nginx: Debian's nginx and nothing else, built locally by `devstack proxy start`.
#
# It never holds the Docker socket. The watcher (its own container) writes each generation of the
# configuration into a volume shared read-only with this container, tests it here with `nginx -t`
# and reloads nginx with SIGHUP through the engine's API.
FROM debian:trixie-slim
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends nginx \
 && rm -rf /var/lib/apt/lists/* /etc/nginx/sites-enabled/default \
 && ln -sf /dev/stderr /var/log/nginx/error.log
COPY nginx-entrypoint.sh /usr/local/bin/devstack-proxy-nginx
EXPOSE 80
# SIGQUIT: nginx finishes the requests in flight before it exits.
STOPSIGNAL SIGQUIT
ENTRYPOINT ["/bin/sh", "/usr/local/bin/devstack-proxy-nginx"]
