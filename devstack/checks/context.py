"""What every check reads: the project's compose files as written, and Compose's merged model.

`load_sources` reads each compose file on its own (no merging): the `-f` files, and the files
they reach through `extends: {file:}` and `include:`. That gives what Compose cannot: line
numbers, keys written twice, and a guard against YAML alias bombs before Compose sees a file.
The merged project (overrides, `extends`, `include`, profiles, interpolation) is Compose's own
`config` output, given to `Context` as `model`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, NamedTuple, Protocol

from devstack import composefile, syntax
from devstack.checks import Finding
from devstack.checks.codes import finding
from devstack.composefile import ComposeFile, ComposeFileError
from devstack.interpolation import InterpolationError, substitute
from devstack.project import Project

MAX_REFERENCED_FILES = 100  # files reached through extends/include, however deep


class Sources(NamedTuple):
    """The compose files as written, and what reading them found."""

    files: tuple[ComposeFile, ...]  # the -f files that parsed, then the files they reference
    findings: tuple[Finding, ...]  # unreadable or invalid files, duplicate keys, missing references
    complete: bool  # every -f file parsed


def load_sources(project: Project) -> Sources:
    """Read every compose file of the project, following `extends: {file:}` and `include:`."""
    files: list[ComposeFile] = []
    findings: list[Finding] = []
    complete = True
    env = project.interpolation_env()
    queue: list[tuple[Path, str]] = [(path, "file") for path in project.files]
    seen: set[Path] = set()
    while queue and len(seen) < len(project.files) + MAX_REFERENCED_FILES:
        path, role = queue.pop(0)
        resolved = path.resolve()
        if resolved in seen:
            continue
        seen.add(resolved)
        try:
            source = composefile.load(path, project.root)
        except ComposeFileError as exc:
            findings.append(_load_error(exc, composefile.label_for(path, project.root)))
            complete = complete and role != "file"
            continue
        source.role = role
        files.append(source)
        findings.extend(_duplicates(source))
        for reference, kind, key in _references(source, env):
            if reference.is_file():
                queue.append((reference, kind))
            elif not reference.exists() or reference.is_dir():
                findings.append(_missing_reference(source, reference, kind, key, project.root))
    return Sources(tuple(files), tuple(findings), complete)


def _references(source: ComposeFile, env: Mapping[str, str]) -> Iterator[tuple[Path, str, tuple[Any, ...]]]:
    """(path, "extends" or "include", key of the reference) for each file this one names."""
    base = source.path.parent
    for name, service in source.services().items():
        spec = service.get("extends") if isinstance(service, dict) else None
        if isinstance(spec, dict) and isinstance(spec.get("file"), str):
            path = _interpolated(spec["file"], env)
            if path:
                yield base / path, "extends", ("services", name, "extends", "file")
    raw = source.data.get("include")
    for index, entry in enumerate(raw if isinstance(raw, list) else []):
        paths = entry.get("path") if isinstance(entry, dict) else entry
        key: tuple[Any, ...] = ("include", index, "path") if isinstance(entry, dict) else ("include", index)
        for path in paths if isinstance(paths, list) else [paths]:
            text = _interpolated(path, env) if isinstance(path, str) else None
            if text:
                yield base / text, "include", key


def _interpolated(text: str, env: Mapping[str, str]) -> str | None:
    try:
        return substitute(text, env) if "$" in text else text
    except InterpolationError:
        return None  # the env check reports the broken ${...}


def _missing_reference(
    source: ComposeFile, path: Path, kind: str, key: tuple[Any, ...], root: Path
) -> Finding:
    shown = composefile.label_for(path, root)
    state = "is a directory" if path.is_dir() else "does not exist"
    if kind == "extends":
        service = key[1]
        return finding(
            "DS204",
            f"service {service} extends a service in {shown}, which {state}",
            "`file:` is relative to the file that contains the `extends`",
            source.where(*key),
        )
    return finding(
        "DS215",
        f"include: {shown} {state}",
        "include paths are relative to the file that has the `include:`",
        source.where(*key),
    )


def _duplicates(source: ComposeFile) -> list[Finding]:
    return [
        finding(
            "DS102",
            f"`{dotted(dup.key)}` is defined twice (first at line {dup.first_line})",
            "remove one of them: Compose refuses a mapping with a repeated key",
            f"{source.label}:{dup.line}",
        )
        for dup in source.duplicates
    ]


def _load_error(exc: ComposeFileError, label: str) -> Finding:
    where = label + (f":{exc.line}" if exc.line else "") + (f":{exc.column}" if exc.column else "")
    if exc.kind == "unreadable":
        return finding("DS101", exc.message, "check the path, its permissions and encoding", where)
    if exc.kind == "structure":
        return finding("DS103", exc.message, "a compose file is a mapping: services:, ...", where)
    return finding("DS102", f"invalid YAML: {exc.message}", "fix the YAML at that position", where)


def dotted(key: tuple[Any, ...]) -> str:
    """("services", "web", "ports", 0) -> "services.web.ports[0]"."""
    return ".".join(f"[{k}]" if isinstance(k, int) else str(k) for k in key).replace(".[", "[")


class EngineView(Protocol):
    """What checks may ask the engine (the module devstack.engine is one; tests pass fakes)."""

    def version(self) -> str | None:
        """The engine's version, or None when it cannot be asked."""
        ...

    def exists(self, kind: str, name: str) -> bool | None:
        """Whether a network or volume ("network", "volume") exists; None when unknown."""
        ...


class NoEngine:
    """An engine that cannot be asked."""

    def version(self) -> str | None:
        return None

    def exists(self, kind: str, name: str) -> bool | None:
        return None


@dataclass(frozen=True)
class Context:
    """What every check family reads. Checks never run Compose and never print."""

    project: Project
    sources: Sources
    env: Mapping[str, str]  # the variables Compose interpolates with (shell over .env)
    # Compose's merged model of every profile (`config --profile '*'`), or None without one:
    # then only the checks that need no merged model run.
    model: Mapping[str, Any] | None
    active_profiles: frozenset[str] = frozenset()
    # The engine, asked only by checks that need it (its version, external networks).
    engine: EngineView = field(default_factory=NoEngine, repr=False)
    compose_warnings: str = ""  # what Compose printed on stderr while computing the model

    @cached_property
    def every_service(self) -> dict[str, dict[str, Any]]:
        """Every service of every profile, merged (empty without a model)."""
        return syntax.services(self.model)

    @cached_property
    def services(self) -> dict[str, dict[str, Any]]:
        """The services `up` starts: those of the active profiles."""
        return {n: s for n, s in self.every_service.items() if syntax.is_active(s, set(self.active_profiles))}

    def where(self, service: str | None, *key: Any) -> str | None:
        """`file:line` of ("services", service, *key), from the file that defines most of it."""
        path = ("services", service, *key) if service is not None else key
        best: tuple[int, ComposeFile] | None = None
        minimum = 2 if service is not None else 1  # the service itself, at least
        for source in self.sources.files:
            depth = next((n for n in range(len(path), 0, -1) if source.defines(*path[:n])), 0)
            if depth >= minimum and (best is None or depth >= best[0]):
                best = (depth, source)
        if best is None:
            return f"service {service}" if service is not None else None
        return best[1].where(*path)

    def where_entry(self, service: str, option: str, matches: Callable[[Any], bool]) -> str | None:
        """`file:line` of the entry of a service's list (or mapping) option that `matches`.

        The merged model's entries are not at the same index as in the files (overrides add
        and replace entries), so the entry is looked for by content, the last file first.
        """
        for source in reversed(self.sources.files):
            raw = source.services().get(service)
            value = raw.get(option) if isinstance(raw, dict) else None
            if isinstance(value, dict):
                for name, entry in value.items():
                    if matches(name) or matches(entry):
                        return source.where("services", service, option, name)
            elif isinstance(value, list):
                for index, entry in enumerate(value):
                    if matches(composefile.plain(entry)):
                        return source.where("services", service, option, index)
        return self.where(service, option)
