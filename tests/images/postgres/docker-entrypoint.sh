#!/bin/bash
# Entrypoint of the test stand-in for the official "postgres:17" image.
#
# Contract, as documented for the official image (what is left out: see the Dockerfile):
#   - the server command is the default CMD "postgres", or the arguments when they start with
#     "-" (`docker run IMAGE -c fsync=off`); any other command just runs
#   - started as root: take ownership of PGDATA (a root-owned bind mount works), then re-run
#     this script as user postgres; started as another uid, use that uid as it is
#   - on FIRST start only (no "$PGDATA/PG_VERSION"): initdb, open pg_hba.conf to the network
#     with a password method, create POSTGRES_DB, run /docker-entrypoint-initdb.d/*, all in a
#     temporary server that listens on no TCP port, so nothing outside sees a half-made database
#   - finally exec the server: it is PID 1, and SIGINT (the image's STOPSIGNAL) is its fast,
#     clean shutdown
set -Eeo pipefail
shopt -s nullglob

# usage: file_env VAR [DEFAULT]
# VAR or VAR_FILE (a file holding the value, for Docker secrets), not both.
file_env() {
  local var=$1 file_var="$1_FILE" def=${2:-}
  if [ -n "${!var:-}" ] && [ -n "${!file_var:-}" ]; then
    echo "error: both $var and $file_var are set (but are exclusive)" >&2
    exit 1
  fi
  local val=$def
  if [ -n "${!var:-}" ]; then
    val=${!var}
  elif [ -n "${!file_var:-}" ]; then
    val=$(<"${!file_var}")
  fi
  export "$var"="$val"
  unset "$file_var"
}

setup_env() {
  file_env POSTGRES_PASSWORD
  file_env POSTGRES_USER postgres
  file_env POSTGRES_DB "$POSTGRES_USER"
  file_env POSTGRES_INITDB_ARGS
  : "${POSTGRES_HOST_AUTH_METHOD:=}"
  DATABASE_ALREADY_EXISTS=
  if [ -s "$PGDATA/PG_VERSION" ]; then
    DATABASE_ALREADY_EXISTS=true
  fi
}

# Directories, and their owner when started as root (`docker run --user` works without it).
create_directories() {
  mkdir -p "$PGDATA"
  # PostgreSQL refuses a data directory that others may read; failure shows up later if it matters.
  chmod 0700 "$PGDATA" || :
  mkdir -p /var/run/postgresql || :
  chmod 03775 /var/run/postgresql || :
  if [ -n "${POSTGRES_INITDB_WALDIR:-}" ]; then
    mkdir -p "$POSTGRES_INITDB_WALDIR"
    if [ "$(id -u)" = 0 ]; then
      find "$POSTGRES_INITDB_WALDIR" \! -user postgres -exec chown postgres {} +
    fi
    chmod 700 "$POSTGRES_INITDB_WALDIR"
  fi
  if [ "$(id -u)" = 0 ]; then
    # Only what is not already postgres's: cheaper than chown -R on a large data directory.
    find "$PGDATA" \! -user postgres -exec chown postgres {} +
    find /var/run/postgresql \! -user postgres -exec chown postgres {} +
  fi
}

verify_minimum_env() {
  if [ -z "$POSTGRES_PASSWORD" ] && [ "$POSTGRES_HOST_AUTH_METHOD" != trust ]; then
    cat >&2 <<-'EOE'
	Error: Database is uninitialized and superuser password is not specified.
	       You must specify POSTGRES_PASSWORD to a non-empty value for the
	       superuser. For example, "-e POSTGRES_PASSWORD=password" on "docker run".

	       You may also use "POSTGRES_HOST_AUTH_METHOD=trust" to allow all
	       connections without a password. This is *not* recommended.
	EOE
    exit 1
  fi
  if [ "$POSTGRES_HOST_AUTH_METHOD" = trust ]; then
    echo 'WARNING: POSTGRES_HOST_AUTH_METHOD has been set to "trust": anyone who reaches the port gets in without a password.' >&2
  fi
}

# initdb insists that the current uid has a passwd entry. A `user:` uid has none in this image,
# so lend it one through nss_wrapper (LD_PRELOAD) for the length of initdb, as the official image does.
NSS_WRAPPED=
nss_wrapper_on() {
  getent passwd "$(id -u)" >/dev/null 2>&1 && return 0
  local wrapper
  for wrapper in /usr/lib/*/libnss_wrapper.so /usr/lib/libnss_wrapper.so /lib/*/libnss_wrapper.so; do
    [ -s "$wrapper" ] || continue
    NSS_WRAPPER_PASSWD=$(mktemp)
    NSS_WRAPPER_GROUP=$(mktemp)
    export LD_PRELOAD=$wrapper NSS_WRAPPER_PASSWD NSS_WRAPPER_GROUP
    printf 'postgres:x:%s:%s:PostgreSQL:%s:/bin/false\n' "$(id -u)" "$(id -g)" "$PGDATA" >"$NSS_WRAPPER_PASSWD"
    printf 'postgres:x:%s:\n' "$(id -g)" >"$NSS_WRAPPER_GROUP"
    NSS_WRAPPED=1
    return 0
  done
}
nss_wrapper_off() {
  [ -n "$NSS_WRAPPED" ] || return 0
  rm -f "$NSS_WRAPPER_PASSWD" "$NSS_WRAPPER_GROUP"
  unset LD_PRELOAD NSS_WRAPPER_PASSWD NSS_WRAPPER_GROUP
  NSS_WRAPPED=
}

init_database_dir() {
  nss_wrapper_on
  local args=()
  if [ -n "${POSTGRES_INITDB_WALDIR:-}" ]; then
    args+=(--waldir "$POSTGRES_INITDB_WALDIR")
  fi
  # POSTGRES_INITDB_ARGS is a shell-quoted argument string, as in the official image.
  local extra=()
  eval "extra=($POSTGRES_INITDB_ARGS)"
  # --pwfile needs a line, even for an empty password (trust).
  initdb --username="$POSTGRES_USER" --pwfile=<(printf '%s\n' "$POSTGRES_PASSWORD") \
    "${args[@]}" "${extra[@]}"
  nss_wrapper_off
}

# Network access: every database, every user, from anywhere, with the password method the
# server encrypts passwords for (scram-sha-256), unless POSTGRES_HOST_AUTH_METHOD says otherwise.
setup_hba_conf() {
  [ "$1" != postgres ] || shift
  local method=$POSTGRES_HOST_AUTH_METHOD
  if [ -z "$method" ]; then
    method=$(postgres -C password_encryption "$@")
  fi
  {
    echo
    if [ "$method" = trust ]; then
      echo '# warning: trust is enabled for all connections'
    fi
    echo "host all all all $method"
  } >>"$PGDATA/pg_hba.conf"
}

# usage: docker_process_sql [psql args] <SQL   (same name as in the official image, for
# sourced initdb.d scripts; "${psql[@]}" works too)
docker_process_sql() {
  local runner=(psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --no-password --no-psqlrc)
  if [ -n "$POSTGRES_DB" ]; then
    runner+=(--dbname "$POSTGRES_DB")
  fi
  PGHOST= PGHOSTADDR= "${runner[@]}" "$@"
}

temp_server_start() {
  [ "$1" != postgres ] || shift
  set -- "$@" -c listen_addresses='' -p "${PGPORT:-5432}"
  NOTIFY_SOCKET= PGUSER=${PGUSER:-$POSTGRES_USER} \
    pg_ctl -D "$PGDATA" -o "$(printf '%q ' "$@")" -w start
}

temp_server_stop() {
  PGUSER=${PGUSER:-postgres} pg_ctl -D "$PGDATA" -m fast -w stop
}

setup_db() {
  local exists
  exists=$(POSTGRES_DB= docker_process_sql --dbname postgres --set db="$POSTGRES_DB" --tuples-only \
    <<<"SELECT 1 FROM pg_database WHERE datname = :'db' ;")
  if [ -z "$exists" ]; then
    POSTGRES_DB= docker_process_sql --dbname postgres --set db="$POSTGRES_DB" <<<'CREATE DATABASE :"db" ;'
    echo
  fi
}

process_init_files() {
  # shellcheck disable=SC2034  # for sourced scripts written for the official image
  psql=(docker_process_sql)
  echo
  local f
  for f; do
    case "$f" in
      *.sh)
        if [ -x "$f" ]; then
          echo "$0: running $f"
          "$f"
        else
          echo "$0: sourcing $f"
          # shellcheck disable=SC1090
          . "$f"
        fi
        ;;
      *.sql) echo "$0: running $f"; docker_process_sql -f "$f"; echo ;;
      *.sql.gz) echo "$0: running $f"; gunzip -c "$f" | docker_process_sql; echo ;;
      *.sql.xz) echo "$0: running $f"; xzcat "$f" | docker_process_sql; echo ;;
      *.sql.zst) echo "$0: running $f"; zstd -dc "$f" | docker_process_sql; echo ;;
      *) echo "$0: ignoring $f" ;;
    esac
    echo
  done
}

want_help() {
  local arg
  for arg; do
    case "$arg" in
      -'?' | --help | --describe-config | -V | --version) return 0 ;;
    esac
  done
  return 1
}

main() {
  if [ "${1:0:1}" = - ]; then
    set -- postgres "$@"
  fi
  if [ "$1" = postgres ] && ! want_help "$@"; then
    setup_env
    create_directories
    if [ "$(id -u)" = 0 ]; then
      exec gosu postgres "${BASH_SOURCE[0]}" "$@"
    fi
    if [ -z "$DATABASE_ALREADY_EXISTS" ]; then
      verify_minimum_env
      # Fails here, before initdb, if the directory is unreadable (a half-made database is worse).
      ls /docker-entrypoint-initdb.d/ >/dev/null
      init_database_dir
      setup_hba_conf "$@"
      # psql needs it when POSTGRES_INITDB_ARGS asks for password authentication on the socket.
      export PGPASSWORD=${PGPASSWORD:-$POSTGRES_PASSWORD}
      temp_server_start "$@"
      setup_db
      process_init_files /docker-entrypoint-initdb.d/*
      temp_server_stop
      unset PGPASSWORD
      printf '\nPostgreSQL init process complete; ready for start up.\n\n'
    else
      printf '\nPostgreSQL Database directory appears to contain a database; Skipping initialization\n\n'
    fi
  fi
  exec "$@"
}

main "$@"
