#!/bin/bash
# healthcheck.sh of the "mariadb:11.8" test stand-in: the documented interface of the official
# image's script (https://mariadb.com/kb/en/using-healthcheck-sh/), for the tests that matter
# to a development stack.
#
# usage: healthcheck.sh [OPTION | TEST]...   e.g. healthcheck.sh --connect --innodb_initialized
#
# Tests, run in the order given; the first that fails makes the script exit 1:
#   --connect                    the server accepts TCP connections (it is past initialisation:
#                                the entrypoint's temporary server runs without networking).
#                                Access denied still counts: it proves the server answered.
#   --innodb_initialized         InnoDB finished starting (crash recovery included)
#   --innodb_buffer_pool_loaded  the buffer pool load at startup completed
#   --mariadbupgrade             no mariadb-upgrade is running
# Unless one of them was --connect (or --no-connect was given), a connect test ends the run,
# as in the official script, so a healthy answer always means "reachable over the network".
# Options, applied to the tests after them:
#   --defaults-file=F --defaults-extra-file=F --defaults-group-suffix=S --no-defaults
#   --datadir=DIR (default /var/lib/mysql)   --su=USER --su USER --su-mysql (re-run as USER)
# By default the client reads DATADIR/.my-healthcheck.cnf, which the entrypoint writes on first
# start with the credentials of the healthcheck@localhost users it creates.
# Not implemented (the stand-in runs no cluster): --galera_online, --galera_ready, --replication*.
set -Euo pipefail

datadir=/var/lib/mysql
defaults_file=
extra_file=
group_suffix=
no_defaults=
connected=

client() {
  local args=()
  if [ -n "$no_defaults" ]; then
    args+=(--no-defaults)
  else
    [ -z "$defaults_file" ] || args+=(--defaults-file="$defaults_file")
    if [ -n "$extra_file" ]; then
      args+=(--defaults-extra-file="$extra_file")
    elif [ -f "$datadir/.my-healthcheck.cnf" ]; then
      args+=(--defaults-extra-file="$datadir/.my-healthcheck.cnf")
    fi
    [ -z "$group_suffix" ] || args+=(--defaults-group-suffix="$group_suffix")
  fi
  mariadb "${args[@]}" --skip-ssl --skip-ssl-verify-server-cert --batch --skip-column-names "$@"
}

sql() {
  client --protocol=socket -e "$1" 2>/dev/null
}

test_connect() {
  local out
  # Over the socket first: it answers whether networking is on.
  if out=$(sql 'SELECT @@skip_networking'); then
    [ "$out" = 0 ]
    return
  fi
  # No socket answer (another user, no password): try TCP and read the error.
  out=$(client --protocol=tcp -h localhost --skip-print-query-on-error -e 'SELECT @@skip_networking' 2>&1)
  case "$out" in
    0) return 0 ;;
    1) return 1 ;;
    'ERROR 2002 '* | 'ERROR 2003 '* | 'ERROR 2013 '*) return 1 ;; # nothing listening
    'ERROR 1045 '* | 'ERROR 1698 '* | 'ERROR 1820 '* | 'ERROR 4151 '* | 'ERROR 1226 '* | 'ERROR 1'[0-9][0-9][0-9]' (28000)'*)
      return 0 ;; # the server answered (access denied, expired, locked, over a limit)
    *)
      echo "Unknown error $out" >&2
      return 1
      ;;
  esac
}

test_innodb_initialized() {
  [ "$(sql "SELECT 1 FROM information_schema.ENGINES WHERE engine = 'innodb' AND support IN ('YES', 'DEFAULT', 'ENABLED')")" = 1 ]
}

test_innodb_buffer_pool_loaded() {
  [[ "$(sql "SELECT VARIABLE_VALUE FROM information_schema.GLOBAL_STATUS WHERE VARIABLE_NAME = 'Innodb_buffer_pool_load_status'")" == *'load completed'* ]]
}

test_mariadbupgrade() {
  local f="$datadir/mariadb_upgrade_info"
  [ -r "$f" ] || return 0
  flock --exclusive --nonblock 9 9<"$f"
}

run_test() {
  local name=$1
  case "$name" in
    connect | innodb_initialized | innodb_buffer_pool_loaded | mariadbupgrade) ;;
    galera_online | galera_ready | replication*)
      echo "healthcheck $name is not implemented by this stand-in" >&2
      exit 1
      ;;
    *)
      echo "healthcheck unknown option or test '$name'" >&2
      exit 1
      ;;
  esac
  if ! "test_$name"; then
    echo "healthcheck $name failed" >&2
    exit 1
  fi
  if [ "$name" = connect ]; then connected=1; fi
}

if [ $# -eq 0 ]; then
  echo "At least one argument required" >&2
  exit 1
fi

while [ $# -gt 0 ]; do
  case "$1" in
    --su=*) u=${1#*=}; shift; exec gosu "$u" "${BASH_SOURCE[0]}" "$@" ;;
    --su) u=${2:?--su needs a user}; shift 2; exec gosu "$u" "${BASH_SOURCE[0]}" "$@" ;;
    --su-mysql) shift; exec gosu mysql "${BASH_SOURCE[0]}" "$@" ;;
    --datadir=*) datadir=${1#*=} ;;
    --datadir) datadir=${2:?--datadir needs a directory}; shift ;;
    --no-defaults) no_defaults=1 defaults_file= extra_file= group_suffix= ;;
    --defaults-file=*) defaults_file=${1#*=} no_defaults= ;;
    --defaults-extra-file=*) extra_file=${1#*=} no_defaults= ;;
    --defaults-group-suffix=*) group_suffix=${1#*=} no_defaults= ;;
    --defaults-file | --defaults-extra-file | --defaults-group-suffix)
      value=${2:?$1 needs a value}
      case "$1" in
        --defaults-file) defaults_file=$value ;;
        --defaults-extra-file) extra_file=$value ;;
        --defaults-group-suffix) group_suffix=$value ;;
      esac
      no_defaults=
      shift
      ;;
    --no-connect) connected=1 ;;
    --*) run_test "${1#--}" ;;
    *)
      echo "Unknown healthcheck option $1" >&2
      exit 1
      ;;
  esac
  shift
done

if [ -z "$connected" ]; then
  test_connect
  exit
fi
exit 0
