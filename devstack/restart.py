"""`devstack restart`: apply configuration changes without a rebuild.

Where the server in a container can reload itself, it is asked to (connections in flight are
kept): Apache `apachectl graceful`, nginx `nginx -s reload`, PHP-FPM SIGUSR2 to its master.
Each checks its configuration first; a broken file is reported, with the server's own words,
and the running server keeps its old configuration. Other services get a container restart
(`compose restart`), which re-reads mounted files but not the compose file or `.env`: that
is `devstack up`'s job.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from devstack.errors import DevstackError, NotReady, UsageError
from devstack.project import Project

# Runs inside the container, as the service's user. Exit 0: reloaded (stdout names how);
# 20: the configuration test failed (its output follows); 21: no server that reloads itself.
RELOAD = r"""
has() { command -v "$1" >/dev/null 2>&1; }
named() {
  for d in /proc/[0-9]*; do
    [ "$(cat "$d/comm" 2>/dev/null)" = "$1" ] && return 0
  done
  return 1
}
if named apache2 || named httpd; then
  for ctl in apache2ctl apachectl; do
    if has "$ctl"; then
      out=$("$ctl" configtest 2>&1) || { printf '%s\n' "$out"; exit 20; }
      out=$("$ctl" graceful 2>&1) || { printf '%s\n' "$out"; exit 22; }
      echo "apache graceful"; exit 0
    fi
  done
fi
if named nginx && has nginx; then
  out=$(nginx -t 2>&1) || { printf '%s\n' "$out"; exit 20; }
  out=$(nginx -s reload 2>&1) || { printf '%s\n' "$out"; exit 22; }
  echo "nginx reload"; exit 0
fi
for d in /proc/[0-9]*; do
  comm=$(cat "$d/comm" 2>/dev/null)
  case "$comm" in
    php-fpm*)
      cmd=$(tr '\0' ' ' <"$d/cmdline" 2>/dev/null)
      case "$cmd" in
        *"master process"*)
          conf=$(printf '%s' "$cmd" | sed -n 's/.*master process (\(.*\)).*/\1/p')
          if has "$comm"; then
            if [ -n "$conf" ]; then set -- -t -y "$conf"; else set -- -t; fi
            out=$("$comm" "$@" 2>&1) || { printf '%s\n' "$out"; exit 20; }
          fi
          kill -USR2 "${d#/proc/}" || exit 22
          echo "php-fpm reload"; exit 0
          ;;
      esac
      ;;
  esac
done
exit 21
"""


class ConfigInvalid(DevstackError):
    """A server's configuration test failed: nothing was reloaded."""


@dataclass(frozen=True)
class Restarted:
    service: str
    how: str  # "apache graceful", "nginx reload", "php-fpm reload", "container restart"


Step = Callable[[str], None]


def _quiet(_message: str) -> None:
    return None


def restart(
    project: Project,
    services: Sequence[str] = (),
    *,
    timeout: float = 120.0,
    step: Step = _quiet,
) -> list[Restarted]:
    """Reload or restart SERVICES (default: every service with a container)."""
    from devstack import engine
    from devstack.compose import ComposeRunner

    runner = ComposeRunner(project)
    containers = engine.project_containers(project.name)
    have = sorted({c.service for c in containers})
    wanted = list(dict.fromkeys(services)) or have
    missing = [s for s in wanted if s not in have]
    if missing:
        from devstack.db import project_model

        defined = sorted(project_model(runner).get("services") or {})
        unknown = [s for s in missing if s not in defined]
        if unknown:
            raise UsageError(
                f"no service {unknown[0]!r} in this project",
                hint=f"services: {', '.join(defined) or 'none'}",
            )
        raise DevstackError(
            f"service {missing[0]} has no container yet",
            hint=f"start it with `devstack up {missing[0]}`",
        )
    if not wanted:
        raise DevstackError("nothing to restart: the project has no containers", hint="run `devstack up`")
    done: list[Restarted] = []
    plain: list[str] = []
    broken: list[tuple[str, str]] = []
    for service in wanted:
        running = [c for c in containers if c.service == service and c.state == "running"]
        if not running:
            plain.append(service)
            continue
        outcome = None
        for info in running:
            code, out, err = engine.exec_env(info.id, ["sh", "-c", RELOAD, "reload"])
            text = (out + err).strip()
            if code == 0:
                outcome = text.splitlines()[-1] if text else "reload"
            elif code == 20:
                broken.append((service, text))
                outcome = "broken"
                break
            else:  # 21: nothing reloads itself here; 22, 126, 127...: fall back to a restart
                outcome = None
                break
        if outcome == "broken":
            continue
        if outcome is None:
            plain.append(service)
        else:
            step(f"{service}: {outcome}")
            done.append(Restarted(service, outcome))
    if plain:
        step(f"restarting {', '.join(plain)}")
        runner.run("restart", *plain)  # no "--": Compose v1 takes it for a service
        _wait(project.name, plain, timeout)
        done += [Restarted(s, "container restart") for s in plain]
    if broken:
        service, output = broken[0]
        others = f" (and {', '.join(s for s, _ in broken[1:])})" if len(broken) > 1 else ""
        raise ConfigInvalid(
            f"{service}{others}: the configuration test failed; the server keeps running with its "
            "previous configuration",
            hint="fix the file the message names, then `devstack restart` again",
            details="\n".join(output.splitlines()[-12:]) or None,
        )
    return done


def _wait(project: str, services: Sequence[str], timeout: float) -> None:
    """Until the restarted services run (and are healthy where they have a healthcheck)."""
    from devstack import engine

    deadline = time.monotonic() + timeout
    while True:
        pending: list[Any] = []
        for info in engine.project_containers(project):
            if info.service not in services:
                continue
            if info.state in ("exited", "dead") and info.exit_code != 0:
                raise NotReady(
                    f"service {info.service} exited with code {info.exit_code} after the restart",
                    hint=f"see `devstack logs {info.service}`",
                )
            if info.health == "unhealthy":
                raise NotReady(f"service {info.service} is unhealthy after the restart")
            if info.state != "running" or info.health == "starting":
                pending.append(info.service)
        if not pending:
            return
        if time.monotonic() > deadline:
            raise NotReady(
                f"service {pending[0]} is not ready {timeout:.0f} s after the restart",
                hint=f"see `devstack logs {pending[0]}`",
            )
        time.sleep(0.25)
