#!/bin/bash
# Entrypoint of the test stand-ins for the official "mariadb:11.8" and "mysql:8.4" images.
#
# One script for both: /etc/mysql/stand-in-flavour (written by each Dockerfile) says which
# official image's contract to follow. Both run Debian's MariaDB server underneath. What each
# flavour implements, and what it leaves out, is listed in its Dockerfile.
#
# Contract, as documented for the official images:
#   - the server command is the default CMD, or the arguments when they start with "-"
#     (`docker run IMAGE --character-set-server=utf8mb4`); any other command just runs
#   - started as root: take ownership of the data directory (a root-owned bind mount works)
#     and of the socket directory, then re-run this script as user mysql; started as any other
#     uid (`docker run --user`, compose `user:`), run as that uid: it must own the data directory
#   - on FIRST start only (no "$DATADIR/mysql"): create the system tables, set the root
#     password, create the database and user from the environment, run
#     /docker-entrypoint-initdb.d/*.sh|*.sql|*.sql.gz|*.sql.xz|*.sql.zst; a temporary server
#     without networking does this, so nothing outside the container sees a half-made server
#   - every later start leaves users, passwords and databases alone, whatever the environment says
#   - finally exec the server: it is PID 1 and SIGTERM is its normal, clean shutdown
set -Eeo pipefail
shopt -s nullglob

FLAVOUR=$(cat /etc/mysql/stand-in-flavour)
case "$FLAVOUR" in
  mariadb) SERVER_NAME=MariaDB ;;
  mysql) SERVER_NAME=MySQL ;;
  *) echo "docker-entrypoint.sh: unknown stand-in flavour '$FLAVOUR'" >&2; exit 1 ;;
esac

# --- logging, in the official images' format ---
_log() {
  local type=$1; shift
  printf '%s [%s] [Entrypoint]: %s\n' "$(date --rfc-3339=seconds)" "$type" "$*"
}
note() { _log Note "$@"; }
warn() { _log Warn "$@" >&2; }
die() { _log ERROR "$@" >&2; exit 1; }

# usage: file_env VAR [DEFAULT]
# VAR or VAR_FILE (a file holding the value, for Docker secrets), not both.
file_env() {
  local var=$1 file_var="$1_FILE" def=${2:-}
  if [ -n "${!var:-}" ] && [ -n "${!file_var:-}" ]; then
    die "Both $var and $file_var are set (but are exclusive)"
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

# usage: maria_env NAME [DEFAULT]  (mariadb flavour)
# MARIADB_NAME wins over its older alias MYSQL_NAME; afterwards both hold the same value so
# init scripts may read either.
maria_env() {
  local name=$1 def=${2:-}
  local mysql_var="MYSQL_$name" maria_var="MARIADB_$name"
  file_env "$mysql_var" "$def"
  file_env "$maria_var" "${!mysql_var}"
  export "$mysql_var"="${!maria_var}"
}

# usage: alias_flag MARIADB_VAR MYSQL_VAR  (flags without a _FILE form)
alias_flag() {
  local maria_var=$1 mysql_var=$2
  local val=${!maria_var:-${!mysql_var:-}}
  export "$maria_var"="$val" "$mysql_var"="$val"
}

# Read the environment into flavour-neutral names. Flags count as set when non-empty, as in
# the official images (so MYSQL_ALLOW_EMPTY_PASSWORD=no still allows it).
setup_env() {
  if [ "$FLAVOUR" = mariadb ]; then
    maria_env ROOT_HOST '%'
    maria_env DATABASE
    maria_env USER
    maria_env PASSWORD
    maria_env ROOT_PASSWORD
    alias_flag MARIADB_ALLOW_EMPTY_ROOT_PASSWORD MYSQL_ALLOW_EMPTY_PASSWORD
    alias_flag MARIADB_RANDOM_ROOT_PASSWORD MYSQL_RANDOM_ROOT_PASSWORD
    alias_flag MARIADB_INITDB_SKIP_TZINFO MYSQL_INITDB_SKIP_TZINFO
    ROOT_HOST=$MARIADB_ROOT_HOST DATABASE=$MARIADB_DATABASE
    DB_USER=$MARIADB_USER DB_PASSWORD=$MARIADB_PASSWORD ROOT_PASSWORD=$MARIADB_ROOT_PASSWORD
    ALLOW_EMPTY=$MARIADB_ALLOW_EMPTY_ROOT_PASSWORD RANDOM_ROOT=$MARIADB_RANDOM_ROOT_PASSWORD
    SKIP_TZINFO=$MARIADB_INITDB_SKIP_TZINFO
    ROOT_PASSWORD_VARS='MARIADB_ROOT_PASSWORD, MARIADB_ALLOW_EMPTY_ROOT_PASSWORD and MARIADB_RANDOM_ROOT_PASSWORD'
    USER_VAR=MARIADB_USER PASSWORD_VAR=MARIADB_PASSWORD
  else
    file_env MYSQL_ROOT_HOST '%'
    file_env MYSQL_DATABASE
    file_env MYSQL_USER
    file_env MYSQL_PASSWORD
    file_env MYSQL_ROOT_PASSWORD
    ROOT_HOST=$MYSQL_ROOT_HOST DATABASE=$MYSQL_DATABASE
    DB_USER=$MYSQL_USER DB_PASSWORD=$MYSQL_PASSWORD ROOT_PASSWORD=$MYSQL_ROOT_PASSWORD
    ALLOW_EMPTY=${MYSQL_ALLOW_EMPTY_PASSWORD:-} RANDOM_ROOT=${MYSQL_RANDOM_ROOT_PASSWORD:-}
    SKIP_TZINFO=${MYSQL_INITDB_SKIP_TZINFO:-}
    ROOT_PASSWORD_VARS='MYSQL_ROOT_PASSWORD, MYSQL_ALLOW_EMPTY_PASSWORD and MYSQL_RANDOM_ROOT_PASSWORD'
    USER_VAR=MYSQL_USER PASSWORD_VAR=MYSQL_PASSWORD
  fi
}

# --- server configuration, as the server itself resolves it (config files + arguments) ---
read_server_config() {
  local out errors
  errors=$(mktemp)
  if ! out=$("$@" --verbose --help 2>"$errors"); then
    die "$1 failed while attempting to check config"$'\n\t'"command was: $* --verbose --help"$'\n\t'"$(cat "$errors")"
  fi
  rm -f "$errors"
  # The table of values at the end: "name   value" lines that start in column 1.
  DATADIR=$(awk '/^[^ \t]/ && $1 == "datadir" { print $2; exit }' <<<"$out")
  SOCKET=$(awk '/^[^ \t]/ && $1 == "socket" { print $2; exit }' <<<"$out")
  PORT=$(awk '/^[^ \t]/ && $1 == "port" { print $2; exit }' <<<"$out")
  DATADIR=${DATADIR%/}
  SERVER_VERSION=$(awk 'NR == 1 { print $3; exit }' <<<"$out")
}

want_help() {
  local arg
  for arg; do
    case "$arg" in
      -'?' | --help | --print-defaults | -V | --version) return 0 ;;
    esac
  done
  return 1
}

# --- SQL helpers ---
# A value for a single-quoted SQL string literal.
sql_str() {
  local s=${1//\\/\\\\}
  s=${s//$'\n'/\\n}
  printf '%s' "${s//\'/\\\'}"
}
# A value for a backquoted identifier.
sql_ident() {
  printf '%s' "${1//\`/\`\`}"
}

# usage: docker_process_sql [--dont-use-mysql-root-password] [client args] <SQL
# Same name and behaviour as in the official images, for sourced initdb.d scripts.
docker_process_sql() {
  local password=$ROOT_PASSWORD
  if [ "${1:-}" = --dont-use-mysql-root-password ]; then
    password=
    shift
  fi
  if [ -n "$DATABASE" ]; then
    set -- --database="$DATABASE" "$@"
  fi
  MYSQL_PWD=$password mariadb --protocol=socket -uroot -hlocalhost --socket="$SOCKET" "$@"
}

random_password() {
  # 32 characters of base64: no quote or backslash to trip a shell or SQL string.
  head -c 24 /dev/urandom | base64
}

# --- first start ---
verify_minimum_env() {
  if [ -z "$ROOT_PASSWORD" ] && [ -z "$ALLOW_EMPTY" ] && [ -z "$RANDOM_ROOT" ]; then
    die $'Database is uninitialized and password option is not specified\n\tYou need to specify one of '"$ROOT_PASSWORD_VARS"
  fi
  if [ "$DB_USER" = root ]; then
    die "$USER_VAR=\"root\", $USER_VAR and $PASSWORD_VAR are for configuring a regular user and cannot be used for the root user"
  fi
  if [ -n "$DB_USER" ] && [ -z "$DB_PASSWORD" ]; then
    warn "$USER_VAR specified, but missing $PASSWORD_VAR; $USER_VAR will not be created"
  elif [ -z "$DB_USER" ] && [ -n "$DB_PASSWORD" ]; then
    warn "$PASSWORD_VAR specified, but missing $USER_VAR; $PASSWORD_VAR will be ignored"
  fi
}

init_database_dir() {
  note "Initializing database files"
  # Arguments of the server command go to the bootstrap server too (except those with spaces,
  # which mariadb-install-db cannot pass on).
  local args=() arg
  for arg in "${@:2}"; do
    if [[ "$arg" =~ [[:space:]] ]]; then
      warn "Not passing argument '$arg' to mariadb-install-db: it contains whitespace"
    else
      args+=("$arg")
    fi
  done
  local out
  if ! out=$(mariadb-install-db --datadir="$DATADIR" --rpm --auth-root-authentication-method=normal \
    "${args[@]}" --cross-bootstrap --skip-test-db --default-time-zone=SYSTEM \
    --enforce-storage-engine= --skip-log-bin --expire-logs-days=0 \
    --loose-innodb_buffer_pool_load_at_startup=0 --loose-innodb_buffer_pool_dump_at_shutdown=0 2>&1); then
    die "mariadb-install-db failed:"$'\n'"$out"
  fi
  note "Database files initialized"
}

TEMP_SERVER_PID=
temp_server_start() {
  "$@" --skip-networking --default-time-zone=SYSTEM --socket="$SOCKET" --wsrep_on=OFF \
    --expire-logs-days=0 --skip-slave-start --loose-innodb_buffer_pool_load_at_startup=0 \
    --skip-ssl --ssl-cert='' --ssl-key='' --ssl-ca='' &
  TEMP_SERVER_PID=$!
  note "Waiting for server startup"
  local i
  for ((i = 0; i < 300; i++)); do
    if docker_process_sql --dont-use-mysql-root-password --database=mysql <<<'SELECT 1' &>/dev/null; then
      return 0
    fi
    kill -0 "$TEMP_SERVER_PID" 2>/dev/null || die "Unable to start server (it exited; see the lines above)."
    sleep 0.1
  done
  die "Unable to start server (no answer within 30 s)."
}

temp_server_stop() {
  [ -n "$TEMP_SERVER_PID" ] || return 0
  kill "$TEMP_SERVER_PID"
  wait "$TEMP_SERVER_PID" || die "The temporary server did not shut down cleanly."
  TEMP_SERVER_PID=
}

# The official mariadb image's healthcheck users; healthcheck.sh reads the file written here.
healthcheck_users_sql() {
  local password grant=${MARIADB_HEALTHCHECK_GRANTS:-USAGE} host
  password=$(random_password)
  for host in 127.0.0.1 ::1 localhost; do
    echo "CREATE USER IF NOT EXISTS healthcheck@'$host' IDENTIFIED BY '$password';"
    echo "SET PASSWORD FOR healthcheck@'$host' = PASSWORD('$password');"
    echo "GRANT $grant ON *.* TO healthcheck@'$host';"
  done
  (
    umask 0077
    printf '[mariadb-client]\nport=%s\nsocket=%s\nuser=healthcheck\npassword=%s\n' \
      "$PORT" "$SOCKET" "$password" >"$DATADIR/.my-healthcheck.cnf"
  )
}

setup_db() {
  if [ -z "$SKIP_TZINFO" ]; then
    # --skip-write-binlog: time zone tables are local data, never replicated.
    mariadb-tzinfo-to-sql --skip-write-binlog /usr/share/zoneinfo 2>/dev/null \
      | docker_process_sql --dont-use-mysql-root-password --database=mysql
  fi
  if [ -n "$RANDOM_ROOT" ]; then
    ROOT_PASSWORD=$(random_password)
    if [ "$FLAVOUR" = mariadb ]; then
      export MARIADB_ROOT_PASSWORD=$ROOT_PASSWORD
    fi
    export MYSQL_ROOT_PASSWORD=$ROOT_PASSWORD
    note "GENERATED ROOT PASSWORD: $ROOT_PASSWORD"
  fi

  local root_pw root_host create_root='' create_db='' create_user='' grant_user='' healthcheck=''
  root_pw=$(sql_str "$ROOT_PASSWORD")
  root_host=$(sql_str "$ROOT_HOST")
  if [ -n "$ROOT_HOST" ] && [ "$ROOT_HOST" != localhost ]; then
    create_root="CREATE USER 'root'@'$root_host' IDENTIFIED BY '$root_pw';
      GRANT ALL ON *.* TO 'root'@'$root_host' WITH GRANT OPTION;
      GRANT PROXY ON ''@'%' TO 'root'@'$root_host' WITH GRANT OPTION;"
  fi
  if [ "$FLAVOUR" = mariadb ]; then
    healthcheck=$(healthcheck_users_sql)
  fi
  if [ -n "$DATABASE" ]; then
    note "Creating database $DATABASE"
    create_db="CREATE DATABASE IF NOT EXISTS \`$(sql_ident "$DATABASE")\`;"
  fi
  if [ -n "$DB_USER" ] && [ -n "$DB_PASSWORD" ]; then
    note "Creating user $DB_USER"
    create_user="CREATE USER '$(sql_str "$DB_USER")'@'%' IDENTIFIED BY '$(sql_str "$DB_PASSWORD")';"
    if [ -n "$DATABASE" ]; then
      note "Giving user $DB_USER access to schema $DATABASE"
      # "_" is a wildcard in a GRANT's database name: escape it to grant this database only.
      local grant_db=${DATABASE//_/\\_}
      grant_user="GRANT ALL ON \`$(sql_ident "$grant_db")\`.* TO '$(sql_str "$DB_USER")'@'%';"
    fi
  fi

  note "Securing system users (equivalent to running mysql_secure_installation)"
  docker_process_sql --dont-use-mysql-root-password --database=mysql --binary-mode <<-EOSQL
	SET @@SESSION.SQL_LOG_BIN=0;
	SET @@SESSION.SQL_MODE=REPLACE(@@SESSION.SQL_MODE, 'NO_BACKSLASH_ESCAPES', '');
	DROP USER IF EXISTS root@'127.0.0.1', root@'::1';
	EXECUTE IMMEDIATE CONCAT('DROP USER IF EXISTS root@\'', @@hostname, '\'');
	SET PASSWORD FOR 'root'@'localhost' = PASSWORD('$root_pw');
	$create_root
	$healthcheck
	$create_db
	$create_user
	$grant_user
	EOSQL
}

process_init_files() {
  # shellcheck disable=SC2034  # for sourced scripts written for the official images
  mysql=(docker_process_sql)
  local f
  for f; do
    case "$f" in
      *.sh)
        if [ -x "$f" ]; then
          note "$0: running $f"
          "$f"
        else
          note "$0: sourcing $f"
          # shellcheck disable=SC1090
          . "$f"
        fi
        ;;
      *.sql) note "$0: running $f"; docker_process_sql <"$f" ;;
      *.sql.gz) note "$0: running $f"; gunzip -c "$f" | docker_process_sql ;;
      *.sql.xz) note "$0: running $f"; xzcat "$f" | docker_process_sql ;;
      *.sql.zst) note "$0: running $f"; zstd -dc "$f" | docker_process_sql ;;
      *) warn "$0: ignoring $f" ;;
    esac
  done
}

expire_root() {
  if [ "$FLAVOUR" = mysql ] && [ -n "${MYSQL_ONETIME_PASSWORD:-}" ]; then
    docker_process_sql --database=mysql <<<"ALTER USER 'root'@'%' PASSWORD EXPIRE;"
  fi
}

# An initialisation that did not finish leaves "$DATADIR/mysql" behind; the official images
# would then start without the users and database. Say so instead.
INIT_MARKER=.stand-in-init-incomplete

init_database() {
  ls /docker-entrypoint-initdb.d/ >/dev/null
  : >"$DATADIR/$INIT_MARKER"
  # SIGTERM while initialising (`docker compose down` right after `up`): stop at once rather
  # than wait for the engine's SIGKILL 10 s later.
  trap 'warn "Interrupted during initialisation"; [ -z "$TEMP_SERVER_PID" ] || kill "$TEMP_SERVER_PID" 2>/dev/null; wait; exit 143' TERM INT
  init_database_dir "$@"
  note "Starting temporary server"
  temp_server_start "$@"
  note "Temporary server started."
  setup_db
  process_init_files /docker-entrypoint-initdb.d/*
  expire_root
  note "Stopping temporary server"
  temp_server_stop
  note "Temporary server stopped"
  trap - TERM INT
  rm -f "$DATADIR/$INIT_MARKER"
  echo
  note "$SERVER_NAME init process done. Ready for start up."
  echo
}

main() {
  # Arguments that start with "-" are options for the server.
  if [ "${1:0:1}" = - ]; then
    if [ "$FLAVOUR" = mariadb ]; then set -- mariadbd "$@"; else set -- mysqld "$@"; fi
  fi
  if { [ "$1" = mariadbd ] || [ "$1" = mysqld ]; } && ! want_help "$@"; then
    read_server_config "$@"
    note "Entrypoint script for $SERVER_NAME Server (test stand-in: MariaDB $SERVER_VERSION) started."
    setup_env

    if [ "$(id -u)" = 0 ]; then
      mkdir -p "$DATADIR"
      # Only what is not already ours: cheaper than chown -R on a large data directory.
      find "$DATADIR" \! -user mysql -exec chown --no-dereference mysql:mysql {} + \
        || warn "could not change the owner of everything in $DATADIR to mysql"
      mkdir -p "${SOCKET%/*}"
      chown mysql:mysql "${SOCKET%/*}" || true
      note "Switching to dedicated user 'mysql'"
      exec gosu mysql "${BASH_SOURCE[0]}" "$@"
    fi

    if [ -e "$DATADIR/$INIT_MARKER" ]; then
      die "The first start with this data directory ($DATADIR) was interrupted before it finished; users and databases may be missing. Remove the directory's contents (or the volume) and start again."
    fi
    if [ ! -d "$DATADIR/mysql" ]; then
      verify_minimum_env
      init_database "$@"
    fi
  fi
  exec "$@"
}

main "$@"
