"""DS4xx: published host ports.

A host port is checked by trying to bind it, as Docker will: on the published address, with
SO_REUSEADDR (so a port in TIME_WAIT is not "taken"). When it is taken, /proc names the
process; when that process is Docker's port proxy (or cannot be seen), the engine names the
container. Ports held by this project's own containers are not findings: checking a running
stack is clean.
"""

from __future__ import annotations

import errno
import os
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple

from devstack import composefile, interpolation, syntax
from devstack.checks import Finding
from devstack.checks.codes import finding
from devstack.checks.context import Context
from devstack.composefile import ComposeFile
from devstack.syntax import PortBinding, SyntaxProblem

MAX_BINDS = 2048  # a huge published range is checked up to this many ports
_TCP_LISTEN = "0A"


class Published(NamedTuple):
    service: str
    position: int  # index in the service's `ports:`
    binding: PortBinding


def check(ctx: Context) -> list[Finding]:
    findings = _host_network(ctx)
    published = [p for p in _collect(ctx) if not _on_host_network(ctx, p.service)]
    findings += _duplicates(ctx, published)
    findings += _exposed(ctx, published)
    findings += _in_use(ctx, published)
    return findings


def check_files(ctx: Context) -> list[Finding]:
    """DS403: each `ports:` entry of each file as written (after ${VAR} substitution)."""
    findings = []
    for source in ctx.sources.files:
        for name, service in source.services().items():
            entries = service.get("ports") if isinstance(service, dict) else None
            for index, entry in enumerate(entries if isinstance(entries, list) else []):
                try:
                    syntax.parse_port(_substituted(composefile.plain(entry), ctx.env))
                except SyntaxProblem as exc:
                    findings.append(
                        finding(
                            "DS403",
                            f"service {name}: {exc}",
                            "write [HOST_IP:]HOST_PORT:CONTAINER_PORT[/PROTOCOL], e.g. "
                            '"127.0.0.1:8080:80" or "[::1]:8080:80"',
                            source.where("services", name, "ports", index),
                        )
                    )
                except interpolation.InterpolationError:
                    continue  # DS307 says so
    return findings


def _substituted(entry: Any, env: Any) -> Any:
    if isinstance(entry, str) and "$" in entry:
        return interpolation.substitute(entry, env)
    if isinstance(entry, dict):
        return {k: _substituted(v, env) for k, v in entry.items()}
    return entry


def _collect(ctx: Context) -> list[Published]:
    published: list[Published] = []
    for name, service in ctx.services.items():
        entries = service.get("ports")
        if not isinstance(entries, list):
            continue
        for index, entry in enumerate(entries):
            try:
                bindings = syntax.parse_port(entry)
            except SyntaxProblem:
                continue  # reported per file (DS403), or by Compose
            published += [Published(name, index, b) for b in bindings]
    return published


def _on_host_network(ctx: Context, service: str) -> bool:
    return ctx.services.get(service, {}).get("network_mode") == "host"


def _host_network(ctx: Context) -> list[Finding]:
    """DS406: with network_mode: host, Docker discards `ports:` (the service uses the host's)."""
    findings = []
    for name, service in ctx.services.items():
        entries = service.get("ports")
        if service.get("network_mode") != "host" or not isinstance(entries, list) or not entries:
            continue
        shown = ", ".join(_port_text(e) for e in entries[:3]) + (", ..." if len(entries) > 3 else "")
        findings.append(
            finding(
                "DS406",
                f"service {name} publishes {shown}, but uses network_mode: host: Docker ignores `ports:`",
                "remove `ports:` (the service listens on the host's own ports), or drop `network_mode: host`",
                ctx.where(name, "ports"),
            )
        )
    return findings


def _port_text(entry: Any) -> str:
    if isinstance(entry, dict):
        published = entry.get("published")
        return f"{published}:{entry.get('target')}" if published else str(entry.get("target"))
    return str(entry)


def _where(ctx: Context, service: str, index: int) -> str | None:
    """The line of the model's `ports[index]` in the files: found by what it publishes."""
    source_entry = _source_entry(ctx, service, index)
    if source_entry is None:
        return ctx.where(service, "ports")
    source, position, _raw = source_entry
    return source.where("services", service, "ports", position)


def _source_entry(ctx: Context, service: str, index: int) -> tuple[ComposeFile, int, Any] | None:
    """(file, index, entry as written) of the entry that publishes the model's ports[index]."""
    entries = ctx.services.get(service, {}).get("ports")
    if not isinstance(entries, list) or index >= len(entries):
        return None
    try:
        wanted = {(b.host_ip, b.published, b.target, b.protocol) for b in syntax.parse_port(entries[index])}
    except SyntaxProblem:
        return None
    loose: tuple[ComposeFile, int, Any] | None = None
    for source in reversed(ctx.sources.files):
        raw = source.services().get(service)
        written = raw.get("ports") if isinstance(raw, dict) else None
        for position, entry in enumerate(written if isinstance(written, list) else []):
            entry = composefile.plain(entry)
            try:
                bindings = syntax.parse_port(_substituted(entry, ctx.env))
            except (SyntaxProblem, interpolation.InterpolationError):
                continue
            found = {(b.host_ip, b.published, b.target, b.protocol) for b in bindings}
            if wanted & found or (not wanted and not found):
                return source, position, entry
            if loose is None and {w[2] for w in wanted} & {f[2] for f in found}:
                loose = (source, position, entry)
    return loose


def _overlap(a: str, b: str) -> bool:
    """Whether two host addresses (as published) can collide."""
    if a == b or "" in (a, b):
        return True
    v6a, v6b = ":" in a, ":" in b
    if v6a != v6b:
        return False
    wildcard = "::" if v6a else "0.0.0.0"
    return wildcard in (a, b)


def _duplicates(ctx: Context, published: list[Published]) -> list[Finding]:
    findings = []
    fixed = [p for p in published if not p.binding.is_pick_range]
    for i, first in enumerate(fixed):
        for second in fixed[i + 1 :]:
            a, b = first.binding, second.binding
            if (
                a.published != b.published
                or a.protocol != b.protocol
                or not _overlap(a.host_ip, b.host_ip)
                or (first.service, first.position) == (second.service, second.position)
            ):
                continue
            who = (
                f"both {first.service} and {second.service}"
                if first.service != second.service
                else f"{first.service} twice"
            )
            findings.append(
                finding(
                    "DS401",
                    f"host port {a.published}/{a.protocol} is published by {who}",
                    f"give one of them another host port{_variable_hint(ctx, second)}",
                    _where(ctx, second.service, second.position),
                )
            )
    return findings


def _exposed(ctx: Context, published: list[Published]) -> list[Finding]:
    findings = []
    for name in dict.fromkeys(p.service for p in published):
        open_ports = [p for p in published if p.service == name and p.binding.all_interfaces]
        if not open_ports:
            continue
        labels = ", ".join(dict.fromkeys(p.binding.label for p in open_ports))
        example = open_ports[0].binding
        findings.append(
            finding(
                "DS404",
                f"{name} publishes {labels} on all interfaces: it is reachable from the LAN",
                f'bind it to the loopback address: "127.0.0.1:{example.published}:{example.target}"',
                _where(ctx, name, open_ports[0].position),
            )
        )
    return findings


# -- is the port free? -------------------------------------------------------------------


def _in_use(ctx: Context, published: list[Published]) -> list[Finding]:
    findings = []
    budget = MAX_BINDS
    for item in published:
        b = item.binding
        ports = list(range(b.published, b.published_last + 1))[: max(budget, 0)]
        budget -= len(ports)
        results = [(port, _try_bind(b.host_ip, port, b.protocol)) for port in ports]
        if any(r == errno.EADDRNOTAVAIL for _, r in results):
            findings.append(
                finding(
                    "DS405",
                    f"{item.service} publishes on {b.host_ip}, which is not an address of this machine",
                    "publish on 127.0.0.1 (or an address this machine has)",
                    _where(ctx, item.service, item.position),
                )
            )
            continue
        taken = [port for port, r in results if r == errno.EADDRINUSE]
        if not taken or (b.is_pick_range and len(taken) < len(ports)):
            continue  # a pick-any range needs only one free port
        for port in taken[:3]:
            who = _holder(ctx, port, b.protocol)
            if who is None:
                continue  # held by this project's own container: `up` on a running stack
            findings.append(
                finding(
                    "DS402",
                    f"host port {port}/{b.protocol} ({item.service}) is in use by {who}",
                    f"stop {who}, or publish another host port" + _variable_hint(ctx, item),
                    _where(ctx, item.service, item.position),
                )
            )
    return findings


def _try_bind(host_ip: str, port: int, protocol: str) -> int:
    """0 when the port can be bound, else the errno (EADDRINUSE, EADDRNOTAVAIL, ...)."""
    kind = socket.SOCK_DGRAM if protocol == "udp" else socket.SOCK_STREAM
    if protocol == "sctp":
        return 0  # not worth a raw SCTP socket: Docker reports a clash itself
    addresses = [host_ip] if host_ip else ["0.0.0.0", "::"]
    for address in addresses:
        family = socket.AF_INET6 if ":" in address else socket.AF_INET
        try:
            sock = socket.socket(family, kind)
        except OSError:
            continue  # no IPv6 on this machine
        try:
            if kind == socket.SOCK_STREAM:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            sock.bind((address, port))
        except OSError as exc:
            if exc.errno == errno.EADDRNOTAVAIL and not host_ip:
                continue  # "::" on a machine without IPv6 addresses
            if exc.errno in (errno.EADDRINUSE, errno.EADDRNOTAVAIL):
                return exc.errno
        finally:
            sock.close()
    return 0


def _holder(ctx: Context, port: int, protocol: str) -> str | None:
    """Who holds the port, for a message; None when it is this project's own container.

    The engine is asked first (a local socket answers in about a millisecond): on a running
    stack the holder is usually one of the project's own containers, and scanning /proc for
    the socket's owner would then be wasted.
    """
    containers = _containers(port, protocol)
    if containers:
        if any(c.project == ctx.project.name for c in containers):
            return None
        return ", ".join(
            f"container {c.container}" + (f" (project {c.project}, service {c.service})" if c.project else "")
            for c in containers
        )
    processes = list(processes_holding(port, protocol))
    if processes:
        return ", ".join(f"{comm} (pid {pid})" for pid, comm in processes[:3])
    return "another process (not visible from here)"


def _containers(port: int, protocol: str) -> list[Any] | None:
    """Containers publishing the port; None when the engine cannot be asked."""
    from devstack import engine  # local engines answer over the socket; others need the SDK
    from devstack.errors import EngineUnavailable

    try:
        return list(engine.containers_publishing(port, protocol))
    except EngineUnavailable:
        return None


def processes_holding(
    port: int, protocol: str = "tcp", proc: Path = Path("/proc")
) -> Iterator[tuple[int, str]]:
    """(pid, command name) of processes with a socket bound to the port (Linux /proc only)."""
    inodes = _socket_inodes(port, protocol, proc)
    if not inodes:
        return
    wanted = {f"socket:[{inode}]" for inode in inodes}
    try:
        pids = [entry for entry in os.listdir(proc) if entry.isdigit()]
    except OSError:
        return
    for pid in pids:
        fd_dir = proc / pid / "fd"
        try:
            fds = os.listdir(fd_dir)
        except OSError:
            continue  # gone, or not ours to look at
        for fd in fds:
            try:
                if os.readlink(fd_dir / fd) in wanted:
                    comm = (proc / pid / "comm").read_text().strip()
                    yield int(pid), comm
                    break
            except OSError:
                continue


def _socket_inodes(port: int, protocol: str, proc: Path) -> set[str]:
    inodes: set[str] = set()
    kind = "udp" if protocol == "udp" else "tcp"
    for table in (proc / "net" / kind, proc / "net" / f"{kind}6"):
        try:
            lines = table.read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if len(fields) < 10:
                continue
            local, state, inode = fields[1], fields[3], fields[9]
            if kind == "tcp" and state != _TCP_LISTEN:
                continue
            if int(local.rsplit(":", 1)[1], 16) == port and inode != "0":
                inodes.add(inode)
    return inodes


def _variable_hint(ctx: Context, item: Published) -> str:
    """` (set WEB_PORT in .env)` when the file writes the port as a variable."""
    found = _source_entry(ctx, item.service, item.position)
    if found is None:
        return ""
    entry = found[2]
    text = (
        entry
        if isinstance(entry, str)
        else str(entry.get("published", ""))
        if isinstance(entry, dict)
        else ""
    )
    try:
        names = interpolation.names(text) if "$" in text else []
    except interpolation.InterpolationError:
        names = []
    return f" (set {names[-1]} in .env)" if names else ""
