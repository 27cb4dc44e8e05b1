"""DS2xx: references between services, and to networks, volumes, secrets and configs.

References are read from Compose's merged model of every profile (a service in an inactive
profile is still defined), and located in the files as written. `check_extends` needs no
merged model: it reads each file's `extends:` on its own.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from devstack import syntax
from devstack.checks import Finding
from devstack.checks.codes import finding
from devstack.checks.context import Context
from devstack.composefile import ComposeFile

_BUILTIN_NETWORK_MODES = ("host", "none", "bridge", "default")


def check(ctx: Context) -> list[Finding]:
    findings = _references(ctx)
    findings += _top_level(ctx)
    findings += _cycles(ctx)
    findings += _health(ctx)
    findings += _profiles(ctx)
    findings += _container_names(ctx)
    findings += _external(ctx)
    findings += _exec_form_healthchecks(ctx)
    return findings


def _container_names(ctx: Context) -> list[Finding]:
    """DS216: Compose accepts two services with one container_name; the second fails at `up`."""
    users: dict[str, list[str]] = {}
    for name, service in ctx.services.items():
        container = service.get("container_name")
        if isinstance(container, str) and container:
            users.setdefault(container, []).append(name)
    return [
        finding(
            "DS216",
            f"services {', '.join(names[:-1])} and {names[-1]} all set container_name `{container}`"
            if len(names) > 2
            else f"services {names[0]} and {names[1]} both set container_name `{container}`",
            "give each service its own container_name, or remove it (Compose names containers itself)",
            ctx.where(names[1], "container_name"),
        )
        for container, names in users.items()
        if len(names) > 1
    ]


def _external(ctx: Context) -> list[Finding]:
    """DS217: an external network or volume that a started service uses must exist already."""
    used: dict[str, set[str]] = {"network": set(), "volume": set()}
    for service in ctx.services.values():
        mode = service.get("network_mode")
        if not (isinstance(mode, str) and mode):
            used["network"].update(syntax.names_of(service.get("networks")) or ["default"])
        used["volume"].update(m.source for _, m in syntax.mounts(service) if m.type == "volume" and m.source)
    findings = []
    for kind in ("network", "volume"):
        declared = (ctx.model or {}).get(f"{kind}s")
        for key, spec in (declared if isinstance(declared, dict) else {}).items():
            if (
                key not in used[kind]
                or not isinstance(spec, dict)
                or spec.get("external") not in (True, "true")
            ):
                continue
            name = str(spec.get("name") or key)
            if ctx.engine.exists(kind, name) is False:
                findings.append(
                    finding(
                        "DS217",
                        f"{kind} `{key}` is declared external, but the engine has no {kind} `{name}`",
                        f"create it first (`docker {kind} create {name}`), or start the project that "
                        "creates it",
                        ctx.where(None, f"{kind}s", key),
                    )
                )
    return findings


def _exec_form_healthchecks(ctx: Context) -> list[Finding]:
    """DS218: ["CMD", "curl -f http://x"] runs a program named "curl -f http://x": never healthy."""
    findings = []
    for name, service in ctx.services.items():
        check = service.get("healthcheck")
        test = check.get("test") if isinstance(check, dict) else None
        if not (isinstance(test, list) and len(test) == 2 and test[0] == "CMD" and isinstance(test[1], str)):
            continue
        program = test[1].strip()
        if " " not in program:
            continue
        words = program.split()
        findings.append(
            finding(
                "DS218",
                f"service {name}: the healthcheck runs a program named `{program}` (the exec form "
                "does not split words): it never succeeds",
                f"split it: {json_list(['CMD', *words])}, or let a shell run it: "
                f"{json_list(['CMD-SHELL', program])}",
                ctx.where(name, "healthcheck", "test"),
            )
        )
    return findings


def json_list(items: list[str]) -> str:
    import json

    return json.dumps(items)


def _references(ctx: Context) -> list[Finding]:
    defined = set(ctx.every_service)
    findings = []
    for name, service in ctx.every_service.items():
        for dep in syntax.dependencies(service):
            if dep.service not in defined and not _implicit(service, dep.service):
                findings.append(
                    finding(
                        "DS201",
                        f"service {name} depends on `{dep.service}`, which is not defined",
                        _did_you_mean(dep.service, defined),
                        ctx.where_entry(name, "depends_on", _named(dep.service)),
                    )
                )
        for target, _alias in syntax.link_targets(service):
            if target not in defined:
                findings.append(
                    finding(
                        "DS202",
                        f"service {name} links to `{target}`, which is not defined",
                        _did_you_mean(target, defined),
                        ctx.where_entry(name, "links", _link_to(target)),
                    )
                )
        for kind, target in syntax.volumes_from(service):
            if kind == "service" and target not in defined:
                findings.append(
                    finding(
                        "DS205",
                        f"service {name} takes volumes from `{target}`, which is not defined",
                        _did_you_mean(target, defined)
                        or "for a container outside the project, write container:NAME",
                        ctx.where(name, "volumes_from"),
                    )
                )
        shared = syntax.network_service(service)
        if shared is not None and shared not in defined:
            findings.append(
                finding(
                    "DS206",
                    f"service {name} shares the network of `{shared}`, which is not defined",
                    _did_you_mean(shared, defined),
                    ctx.where(name, "network_mode"),
                )
            )
    return findings


def _implicit(service: dict[str, Any], target: str) -> bool:
    """Compose adds link, volumes_from and network_mode targets to depends_on: report them once."""
    return (
        target in {t for t, _ in syntax.link_targets(service)}
        or target in {t for kind, t in syntax.volumes_from(service) if kind == "service"}
        or target == syntax.network_service(service)
    )


def _named(name: str) -> Callable[[Any], bool]:
    return lambda entry: entry == name


def _link_to(target: str) -> Callable[[Any], bool]:
    return lambda entry: isinstance(entry, str) and entry.partition(":")[0] == target


def _mounts_at(target: str) -> Callable[[Any], bool]:
    def matches(entry: Any) -> bool:
        mount = syntax.parse_mount(entry)
        return mount is not None and mount.target == target

    return matches


# -- extends (per file) --------------------------------------------------------------------


def check_extends(ctx: Context) -> list[Finding]:
    """An `extends` that names a service its file does not define, or that loops."""
    by_path = {source.path.resolve(): source for source in ctx.sources.files}
    findings = []
    for source in ctx.sources.files:
        for name, service in source.services().items():
            if not isinstance(service, dict) or service.get("extends") is None:
                continue
            problem = _extends_problem(source, name, by_path)
            if problem:
                findings.append(
                    finding(
                        "DS203",
                        problem,
                        "extends names a service of the same file, or of `file:`; break any loop",
                        source.where("services", name, "extends"),
                    )
                )
    return findings


def _extends_problem(source: ComposeFile, name: str, by_path: dict[Any, ComposeFile]) -> str | None:
    """Follow the `extends` chain from one service: what is wrong with it, or None."""
    chain: list[tuple[Any, str]] = []
    current, service_name = source, name
    while True:
        if (current.path, service_name) in chain:
            loop = " -> ".join([*(n for _, n in chain), service_name])
            return f"service {name}: `extends` loops: {loop}"
        chain.append((current.path, service_name))
        service = current.services().get(service_name)
        spec = service.get("extends") if isinstance(service, dict) else None
        if spec is None:
            return None
        base = spec.get("service") if isinstance(spec, dict) else spec
        if not isinstance(base, str):
            return f"service {service_name}: `extends` needs a service name"
        where = "this file"
        if isinstance(spec, dict) and isinstance(spec.get("file"), str):
            other = by_path.get((current.path.parent / spec["file"]).resolve())
            if other is None:
                return None  # a missing file is DS204; a file named with ${...} is Compose's to judge
            where, current = spec["file"], other
        if base not in current.services():
            if where == "this file":
                return f"service {service_name} extends `{base}`, which is not defined in this file"
            return f"service {service_name} extends `{base}`, which {where} does not define"
        service_name = base


# -- the merged model ----------------------------------------------------------------------


def _top_level(ctx: Context) -> list[Finding]:
    """Networks, named volumes, secrets and configs a service uses must be declared."""
    declared = {kind: _declared(ctx, kind) for kind in ("networks", "volumes", "secrets", "configs")}
    findings = []
    for name, service in ctx.every_service.items():
        mode = service.get("network_mode")
        if not (isinstance(mode, str) and mode and mode not in _BUILTIN_NETWORK_MODES):
            for network in syntax.names_of(service.get("networks")):
                if network != "default" and network not in declared["networks"]:
                    findings.append(
                        finding(
                            "DS207",
                            f"service {name} uses network `{network}`, which is not defined "
                            "under the top-level `networks:`",
                            f"add `{network}:` under `networks:` (with `external: true` if it "
                            "already exists outside this project)",
                            ctx.where(name, "networks", network),
                        )
                    )
        for _index, mount in syntax.mounts(service):
            if mount.type == "volume" and mount.source and mount.source not in declared["volumes"]:
                findings.append(
                    finding(
                        "DS208",
                        f"service {name} mounts volume `{mount.source}`, which is not defined "
                        "under the top-level `volumes:`",
                        f"add `{mount.source}:` under `volumes:`, or write `./{mount.source}` "
                        "for a directory of the project (a bind mount)",
                        ctx.where_entry(name, "volumes", _mounts_at(mount.target)),
                    )
                )
        for kind in ("secrets", "configs"):
            for used in _mounted(service.get(kind)):
                if used not in declared[kind]:
                    findings.append(
                        finding(
                            "DS214",
                            f"service {name} uses {kind[:-1]} `{used}`, which is not defined "
                            f"under the top-level `{kind}:`",
                            f"declare it under `{kind}:` with `file:` (or `environment:`)",
                            ctx.where(name, kind),
                        )
                    )
    return findings


def _declared(ctx: Context, kind: str) -> set[str]:
    return set(syntax.names_of((ctx.model or {}).get(kind)))


def _mounted(value: Any) -> list[str]:
    if not isinstance(value, list):
        return []
    found = []
    for entry in value:
        if isinstance(entry, str):
            found.append(entry)
        elif isinstance(entry, dict) and isinstance(entry.get("source"), str):
            found.append(entry["source"])
    return found


def _edges(service: dict[str, Any]) -> list[str]:
    targets = [d.service for d in syntax.dependencies(service)]
    targets += [t for t, _ in syntax.link_targets(service)]
    targets += [t for kind, t in syntax.volumes_from(service) if kind == "service"]
    shared = syntax.network_service(service)
    if shared:
        targets.append(shared)
    return list(dict.fromkeys(targets))


def _cycles(ctx: Context) -> list[Finding]:
    graph = {
        name: [t for t in _edges(service) if t in ctx.every_service]
        for name, service in ctx.every_service.items()
    }
    findings = []
    reported: set[frozenset[str]] = set()
    for cycle in _find_cycles(graph):
        members = frozenset(cycle)
        if members in reported:
            continue
        reported.add(members)
        path = " -> ".join([*cycle, cycle[0]])
        findings.append(
            finding(
                "DS209",
                f"dependency cycle: {path}",
                "Compose cannot start any of them: remove one of these dependencies",
                ctx.where(cycle[0], "depends_on"),
            )
        )
    return findings


def _find_cycles(graph: dict[str, list[str]]) -> list[list[str]]:
    """Each elementary cycle found by a depth-first walk, rotated to start at its least name."""
    found: list[list[str]] = []
    state: dict[str, int] = {}  # 1 on the current path, 2 done
    stack: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in graph.get(node, []):
            if state.get(nxt) == 1:
                cycle = stack[stack.index(nxt) :]
                start = cycle.index(min(cycle))
                found.append(cycle[start:] + cycle[:start])
            elif nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node)
    return found


def _health(ctx: Context) -> list[Finding]:
    findings = []
    for name, service in ctx.every_service.items():
        for dep in syntax.dependencies(service):
            if dep.condition != "service_healthy" or dep.service not in ctx.every_service:
                continue
            check = ctx.every_service[dep.service].get("healthcheck")
            where = ctx.where_entry(name, "depends_on", _named(dep.service))
            if _disabled(check):
                findings.append(
                    finding(
                        "DS211",
                        f"{name} waits for {dep.service} to be healthy, but {dep.service} "
                        "disables its healthcheck",
                        f"remove `disable: true` from {dep.service}'s healthcheck, or wait for "
                        "`condition: service_started`",
                        where,
                    )
                )
            elif not isinstance(check, dict):
                findings.append(
                    finding(
                        "DS210",
                        f"{name} waits for {dep.service} to be healthy, but {dep.service} "
                        "defines no healthcheck",
                        f"add a healthcheck to {dep.service}; without one `up` fails unless its "
                        "image defines a HEALTHCHECK (which cannot be seen from here)",
                        where,
                    )
                )
    return findings


def _disabled(check: Any) -> bool:
    if not isinstance(check, dict):
        return False
    if check.get("disable") in (True, "true"):
        return True
    test = check.get("test")
    return test == "NONE" or (isinstance(test, list) and test[:1] == ["NONE"])


def _profiles(ctx: Context) -> list[Finding]:
    """An active service that needs a service only an inactive profile starts."""
    findings = []
    for name, service in ctx.every_service.items():
        if not syntax.is_active(service, set(ctx.active_profiles)):
            continue
        required = {d.service: d.required for d in syntax.dependencies(service)}
        for target in _edges(service):
            other = ctx.every_service.get(target)
            if other is None or syntax.is_active(other, set(ctx.active_profiles)):
                continue
            profiles = ", ".join(syntax.profiles_of(other))
            if required.get(target, True):
                findings.append(
                    finding(
                        "DS212",
                        f"{name} depends on `{target}`, which only runs with profile {profiles} (not active)",
                        f"activate it (COMPOSE_PROFILES={syntax.profiles_of(other)[0]} or "
                        f"--profile), give {name} the same profile, or mark the dependency "
                        "`required: false`",
                        ctx.where_entry(name, "depends_on", _named(target)),
                    )
                )
            else:
                findings.append(
                    finding(
                        "DS213",
                        f"{name} can use `{target}` (required: false), which only runs with "
                        f"profile {profiles}",
                        None,
                        ctx.where_entry(name, "depends_on", _named(target)),
                    )
                )
    return findings


def _did_you_mean(name: str, defined: set[str]) -> str | None:
    import difflib

    close = difflib.get_close_matches(name, sorted(defined), n=1)
    if close:
        return f"did you mean `{close[0]}`?"
    return f"defined services: {', '.join(sorted(defined))}" if defined else None
