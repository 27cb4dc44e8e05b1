#!/usr/bin/env bash
# The test command (README, and .ci/run): install what the tests need, then lint, type-check, test.
#   bash scripts/test.sh [pytest args...]
# On Debian as root it also installs and starts a Docker engine with Compose v2 and v1
# (scripts/ensure-docker.sh); the real-engine tests under tests/docker/ then run too.
set -euo pipefail
cd "$(dirname "$0")/.."

PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  if ! "$PY" -m venv .venv 2>/dev/null; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
      apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null
      rm -rf .venv && "$PY" -m venv .venv
    else
      echo "test.sh: cannot create a virtualenv: install python3-venv" >&2; exit 1
    fi
  fi
fi
.venv/bin/python -m pip install -q --disable-pip-version-check --upgrade pip 2>&1 | grep -v '^WARNING: Location' || true
.venv/bin/python -m pip install -q --disable-pip-version-check -e '.[test]' 2>&1 | grep -v '^WARNING: Location' || true
.venv/bin/python -c 'import devstack, pytest, check_jsonschema' # fail early if the install did not work

# php-cli lets the PHP-escaping tests run PHP itself (Debian package; skipped elsewhere).
if ! command -v php >/dev/null 2>&1 && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  (apt-get install -y -qq --no-install-recommends php-cli >/dev/null 2>&1 ||
    { apt-get update -qq && apt-get install -y -qq --no-install-recommends php-cli >/dev/null; }) ||
    echo "test.sh: could not install php-cli; PHP round-trip tests will skip" >&2
fi

# zsh and fish let the completion tests complete in the real shells (bash is always there).
missing_shells=""
for sh in zsh fish; do command -v "$sh" >/dev/null 2>&1 || missing_shells="$missing_shells $sh"; done
if [ -n "$missing_shells" ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  # shellcheck disable=SC2086
  (apt-get install -y -qq --no-install-recommends $missing_shells >/dev/null 2>&1 ||
    { apt-get update -qq && apt-get install -y -qq --no-install-recommends $missing_shells >/dev/null; }) ||
    echo "test.sh: could not install$missing_shells; their completion tests will skip" >&2
fi

if [ "$(id -u)" = 0 ] || docker info >/dev/null 2>&1; then
  if bash scripts/ensure-docker.sh; then
    # The test images, built (or found cached) here with no time limit: a cold build of every
    # stand-in takes 5-10 min on 2 cores, more on a busy machine.
    echo "== test images"; bash scripts/build-test-images.sh
  else
    echo "test.sh: no Docker engine; the docker tests will skip (or fail under CI=true)" >&2
  fi
fi

echo "== ruff"; .venv/bin/ruff check devstack tests benchmarks
echo "== ruff format"; .venv/bin/ruff format --check devstack tests benchmarks
echo "== mypy"; .venv/bin/mypy
echo "== pytest"; .venv/bin/python -m pytest "$@"
