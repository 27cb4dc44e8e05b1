#!/bin/bash
# Entrypoint of the test stand-in for the official "rabbitmq" image.
#   - started as root with a rabbitmq* command: take ownership of /var/lib/rabbitmq (for the
#     server), then re-run as user rabbitmq; started as another uid, run as it is
#   - RABBITMQ_DEFAULT_USER / _PASS / _VHOST are read by RabbitMQ itself; the variables the
#     official image no longer supports stop the container with a message, as there
#   - a hostname with a domain: use long node names, as the official image does
set -euo pipefail

if [[ "${1:-}" == rabbitmq* ]] && [ "$(id -u)" = 0 ]; then
  if [ "$1" = rabbitmq-server ]; then
    find /var/lib/rabbitmq \! -user rabbitmq -exec chown rabbitmq '{}' +
  fi
  exec gosu rabbitmq "${BASH_SOURCE[0]}" "$@"
fi

deprecated=()
for var in RABBITMQ_DEFAULT_PASS_FILE RABBITMQ_DEFAULT_USER_FILE RABBITMQ_ERLANG_COOKIE \
  RABBITMQ_VM_MEMORY_HIGH_WATERMARK "${!RABBITMQ_SSL_@}" "${!RABBITMQ_MANAGEMENT_SSL_@}"; do
  if [ -n "${!var:-}" ]; then deprecated+=("$var"); fi
done
if [ "${#deprecated[@]}" -gt 0 ]; then
  echo "error: RabbitMQ 3.9+ (and this image) no longer support these environment variables: ${deprecated[*]}" >&2
  echo "  set the equivalent options in a file in /etc/rabbitmq/conf.d/ instead" >&2
  exit 1
fi

if [ -z "${RABBITMQ_USE_LONGNAME:-}" ] && [ "$(hostname)" != "$(hostname -s)" ]; then
  export RABBITMQ_USE_LONGNAME=true
fi

exec "$@"
