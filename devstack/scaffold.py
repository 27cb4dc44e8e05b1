"""Render a stack into a new project directory, atomically.

The template is rendered by cookiecutter into a staging directory on the same filesystem as
the target, then moved into place with renames. An error or Ctrl-C at any point leaves no
half-written project behind and no existing file changed.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from devstack import __version__, envfile
from devstack.errors import InvalidValue, TargetError, TemplateError
from devstack.stacks import Stack, find

METADATA_FILE = ".devstack.yml"
_PROJECT_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,62}")
_NAME_RULE = "lowercase letters, digits, '-' and '_', starting with a letter or digit (at most 63)"
# Never adopted from a staged render over an existing file, whatever --force says.
_NEVER_REPLACED = {".env"}


@dataclass
class CreateResult:
    """What `create` did (or, with dry_run, would do)."""

    stack: Stack
    root: Path
    name: str
    answers: dict[str, str]
    written: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)
    env: envfile.SyncResult | None = None
    dry_run: bool = False
    certs: list[str] = field(default_factory=list)  # CA certificates copied into docker/certs/
    notes: list[str] = field(default_factory=list)  # what the user should know (skipped certificates)


def project_name(explicit: str | None, target: Path) -> str:
    """The Compose project name: --name as given (validated), else derived from the directory."""
    if explicit is not None:
        if not _PROJECT_NAME.fullmatch(explicit):
            raise InvalidValue(f"invalid project name {explicit!r}", hint=f"use {_NAME_RULE}")
        return explicit
    base = target.resolve().name.lower()
    derived = re.sub(r"[^a-z0-9_-]+", "-", base).strip("-_")[:63].rstrip("-_")
    if not derived:
        raise InvalidValue(
            f"cannot derive a project name from directory {target.name!r}",
            hint=f"pass --name with {_NAME_RULE}",
        )
    return derived


def resolve_answers(stack: Stack, name: str, settings: Mapping[str, str]) -> dict[str, str]:
    """Defaults overlaid with --set values, each validated; unknown keys are an error."""
    answers = {var.name: var.default for var in stack.variables}
    for key, value in settings.items():
        answers[key] = stack.variable(key).validate(value)
    answers["project_name"] = name
    return answers


def parse_settings(pairs: list[str] | tuple[str, ...]) -> dict[str, str]:
    """`KEY=VALUE` strings from repeated --set options."""
    settings: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise InvalidValue(f"--set expects KEY=VALUE, got {pair!r}", hint="e.g. --set db=mysql")
        settings[key.strip()] = value
    return settings


def check_target(target: Path, force: bool) -> Path:
    """Refuse a target that cannot receive a project; return the nearest existing ancestor."""
    if target.exists() or target.is_symlink():
        if not target.is_dir():
            raise TargetError(f"{target} exists and is not a directory", hint="choose another directory")
        if any(target.iterdir()) and not force:
            raise TargetError(
                f"{target} is not empty",
                hint="choose a new directory, or pass --force to add the missing files "
                "(existing files are never overwritten)",
            )
        anchor = target
    else:
        anchor = target.parent
        while not anchor.exists():
            anchor = anchor.parent
        if not anchor.is_dir():
            raise TargetError(f"{anchor} is not a directory", hint="choose another location")
    virtual = _virtual_filesystem(anchor)
    if virtual:
        raise TargetError(
            f"cannot create a project in {anchor}: it is the kernel's {virtual} filesystem, a view of "
            "the running system where no files can be created",
            hint="choose a directory in your home or workspace, e.g. `devstack new drupal ~/mysite`",
        )
    if not os.access(anchor, os.W_OK | os.X_OK):
        raise TargetError(
            f"cannot write to {anchor}: permission denied",
            hint="choose a directory you own, or fix its permissions",
        )
    return anchor


# Filesystems that are views of the kernel, not storage.
_VIRTUAL = {
    "proc", "sysfs", "devtmpfs", "devpts", "cgroup", "cgroup2", "securityfs", "debugfs", "tracefs",
    "configfs", "fusectl", "pstore", "bpf", "mqueue", "binfmt_misc", "autofs", "efivarfs", "nsfs",
}  # fmt: skip


def _virtual_filesystem(path: Path, mountinfo: Path = Path("/proc/self/mountinfo")) -> str | None:
    """The type of the filesystem `path` is on, when it is a kernel view (proc, sysfs...)."""
    try:
        lines = mountinfo.read_text().splitlines()
    except OSError:
        return None  # not Linux, or no /proc: nothing to say
    real = os.path.realpath(path)
    best, kind = "", None
    for line in lines:
        fields = line.split()
        if " - " not in line or len(fields) < 5:
            continue
        mount = fields[4].replace("\\040", " ")
        if (real == mount or real.startswith(mount.rstrip("/") + "/")) and len(mount) >= len(best):
            best, kind = mount, line.split(" - ", 1)[1].split()[0]
    return kind if kind in _VIRTUAL else None


def _cannot_write(place: Path, exc: OSError) -> TargetError:
    """The real reason a directory cannot receive files, in words."""
    import errno

    reasons = {
        errno.EROFS: f"{place} is on a read-only filesystem",
        errno.EACCES: f"permission denied: you cannot create files in {place}",
        errno.EPERM: f"the system does not allow creating files in {place}",
        errno.ENOSPC: f"no space left on the device of {place}",
        errno.EDQUOT: f"your disk quota is used up on the device of {place}",
    }
    message = reasons.get(exc.errno or 0, f"cannot write to {place}: {exc.strerror or exc}")
    return TargetError(message, hint="choose another directory (e.g. in your home)")


def create(
    stack_name: str,
    target: Path,
    *,
    name: str | None = None,
    settings: Mapping[str, str] | None = None,
    force: bool = False,
    dry_run: bool = False,
    certs: Path | None = None,
) -> CreateResult:
    """Create a project from STACK in TARGET; see the module docstring for the guarantees.

    `certs` is a directory of extra CA certificates (PEM `*.crt`), copied into the project's
    `docker/certs/`, where the stack's image build trusts them.
    """
    stack = find(stack_name)
    target = Path(os.path.abspath(target))
    proj = project_name(name, target)
    answers = resolve_answers(stack, proj, settings or {})
    anchor = check_target(target, force)
    result = CreateResult(stack, target, proj, answers, dry_run=dry_run)
    if certs is not None and not certs.is_dir():
        raise InvalidValue(
            f"the CA certificate directory {certs} does not exist",
            hint="fix new.certs (`devstack config` shows where it is set) or --certs",
        )

    # Dry runs render into the system temp dir: nothing at all is created near the target.
    staging_parent = Path(tempfile.gettempdir()) if dry_run else anchor
    try:
        staging = Path(tempfile.mkdtemp(prefix=".devstack-new-", dir=staging_parent))
    except OSError as exc:
        raise _cannot_write(staging_parent, exc) from exc
    try:
        rendered = _render(stack, answers, staging)
        _write_metadata(stack, answers, rendered)
        if certs is not None:
            _copy_certs(certs, rendered, result)
        existing_env = (target / ".env").exists()
        if not existing_env:
            result.env = envfile.sync(rendered)
        if dry_run:
            _plan(rendered, target, result)
        else:
            _move_into_place(rendered, target, result)
            if existing_env:
                result.env = envfile.sync(target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return result


def _render(stack: Stack, answers: dict[str, str], staging: Path) -> Path:
    from cookiecutter.exceptions import CookiecutterException, UndefinedVariableInTemplate
    from cookiecutter.main import cookiecutter
    from jinja2 import TemplateError as JinjaError

    with tempfile.TemporaryDirectory(prefix="devstack-cc-") as scratch:
        # Keep cookiecutter out of the user's home: no replay files, no clones, no ~/.cookiecutterrc.
        config = {
            "replay_dir": os.path.join(scratch, "replay"),
            "cookiecutters_dir": os.path.join(scratch, "clones"),
        }
        try:
            out = cookiecutter(
                str(stack.path),
                no_input=True,
                extra_context=dict(answers),
                output_dir=str(staging),
                default_config=config,
                accept_hooks=False,  # shipped stacks have no hooks; never run foreign code
            )
        except UndefinedVariableInTemplate as exc:
            raise TemplateError(
                f"stack {stack.name}: template uses an undefined variable: {exc.error.message}",
                hint="this is a bug in the template; please report it",
            ) from exc
        except (CookiecutterException, JinjaError, ValueError) as exc:
            raise TemplateError(
                f"stack {stack.name}: rendering failed: {exc}",
                hint="this is a bug in the template; please report it",
            ) from exc
    return Path(out)


CERTS_DIR = "docker/certs"


def _copy_certs(source: Path, rendered: Path, result: CreateResult) -> None:
    """Copy the PEM certificates (`*.crt`) of `source` into the project's docker/certs/.

    They are not part of the generated files (`.devstack.yml` does not list them): they are the
    user's, so a later `new --force` never replaces them.
    """
    target = rendered / CERTS_DIR
    if not target.is_dir():
        result.notes.append(
            f"stack {result.stack.name} has no {CERTS_DIR}/: the CA certificates in {source} were not copied"
        )
        return
    for path in sorted(source.iterdir()):
        if path.suffix != ".crt" or not path.is_file():
            continue
        try:
            data = path.read_bytes()
        except OSError as exc:
            result.notes.append(f"{path}: not copied ({exc.strerror})")
            continue
        if b"-----BEGIN CERTIFICATE-----" not in data:
            result.notes.append(
                f"{path.name}: not copied (not a PEM certificate; convert DER with openssl x509)"
            )
            continue
        (target / path.name).write_bytes(data)
        result.certs.append(f"{CERTS_DIR}/{path.name}")
    if not result.certs:
        result.notes.append(f"no PEM *.crt files in {source}: no CA certificates were copied")


def _files(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file() or p.is_symlink())


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _write_metadata(stack: Stack, answers: dict[str, str], rendered: Path) -> None:
    import yaml

    files = {rel: _digest(rendered / rel) for rel in _files(rendered)}
    data = {
        "stack": stack.name,
        "template_version": stack.template_version,
        "devstack_version": __version__,
        "answers": answers,
        "files": files,
    }
    header = (
        "# Written by `devstack new`: the stack, template version and answers this project was\n"
        "# generated from, and checksums of the generated files (for later updates). Commit it.\n"
    )
    text = header + yaml.safe_dump(data, sort_keys=False, default_flow_style=False)
    (rendered / METADATA_FILE).write_text(text, "utf-8")


def _generated_unchanged(target: Path) -> set[str]:
    """Files in an existing project that devstack generated and nobody has edited since."""
    import yaml

    meta = target / METADATA_FILE
    try:
        data = yaml.safe_load(meta.read_text("utf-8")) or {}
    except (OSError, ValueError, yaml.YAMLError):
        return set()
    files = data.get("files") if isinstance(data, dict) else None
    if not isinstance(files, dict):
        return set()
    same = set()
    for rel, digest in files.items():
        path = target / str(rel)
        if path.is_file() and not path.is_symlink() and _digest(path) == digest:
            same.add(str(rel))
    if same:
        same.add(METADATA_FILE)  # rewritten together with the files it describes
    return same


def _plan(rendered: Path, target: Path, result: CreateResult) -> list[tuple[str, bool]]:
    """Which staged files go in (True: replacing a generated, unchanged one) and which are kept."""
    replaceable = _generated_unchanged(target) if target.exists() else set()
    moves: list[tuple[str, bool]] = []
    for rel in _files(rendered):
        dest = target / rel
        if dest.exists() or dest.is_symlink():
            if rel in replaceable and rel not in _NEVER_REPLACED and dest.is_file():
                moves.append((rel, True))
                result.written.append(rel)
            else:
                result.kept.append(rel)
        else:
            moves.append((rel, False))
            result.written.append(rel)
    return moves


def _move_into_place(rendered: Path, target: Path, result: CreateResult) -> None:
    if not target.exists() or not any(target.iterdir()):
        created = _make_parents(target.parent)
        try:
            os.rename(rendered, target)  # atomic; replaces an empty directory
        except OSError as exc:
            _remove_dirs(created)
            raise TargetError(f"cannot create {target}: {exc.strerror}") from exc
        result.written = _files(target)
        return
    # --force into a non-empty directory: file by file, undone completely on any failure.
    moves = _plan(rendered, target, result)
    backup = rendered.parent / "replaced"
    done: list[tuple[Path, Path | None]] = []  # (placed file, backup of what it replaced)
    made_dirs: list[Path] = []
    try:
        for rel, replacing in moves:
            dest = target / rel
            made_dirs += _make_parents(dest.parent)
            saved = None
            if replacing:
                saved = backup / rel
                saved.parent.mkdir(parents=True, exist_ok=True)
                os.rename(dest, saved)
            os.rename(rendered / rel, dest)
            done.append((dest, saved))
    except BaseException:
        for dest, saved in reversed(done):
            dest.unlink(missing_ok=True)
            if saved is not None:
                os.rename(saved, dest)
        _remove_dirs(made_dirs)
        raise


def _make_parents(directory: Path) -> list[Path]:
    """mkdir -p, returning the directories it created (deepest last)."""
    missing = []
    probe = directory
    while not probe.exists():
        missing.append(probe)
        probe = probe.parent
    for path in reversed(missing):
        path.mkdir()
    return list(reversed(missing))


def _remove_dirs(created: list[Path]) -> None:
    for path in reversed(created):
        try:
            path.rmdir()
        except OSError:
            pass
