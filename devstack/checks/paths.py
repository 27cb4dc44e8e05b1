"""DS5xx: paths on the host: build contexts, Dockerfiles, bind-mount sources, secret files.

For a missing bind-mount source Compose behaves in two ways: the short syntax (`./x:/x`)
creates an empty directory, the long syntax (`type: bind`) fails unless it says
`create_host_path: true`. A directory created where a file was meant (`./nginx.conf:/etc/...`)
is the classic surprise, hence a warning when the path looks like a file.
"""

from __future__ import annotations

import re
from pathlib import Path, PurePosixPath
from typing import Any

from devstack import composefile, syntax
from devstack.checks import Finding
from devstack.checks.codes import finding
from devstack.checks.context import Context

_FILE_SUFFIX = re.compile(r"\.[A-Za-z][A-Za-z0-9]{0,7}")
_DIRECTORY_SUFFIXES = {".d", ".git"}
_WINDOWS_TARGET = re.compile(r"^[A-Za-z]:[\\/]")  # Windows containers


def check(ctx: Context) -> list[Finding]:
    findings: list[Finding] = []
    for name, service in ctx.services.items():
        findings += _build(ctx, name, service)
        findings += _mounts(ctx, name, service)
        findings += _targets(ctx, name, service)
    findings += _secret_files(ctx)
    return findings


def check_files(ctx: Context) -> list[Finding]:
    """DS507: one service of one file mounts two sources at one target (Compose keeps the last)."""
    findings = []
    for source in ctx.sources.files:
        for name, service in source.services().items():
            if not isinstance(service, dict):
                continue
            seen: dict[str, tuple[int, Any]] = {}
            for index, mount in syntax.mounts(composefile.plain(service)):
                if mount.target in seen:
                    first = seen[mount.target][1]
                    findings.append(
                        finding(
                            "DS507",
                            f"service {name} mounts {first.source or 'a volume'} and "
                            f"{mount.source or 'a volume'} at {mount.target}: Compose keeps only the last "
                            f"({mount.source or 'a volume'})",
                            "remove one of them, or mount them at different paths",
                            source.where("services", name, "volumes", index),
                        )
                    )
                seen[mount.target] = (index, mount)
    return findings


def _targets(ctx: Context, name: str, service: dict[str, Any]) -> list[Finding]:
    """DS508: a mount target must be an absolute path in the container (Docker refuses others)."""
    return [
        finding(
            "DS508",
            f"service {name} mounts {mount.source or 'a volume'} at `{mount.target}`, which is not an "
            "absolute path",
            f"write the path inside the container in full, e.g. `/{mount.target.lstrip('./')}`",
            ctx.where_entry(name, "volumes", _mounts_at(mount.target)),
        )
        for _index, mount in syntax.mounts(service)
        if not mount.target.startswith("/") and not _WINDOWS_TARGET.match(mount.target)
    ]


def _path(ctx: Context, raw: str) -> Path:
    """A path of the model (Compose makes them absolute; v1 keeps some relative)."""
    return syntax.host_path(raw, ctx.project.root, ctx.env.get("HOME"))


def _build(ctx: Context, name: str, service: dict[str, Any]) -> list[Finding]:
    build = service.get("build")
    if isinstance(build, str):
        build = {"context": build}
    if not isinstance(build, dict):
        return []
    raw_context = str(build.get("context") or ".")
    if syntax.is_remote(raw_context):
        return []
    context = _path(ctx, raw_context)
    where = ctx.where(name, "build")
    if not context.exists():
        return [
            finding(
                "DS501",
                f"service {name} builds from {_shown(ctx, context)}, which does not exist",
                "fix `build:` (or `build.context`): a directory relative to the project directory",
                where,
            )
        ]
    if not context.is_dir():
        return [
            finding(
                "DS501",
                f"service {name} builds from {_shown(ctx, context)}, which is a file, not a directory",
                "`build:` names the context directory; put the file name in build.dockerfile: "
                "build: {context: ., dockerfile: " + context.name + "}",
                where,
            )
        ]
    if "dockerfile_inline" in build:
        return []
    dockerfile = str(build.get("dockerfile") or "Dockerfile")
    path = Path(dockerfile) if Path(dockerfile).is_absolute() else context / dockerfile
    if path.is_file():
        return []
    if dockerfile == "Dockerfile" and (context / "dockerfile").is_file():
        return []  # Docker falls back to the lowercase name
    if path.is_dir():
        message = f"service {name}: the Dockerfile {dockerfile} is a directory"
        hint = "build.dockerfile names a file (relative to the context), e.g. Dockerfile.dev"
    else:
        message = f"service {name} builds with {dockerfile}, which does not exist in {_shown(ctx, context)}"
        hint = "fix build.dockerfile: a file path relative to the build context"
    return [finding("DS502", message, hint, ctx.where(name, "build", "dockerfile"))]


def _mounts(ctx: Context, name: str, service: dict[str, Any]) -> list[Finding]:
    findings = []
    for _index, mount in syntax.mounts(service):
        if mount.type != "bind" or not mount.source:
            continue
        source = _path(ctx, mount.source)
        shown = _shown(ctx, source)
        where = ctx.where_entry(name, "volumes", _mounts_at(mount.target))
        if source.exists():
            if target_is_file(mount.target) and _empty_directory(source):
                findings.append(
                    finding(
                        "DS509",
                        f"service {name} mounts {shown} at {mount.target}, but {shown} is an empty "
                        "directory where a file is meant (Docker makes one when the file is missing)",
                        f"remove the directory (`rmdir {shown}`; if root owns it, `sudo rmdir "
                        f"{shown}`) and put the file there",
                        where,
                    )
                )
            continue
        if not mount.create_host_path:
            findings.append(
                finding(
                    "DS503",
                    f"service {name} mounts {shown}, which does not exist (and the long syntax "
                    "does not create it)",
                    "create it, fix the path, or add `bind: {create_host_path: true}`",
                    where,
                )
            )
        elif target_is_file(mount.target):
            findings.append(
                finding(
                    "DS505",
                    f"service {name} mounts {shown} at {mount.target}, which does not exist: "
                    "Docker would create a directory there, where a file is meant",
                    f"create the file {shown} (or fix the path) before `up`",
                    where,
                )
            )
        else:
            looks = (
                " (its name looks like a file: create it if one is meant)"
                if looks_like_file(source, "")
                else ""
            )
            findings.append(
                finding(
                    "DS504",
                    f"service {name} mounts {shown}, which does not exist yet: `devstack up` creates "
                    f"an empty directory, owned by you (plain Compose: by root){looks}",
                    None,
                    where,
                )
            )
    return findings


def _empty_directory(path: Path) -> bool:
    try:
        return path.is_dir() and not any(path.iterdir())
    except OSError:
        return False  # not ours to read: say nothing rather than guess


def target_is_file(target: str) -> bool:
    """The path in the container names a file (a known-looking suffix: nginx.conf, docker.sock)."""
    suffix = PurePosixPath(PurePosixPath(target).name).suffix
    return bool(_FILE_SUFFIX.fullmatch(suffix)) and suffix not in _DIRECTORY_SUFFIXES


def _mounts_at(target: str) -> Any:
    def matches(entry: Any) -> bool:
        mount = syntax.parse_mount(entry)
        return mount is not None and mount.target == target

    return matches


def looks_like_file(source: Path, target: str) -> bool:
    """The source or the target has a file-like name (either one)."""
    for name in (source.name, PurePosixPath(target).name):
        suffix = PurePosixPath(name).suffix
        if _FILE_SUFFIX.fullmatch(suffix) and suffix not in _DIRECTORY_SUFFIXES:
            return True
    return False


def _secret_files(ctx: Context) -> list[Finding]:
    """`file:` of secrets and configs that an active service uses."""
    findings = []
    for kind in ("secrets", "configs"):
        used = set()
        for service in ctx.services.values():
            entries = service.get(kind)
            for entry in entries if isinstance(entries, list) else []:
                used.add(entry.get("source") if isinstance(entry, dict) else entry)
        declared = (ctx.model or {}).get(kind)
        if not isinstance(declared, dict):
            continue
        for name, spec in declared.items():
            if name not in used or not isinstance(spec, dict):
                continue
            raw = spec.get("file")
            if isinstance(raw, str) and not _path(ctx, raw).exists():
                findings.append(
                    finding(
                        "DS506",
                        f"{kind[:-1]} {name} reads {raw}, which does not exist",
                        "create the file, or fix `file:` (relative to the project directory)",
                        ctx.where(None, kind, name, "file"),
                    )
                )
    return findings


def _shown(ctx: Context, path: Path) -> str:
    """A path as the user wrote it: relative to the project when inside it."""
    try:
        relative = path.relative_to(ctx.project.root).as_posix()
    except ValueError:
        return str(path)
    return "./" + relative if relative != "." else "."
