"""Runtime checks on a started stack: links resolve and connect from inside, required vars are set.

Each dependency edge (depends_on, links) is tried from inside the dependent container with
whatever the image has (getent/nslookup to resolve; bash /dev/tcp, python3, php, perl or nc to
connect). Images without a shell cannot be probed: that is reported as INFO, not guessed.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from devstack.checks import Finding
from devstack.checks.codes import finding

# $1 = host, $2 = port (may be empty). Exit: 0 ok, 10 unresolved, 11 refused/timeout, 12 no tool.
PROBE = r"""
h="$1"; p="$2"
t=""; command -v timeout >/dev/null 2>&1 && t="timeout 4"
if command -v getent >/dev/null 2>&1; then getent hosts "$h" >/dev/null 2>&1 || exit 10
elif command -v nslookup >/dev/null 2>&1; then nslookup "$h" >/dev/null 2>&1 || exit 10
fi
[ -z "$p" ] && exit 0
if command -v bash >/dev/null 2>&1; then
  $t bash -c 'exec 3<>"/dev/tcp/$0/$1"' "$h" "$p" 2>/dev/null && exit 0 || exit 11
fi
if command -v python3 >/dev/null 2>&1; then
  python3 -c 'import socket,sys; socket.create_connection((sys.argv[1], int(sys.argv[2])), 4)' "$h" "$p" 2>/dev/null && exit 0 || exit 11
fi
if command -v php >/dev/null 2>&1; then
  php -r '$s=@fsockopen($argv[1], (int)$argv[2], $e, $m, 4); exit($s ? 0 : 11);' "$h" "$p" && exit 0 || exit 11
fi
if command -v perl >/dev/null 2>&1; then
  perl -MIO::Socket::INET -e 'exit(IO::Socket::INET->new(PeerAddr=>$ARGV[0],PeerPort=>$ARGV[1],Timeout=>4) ? 0 : 11)' "$h" "$p" && exit 0 || exit 11
fi
if command -v nc >/dev/null 2>&1; then
  if nc -z -w 4 "$h" "$p" >/dev/null 2>&1; then exit 0; fi
  if nc -h 2>&1 | grep -q -- ' -z'; then exit 11; fi
  # BusyBox nc has no -z: connect, send nothing, and let -w end it.
  nc -w 2 "$h" "$p" </dev/null >/dev/null 2>&1 && exit 0 || exit 11
fi
exit 12
"""

MAX_PORTS = 4  # probes per dependency edge
_REQUIRED = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*):?\?")


@dataclass(frozen=True)
class Edge:
    """A dependency edge between two services."""

    source: str  # the dependent service
    target: str  # the service it needs
    kind: str  # depends_on or links
    hostname: str  # the name used to reach it (service name or link alias)


def edges(model: Mapping[str, Any]) -> list[Edge]:
    """Dependency edges of the compose model (already interpolated and normalised)."""
    found: list[Edge] = []
    services = model.get("services") or {}
    for name, svc in services.items():
        deps = svc.get("depends_on") or {}
        for target in deps if isinstance(deps, (dict, list)) else []:
            found.append(Edge(name, str(target), "depends_on", str(target)))
        for link in svc.get("links") or []:
            target, _, alias = str(link).partition(":")
            found.append(Edge(name, target, "links", alias or target))
    return found


def required_variables(raw_services: Mapping[str, Any]) -> dict[str, list[str]]:
    """Per service, the environment keys whose value uses ${VAR:?...} or ${VAR?...}."""
    required: dict[str, list[str]] = {}
    for name, svc in raw_services.items():
        env = svc.get("environment") if isinstance(svc, dict) else None
        items: Iterable[tuple[str, Any]]
        if isinstance(env, dict):
            items = env.items()
        elif isinstance(env, list):
            items = (str(e).partition("=")[::2] for e in env)
        else:
            continue
        keys = [str(k) for k, v in items if v is not None and _REQUIRED.search(str(v))]
        if keys:
            required[name] = keys
    return required


def check(
    containers: Mapping[str, Any],
    model: Mapping[str, Any],
    raw_services: Mapping[str, Any],
    run_in: Callable[[str, list[str]], tuple[int, str]],
    only: set[str] | None = None,
    sources: set[str] | None = None,
) -> list[Finding]:
    """Runtime findings. `containers` maps service -> engine.ContainerInfo (running ones).

    `only`: the services that (re)started (their variables, and the links from or to them);
    `sources`: only what is checked from inside these services.
    """
    findings: list[Finding] = []
    for service, keys in required_variables(raw_services).items():
        info = containers.get(service)
        if info is None or (only is not None and service not in only):
            continue
        if sources is not None and service not in sources:
            continue
        for key in keys:
            if not info.env.get(key):
                findings.append(
                    finding(
                        "DS620",
                        f"required variable {key} is empty inside {service}",
                        f"set {key} in .env (or the environment) and run `devstack up` again",
                        f"service {service}",
                    )
                )
    jobs = []
    declared_by = {name: declared_ports(svc) for name, svc in (model.get("services") or {}).items()}
    for edge in edges(model):
        src = containers.get(edge.source)
        dst = containers.get(edge.target)
        if src is None or src.state != "running":
            continue
        if only is not None and edge.source not in only and edge.target not in only:
            continue
        if sources is not None and edge.source not in sources:
            continue
        # Ports the project declares for the target (`ports:` targets, `expose:`) must each
        # accept; of the ports only its image EXPOSEs, one is enough: images list ports that
        # are off by default (rabbitmq's 5671 is AMQP over TLS, unconfigured).
        declared = declared_by.get(edge.target, [])
        ports: list[int | None] = list(declared[:MAX_PORTS]) if declared else []
        if not ports and dst is not None:
            ports = list(dst.exposed[:MAX_PORTS])
        for port in ports or [None]:
            jobs.append((edge, src, port, bool(declared)))
    with ThreadPoolExecutor(max_workers=max(1, min(8, len(jobs)))) as pool:
        results = list(
            pool.map(
                lambda job: (
                    job,
                    run_in(
                        job[1].id,
                        ["sh", "-c", PROBE, "probe", job[0].hostname, str(job[2] or "")],
                    ),
                ),
                jobs,
            )
        )
    any_of: dict[Edge, list[tuple[int | None, int, str]]] = {}
    for (edge, _src, port, must), (code, output) in results:
        if must or port is None:
            found = _link_finding(edge, port, code, output)
            if found:
                findings.append(found)
        else:
            any_of.setdefault(edge, []).append((port, code, output))
    for edge, tries in any_of.items():
        if any(code == 0 for _port, code, _out in tries):
            continue
        if all(code == 11 for _port, code, _out in tries) and len(tries) > 1:
            listed = ", ".join(str(port) for port, _code, _out in tries)
            findings.append(
                finding(
                    "DS611",
                    f"{edge.source} cannot connect to {edge.hostname} on any of its ports ({listed})",
                    f"{edge.target} resolves but nothing listens on the ports its image exposes: "
                    f"see `devstack logs {edge.target}`",
                    f"service {edge.source}",
                )
            )
            continue
        port, code, output = next((t for t in tries if t[1] != 11), tries[0])
        found = _link_finding(edge, port, code, output)
        if found:
            findings.append(found)
    return findings


def declared_ports(service: Mapping[str, Any]) -> list[int]:
    """TCP container ports the project declares for a service: `ports:` targets and `expose:`."""
    found: list[int] = []
    entries: list[Any] = list(service.get("ports") or []) + list(service.get("expose") or [])
    for entry in entries:
        if isinstance(entry, dict):
            if str(entry.get("protocol") or "tcp").lower() != "tcp":
                continue
            text = str(entry.get("target") or "")
        else:
            text = str(entry)
            spec, _, protocol = text.partition("/")
            if protocol and protocol.lower() != "tcp":
                continue
            text = spec.rsplit(":", 1)[-1]
        first, _, last = text.strip().partition("-")
        if not first.isdigit():
            continue
        end = int(last) if last.isdigit() else int(first)
        for port in range(int(first), min(end, int(first) + MAX_PORTS - 1) + 1):
            if port not in found:
                found.append(port)
    return found


def _link_finding(edge: Edge, port: int | None, code: int, output: str) -> Finding | None:
    where = f"service {edge.source}"
    target = f"{edge.hostname}:{port}" if port else edge.hostname
    if code == 0:
        return None
    if code == 10:
        return finding(
            "DS610",
            f"{edge.source} cannot resolve {edge.hostname!r} ({edge.kind} {edge.target})",
            f"is service {edge.target!r} running on a network {edge.source} shares? "
            "check `networks:` of both services",
            where,
        )
    if code == 11:
        return finding(
            "DS611",
            f"{edge.source} cannot connect to {target}",
            f"{edge.target} resolves but nothing listens on port {port}: see `devstack logs {edge.target}`",
            where,
        )
    return finding(
        "DS612",
        f"could not test {edge.source} -> {target} from inside the container "
        "(no shell or network tool in the image)",
        None,
        where,
    )
