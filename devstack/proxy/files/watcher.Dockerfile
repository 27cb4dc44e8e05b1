# The devstack proxy's watcher, built locally by `devstack proxy start`: Debian's Python 3 with the
# Docker SDK, jinja2 and PyYAML (Debian packages), and devstack's own code, copied from the
# installed package into the build context. It holds the Docker socket and publishes no port.
# Debian's nginx is here only for `nginx -t`: each generation of the configuration is tested with the
# same nginx package the proxy runs, before the proxy ever loads it (no `docker exec` per change).
FROM debian:trixie-slim
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      python3 python3-docker python3-jinja2 python3-yaml nginx \
 && rm -rf /var/lib/apt/lists/* /etc/nginx/sites-enabled/default
COPY devstack /opt/devstack/devstack
ENV PYTHONPATH=/opt/devstack PYTHONUNBUFFERED=1
RUN python3 -m compileall -q /opt/devstack \
 && python3 -c "import docker, jinja2, yaml, devstack.proxy.watcher, devstack.proxy.api, devstack.proxy.meta"
ENTRYPOINT ["python3", "-m", "devstack.proxy.watcher"]
