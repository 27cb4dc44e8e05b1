"""`devstack add` / `devstack remove`: backing services from a catalogue, added and taken out again.

The catalogue is data (`addons.yaml` next to this module). Adding a service writes three
files: the compose file (the service, and the app service's `environment` and `depends_on`),
`.env.example` (its keys, secrets marked) and `.env` (through `envfile.sync`, which generates
the secrets). The compose file changes only by whole inserted lines (`devstack.yamledit`), so
comments, key order, quoting and blank lines stay as the user wrote them, and removing the
service deletes exactly those lines again: add followed by remove gives back every file byte
for byte.

Every change is planned in full before anything is written; the plan is checked by parsing the
result and comparing it with what it must mean. After writing, `devstack check` runs on the
result and Compose's own model must show the service and its wiring; otherwise every file is
put back as it was. Nothing here prints, prompts or exits: the CLI renders the results.
"""

from __future__ import annotations

import copy
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from devstack import yamledit
from devstack.errors import ChecksFailed, DevstackError, InvalidValue, TemplateError, UsageError
from devstack.project import Project

CATALOGUE_FILE = Path(__file__).resolve().with_name("addons.yaml")
ENV_EXAMPLE = ".env.example"
DATA_DIR = "data"
# What `add` writes at the top of a .env.example it creates (and `remove` recognises).
CREATED_EXAMPLE = (
    "# Settings of this project, committed. `.env` (git-ignored) holds the values of each\n"
    "# checkout: `devstack env sync` (or `devstack up`) creates it from this file and generates\n"
    "# a fresh value for every key marked devstack:secret.\n"
)
_NAME = re.compile(r"[a-z][a-z0-9_-]{0,62}")
_PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")
_SETTING_RULES: dict[str, tuple[str, str]] = {
    "port": (r"[1-9][0-9]{0,4}", "a TCP port number from 1 to 65535"),
    "identifier": (r"[A-Za-z_][A-Za-z0-9_]{0,62}", "letters, digits and '_', not starting with a digit"),
    "number": (r"[1-9][0-9]{0,5}", "a whole number"),
}
# Images of backing services (besides the catalogue's): never the app a service is wired into.
_BACKING_IMAGES = {
    "mongo",
    "elasticsearch",
    "opensearch",
    "mailhog",
    "mailpit",
    "minio",
    "phpmyadmin",
    "traefik",
    "nginx-proxy",
}
_COMPOSE_REJECTS = {"DS100", "DS101", "DS102", "DS103", "DS104"}


# -- the catalogue ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Setting:
    name: str
    default: str
    kind: str  # a key of _SETTING_RULES
    help: str = ""

    def validate(self, value: str) -> str:
        pattern, wanted = _SETTING_RULES[self.kind]
        ok = re.fullmatch(pattern, value) is not None
        if ok and self.kind == "port":
            ok = 1 <= int(value) <= 65535
        if not ok:
            raise InvalidValue(f"invalid value {value!r} for {self.name}", hint=f"use {wanted}")
        return value


@dataclass(frozen=True)
class Addon:
    """One catalogue entry."""

    name: str
    summary: str
    image: str
    kind: str  # "service" (wired into apps) or "tool" (wired to a target service)
    prefix: str
    settings: tuple[Setting, ...]
    service: str
    env: str = ""
    wire: str = ""
    targets: tuple[str, ...] = ()

    def setting(self, name: str) -> Setting | None:
        return next((s for s in self.settings if s.name == name), None)


def catalogue() -> dict[str, Addon]:
    """Every entry of the catalogue, by name (plain YAML: no heavy import)."""
    import yaml

    loader = yaml.CSafeLoader if yaml.__with_libyaml__ else yaml.SafeLoader
    raw = yaml.load(CATALOGUE_FILE.read_text("utf-8"), Loader=loader)
    entries: dict[str, Addon] = {}
    for name, spec in raw.items():
        settings = tuple(
            Setting(key, str(value["default"]), str(value["kind"]), str(value.get("help", "")))
            for key, value in (spec.get("settings") or {}).items()
        )
        entries[name] = Addon(
            name=name,
            summary=str(spec["summary"]),
            image=str(spec["image"]),
            kind=str(spec.get("kind", "service")),
            prefix=str(spec["prefix"]),
            settings=settings,
            service=str(spec["service"]),
            env=str(spec.get("env") or ""),
            wire=str(spec.get("wire") or ""),
            targets=tuple(spec.get("targets") or ()),
        )
    return entries


def find(name: str) -> Addon:
    entries = catalogue()
    if name not in entries:
        raise UsageError(
            f"no service {name!r} in the catalogue",
            hint=f"choose one of: {', '.join(entries)} (`devstack add` lists them)",
        )
    return entries[name]


def prefix_for(addon: Addon, name: str) -> str:
    """The start of the service's keys: the catalogue's, or NAME in upper case with `--as NAME`."""
    if name == addon.name:
        return addon.prefix
    return re.sub(r"[^A-Z0-9]", "_", name.upper())


def parse_settings(pairs: Iterable[str]) -> dict[str, str]:
    values: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"--set expects KEY=VALUE, got {pair!r}")
        values[key.strip()] = value
    return values


# -- rendering -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Rendered:
    """A catalogue entry filled in for one service name."""

    addon: Addon
    name: str
    prefix: str
    values: dict[str, str]
    service_lines: tuple[str, ...]  # the service's value, two spaces per level
    service_data: dict[str, Any]
    env_lines: tuple[str, ...]  # the block for .env.example (header comment first); may be empty
    env_keys: tuple[str, ...]
    wire: dict[str, str]  # the app's environment

    @property
    def env_header(self) -> str:
        return self.env_lines[0] if self.env_lines else ""


def header_line(addon: Addon, name: str) -> str:
    command = f"devstack add {addon.name}" + (f" --as {name}" if name != addon.name else "")
    return f"# {name} (`{command}`): {addon.summary}"


def _header_pattern(name: str) -> re.Pattern[str]:
    return re.compile(rf"# {re.escape(name)} \(`devstack add [^`]*`\)")


def render(
    addon: Addon,
    name: str,
    settings: Mapping[str, str] | None = None,
    *,
    target: str | None = None,
    target_condition: str = "service_healthy",
    compose_v1: bool = False,
) -> Rendered:
    """Fill in the entry. Raises InvalidValue for a bad or unknown setting."""
    from devstack import envfile
    from devstack.composefile import ComposeFileError, parse

    values = {s.name: s.default for s in addon.settings}
    for key, value in (settings or {}).items():
        setting = addon.setting(key)
        if setting is None:
            valid = ", ".join(s.name for s in addon.settings) or "none"
            raise InvalidValue(f"{addon.name} has no setting {key!r}", hint=f"valid settings: {valid}")
        values[key] = setting.validate(value)
    prefix = prefix_for(addon, name)
    context = {**values, "name": name, "P": prefix}
    if target is not None:
        context.update(target=target, target_condition=target_condition)

    def fill(text: str) -> str:
        def one(match: re.Match[str]) -> str:
            key = match.group(1)
            if key not in context:
                raise TemplateError(f"catalogue entry {addon.name} uses an unknown placeholder {{{{{key}}}}}")
            return context[key]

        return _PLACEHOLDER.sub(one, text)

    service_lines = [line.rstrip() for line in fill(addon.service).splitlines() if line.strip()]
    if compose_v1:  # Compose v1 rejects the key (Engine 25+ and Compose 2.20+ know it)
        service_lines = [line for line in service_lines if not line.strip().startswith("start_interval:")]
    try:
        parsed = parse(f"{name}:\n" + "".join(f"  {line}\n" for line in service_lines), Path(name))
    except ComposeFileError as exc:
        raise TemplateError(f"catalogue entry {addon.name} is not valid YAML: {exc.message}") from exc
    service_data = parsed.data[name]
    env_body = [line.rstrip() for line in fill(addon.env).splitlines() if line.strip()]
    env_lines = [header_line(addon, name), *env_body] if env_body else []
    env_keys = tuple(e.key for e in envfile.parse_example("\n".join(env_body)))
    wire: dict[str, str] = {}
    for line in fill(addon.wire).splitlines():
        if line.strip():
            key, _, value = line.strip().partition("=")
            wire[key] = value
    return Rendered(
        addon,
        name,
        prefix,
        values,
        tuple(service_lines),
        service_data,
        tuple(env_lines),
        env_keys,
        wire,
    )


# -- the project's files ---------------------------------------------------------------------


@dataclass
class Source:
    """One compose file: its bytes, its lines and positions, and its data."""

    path: Path
    label: str
    raw: bytes
    doc: yamledit.Document
    data: dict[str, Any]

    def services_node(self) -> yamledit.Node | None:
        root = self.doc.root
        return root.get("services") if root is not None and root.kind == "map" else None

    def service_node(self, name: str) -> yamledit.Node | None:
        services = self.services_node()
        if services is None or services.kind != "map":
            return None
        return services.get(name)

    def defines(self, name: str) -> bool:
        services = self.services_node()
        return services is not None and services.kind == "map" and name in services.keys()

    def where(self, line: int) -> str:
        return f"{self.label}:{line + 1}"


def load_source(path: Path, root: Path) -> Source:
    """Read and parse one compose file; a file that cannot be read or parsed is refused."""
    from devstack.composefile import ComposeFileError, label_for, parse

    label = label_for(path, root)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise DevstackError(
            f"cannot read {label}: {exc.strerror or exc}", hint="check the path and its permissions"
        ) from exc
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DevstackError(f"{label} is not UTF-8 text", hint="save it as UTF-8 and try again") from exc
    try:
        doc = yamledit.Document(text)
    except yamledit.ParseError as exc:
        where = f"{label}:{exc.line}" + (f":{exc.column}" if exc.column else "") if exc.line else label
        raise DevstackError(
            f"{where}: the file does not parse: {exc.message}; nothing was changed",
            hint="fix it first (`devstack check` shows the same), then run the command again",
        ) from exc
    try:
        data = parse(text.lstrip("\ufeff"), path, label).data
    except ComposeFileError as exc:
        where = f"{label}:{exc.line}" if exc.line else label
        raise DevstackError(
            f"{where}: the file does not parse: {exc.message}; nothing was changed",
            hint="fix it first (`devstack check` shows the same), then run the command again",
        ) from exc
    if doc.root is not None and doc.root.kind != "map":
        raise DevstackError(f"{label}: the top level is not a mapping; nothing was changed")
    if doc.root is not None and doc.root.flow:
        raise _unsafe(
            label, doc.root.line, "the whole file is one flow mapping ({...})", "write it in block style"
        )
    return Source(path, label, raw, doc, data)


def _unsafe(label: str, line: int, what: str, by_hand: str) -> DevstackError:
    return DevstackError(
        f"{label}:{line + 1}: {what}: devstack only inserts whole lines and will not rewrite yours; "
        "nothing was changed",
        hint=by_hand,
    )


def _form(node: yamledit.Node) -> str:
    if node.kind == "alias":
        return f"an alias (*{node.value})"
    if node.flow:
        return "written in flow style"
    return "not a mapping"


def _repo(image: Any) -> str:
    """The image's name without registry, namespace `library/`, tag or digest: `postgres`."""
    text = str(image or "").split("@", 1)[0]
    last = text.rsplit("/", 1)[-1]
    return last.split(":", 1)[0].lower()


# -- planning --------------------------------------------------------------------------------


@dataclass
class FileChange:
    path: Path
    label: str
    before: bytes | None  # None: the file does not exist yet
    after: bytes | None  # None: the file is deleted


@dataclass
class Plan:
    """Everything a command will write, decided before anything is written."""

    project: Project
    action: str  # "add" or "remove"
    name: str
    addon: Addon | None
    changes: list[FileChange]
    baseline: Any  # lifecycle.CheckResult before the change
    apps: list[str] = field(default_factory=list)
    env_keys: tuple[str, ...] = ()
    wire_keys: tuple[str, ...] = ()
    data_dirs: list[Path] = field(default_factory=list)
    named_volumes: list[str] = field(default_factory=list)
    urls: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    delete_data: bool = False
    image: str = ""
    env_comments: list[str] = field(default_factory=list)  # remove: comment lines of its keys

    def diff(self) -> str:
        """A unified diff of the planned file changes."""
        import difflib

        out: list[str] = []
        for change in self.changes:
            before = (change.before or b"").decode("utf-8").splitlines(keepends=True)
            after = (change.after or b"").decode("utf-8").splitlines(keepends=True)
            old = f"a/{change.label}" if change.before is not None else "/dev/null"
            new = f"b/{change.label}" if change.after is not None else "/dev/null"
            for line in difflib.unified_diff(before, after, old, new):
                out.append(line if line.endswith("\n") else line + "\n\\ No newline at end of file\n")
        return "".join(out)


@dataclass
class Result:
    plan: Plan
    written: list[str]
    generated: list[str] = field(default_factory=list)  # secrets generated into .env
    env_added: list[str] = field(default_factory=list)
    created_dirs: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)  # data directories and volumes deleted
    kept: list[str] = field(default_factory=list)  # data kept
    warnings: list[str] = field(default_factory=list)
    dry_run: bool = False


def _compose_is_v1() -> bool:
    from devstack.compose import probe
    from devstack.errors import ComposeNotFound

    try:
        return probe().v1
    except ComposeNotFound:
        return False


def _baseline(project: Project) -> Any:
    """`devstack check` on the project as it is; Compose rejecting it stops the command."""
    from devstack import lifecycle
    from devstack.checks import Severity

    result = lifecycle.check(project)
    broken = [f for f in result.findings if f.severity >= Severity.ERROR and f.code in _COMPOSE_REJECTS]
    if broken:
        first = broken[0]
        where = f"{first.location}: " if first.location else ""
        raise DevstackError(
            f"{where}{first.message}; nothing was changed",
            hint="the project must load before devstack edits it: fix this first (`devstack check`)",
        )
    return result


def _model_services(baseline: Any) -> dict[str, dict[str, Any]]:
    model = getattr(baseline, "model", None) or {}
    services = model.get("services") if isinstance(model, dict) else None
    return {str(k): v for k, v in (services or {}).items() if isinstance(v, dict)}


def _raw_services(sources: Sequence[Source]) -> dict[str, dict[str, Any]]:
    """Services as the files write them, merged shallowly over the -f files (no Compose)."""
    merged: dict[str, dict[str, Any]] = {}
    for source in sources:
        services = source.data.get("services")
        for name, svc in (services or {}).items() if isinstance(services, dict) else []:
            if isinstance(svc, dict):
                merged.setdefault(str(name), {}).update(svc)
    return merged


def _included_names(sources: Sequence[Source], root: Path) -> dict[str, str]:
    """Service names defined by `include:`d files (name -> file label), recursively."""
    from devstack.composefile import ComposeFileError, label_for, load

    found: dict[str, str] = {}
    todo = [(s.path, s.data) for s in sources]
    seen: set[Path] = set()
    while todo:
        path, data = todo.pop()
        entries = data.get("include")
        for entry in entries if isinstance(entries, list) else []:
            spec = entry if isinstance(entry, dict) else {"path": entry}
            paths = spec.get("path")
            for raw in paths if isinstance(paths, list) else [paths]:
                if not isinstance(raw, str) or "$" in raw:
                    continue
                target = (path.parent / raw).resolve()
                if target in seen or not target.is_file():
                    continue
                seen.add(target)
                try:
                    loaded = load(target, root)
                except ComposeFileError:
                    continue
                for name in loaded.services():
                    found.setdefault(str(name), label_for(target, root))
                todo.append((target, loaded.data))
    return found


def _x_devstack(sources: Sequence[Source]) -> dict[str, Any]:
    for source in sources:
        block = source.data.get("x-devstack")
        if isinstance(block, dict):
            return block
    return {}


def _has_healthcheck(service: Mapping[str, Any]) -> bool:
    check = service.get("healthcheck")
    if not isinstance(check, dict) or check.get("disable") is True:
        return False
    test = check.get("test")
    return not (isinstance(test, list) and test[:1] == ["NONE"])


def _choose(
    addon: Addon,
    name: str,
    to: Sequence[str],
    services: Mapping[str, Mapping[str, Any]],
    sources: Sequence[Source],
) -> list[str]:
    """The app services to wire (kind service) or the one target (kind tool)."""
    for wanted in to:
        if wanted not in services:
            raise UsageError(
                f"--to {wanted}: no service {wanted!r} in this project",
                hint=f"services: {', '.join(sorted(services)) or 'none'}",
            )
        if wanted == name:
            raise UsageError(f"--to {wanted}: a service cannot be wired to itself")
    if addon.kind == "tool":
        if len(to) > 1:
            raise UsageError(f"{addon.name} serves one service: give --to once")
        if to:
            return list(to)
        kinds = " or ".join(addon.targets)
        targets = [n for n, svc in services.items() if _repo(svc.get("image")) in addon.targets]
        if len(targets) == 1:
            return targets
        if not targets:
            raise UsageError(
                f"{addon.name} needs a {kinds} service, and this project has none",
                hint=f"add one first (e.g. `devstack add {addon.targets[-1]}`), or name it with --to SERVICE",
            )
        raise UsageError(
            f"several services could be served by {addon.name}: {', '.join(sorted(targets))}",
            hint="choose one with --to SERVICE",
        )
    if to:
        return list(dict.fromkeys(to))
    web = _x_devstack(sources).get("web")
    if isinstance(web, str) and web in services:
        return [web]
    built = sorted(n for n, svc in services.items() if svc.get("build"))
    if len(built) == 1:
        return built
    if len(built) > 1:
        raise UsageError(
            f"several services could use {name}: {', '.join(built)}",
            hint="choose with --to SERVICE (repeat it to wire several)",
        )
    backing = {_repo(a.image) for a in catalogue().values()} | _BACKING_IMAGES
    apps = sorted(
        n for n, svc in services.items() if _repo(svc.get("image")) not in backing and not svc.get("profiles")
    )
    if len(apps) == 1:
        return apps
    if not apps:
        raise UsageError(
            f"found no app service to wire {name} into",
            hint="name the service that uses it with --to SERVICE",
        )
    raise UsageError(
        f"several services could use {name}: {', '.join(apps)}",
        hint="choose with --to SERVICE (repeat it to wire several)",
    )


# -- add -------------------------------------------------------------------------------------


def plan_add(
    project: Project,
    addon_name: str,
    *,
    name: str | None = None,
    to: Sequence[str] = (),
    settings: Mapping[str, str] | None = None,
) -> Plan:
    """Decide every change `devstack add` makes; refuse (raise) before anything is written."""
    addon = find(addon_name)
    name = name or addon.name
    if not _NAME.fullmatch(name):
        raise InvalidValue(
            f"invalid service name {name!r}",
            hint="use lowercase letters, digits, '-' and '_', starting with a letter (it names its keys too)",
        )
    sources = [load_source(path, project.root) for path in project.files]
    baseline = _baseline(project)
    services = _model_services(baseline) or _raw_services(sources)
    every = set(services) | set(_raw_services(sources))
    included = _included_names(sources, project.root)
    if name in every or name in included:
        where = f" (in {included[name]})" if name in included and name not in every else ""
        raise UsageError(
            f"service {name!r} already exists{where}; nothing was changed",
            hint=f"add it under another name: `devstack add {addon.name} --as OTHER`",
        )
    chosen = _choose(addon, name, to, services, sources)
    target = chosen[0] if addon.kind == "tool" else None
    condition = "service_healthy"
    if target is not None and not _has_healthcheck(services.get(target, {})):
        condition = "service_started"
    rendered = render(
        addon,
        name,
        settings,
        target=target,
        target_condition=condition,
        compose_v1=_compose_is_v1(),
    )
    apps = chosen if addon.kind == "service" else []
    _refuse_taken_keys(project, rendered, apps, services, sources)
    _refuse_taken_ports(project, rendered, services)

    # The compose files: the service goes into the first file; each app's wiring into the
    # first file that defines the app.
    expected = {i: copy.deepcopy(s.data) for i, s in enumerate(sources)}
    _insert_service(sources[0], rendered, expected[0])
    for app in apps:
        index = next((i for i, s in enumerate(sources) if s.defines(app)), None)
        if index is None:
            where = (
                f" (it is defined in {included[app]}, which this project includes)" if app in included else ""
            )
            raise DevstackError(
                f"service {app} is not defined in this project's own compose files{where}; "
                "nothing was changed",
                hint=f"wire {name} into it by hand, or add {name} in the project that defines {app}",
            )
        _wire_app(sources[index], app, rendered, expected[index])
    changes: list[FileChange] = []
    for index, source in enumerate(sources):
        if not source.doc.changed:
            continue
        text = source.doc.render()
        _verify(source, text, expected[index])
        changes.append(FileChange(source.path, source.label, source.raw, text.encode("utf-8")))
    example = _example_change(project, rendered)
    if example is not None:
        changes.append(example)
    data_dirs = _data_dirs(project.root, rendered.service_data)
    plan = Plan(
        project=project,
        action="add",
        name=name,
        addon=addon,
        changes=changes,
        baseline=baseline,
        apps=chosen,
        env_keys=rendered.env_keys,
        wire_keys=tuple(rendered.wire),
        data_dirs=data_dirs,
        urls=_urls(project, rendered),
        image=str(rendered.service_data.get("image", "")),
    )
    secrets = any(e.secret for e in _example_entries(rendered))
    for directory in data_dirs:
        if directory.is_dir() and any(directory.iterdir()):
            plan.notes.append(
                f"{_rel(directory, project.root)} holds data already (kept by an earlier remove?): "
                f"{name} starts with it"
                + (
                    ", and with the users and passwords it was first set up with: put those values "
                    "in .env, or delete the directory to start afresh"
                    if secrets
                    else ""
                )
            )
    plan.notes += _gitignore_notes(project.root, data_dirs)
    if data_dirs and "user" in rendered.service_data:
        plan.notes += _ownership_notes(project)
    return plan


def _example_entries(rendered: Rendered) -> list[Any]:
    from devstack import envfile

    return envfile.parse_example("\n".join(rendered.env_lines))


def _refuse_taken_keys(
    project: Project,
    rendered: Rendered,
    apps: Sequence[str],
    services: Mapping[str, Mapping[str, Any]],
    sources: Sequence[Source],
) -> None:
    from devstack import envfile
    from devstack.syntax import environment

    example = project.root / ENV_EXAMPLE
    taken: dict[str, str] = {}
    if example.is_file():
        for entry in envfile.parse_example(example.read_text("utf-8")):
            taken.setdefault(entry.key, ENV_EXAMPLE)
    if project.env_file.is_file():
        for key in envfile.read_keys(project.env_file):
            taken.setdefault(key, ".env")
    clashes = [(key, taken[key]) for key in rendered.env_keys if key in taken]
    raw = _raw_services(sources)
    for app in apps:
        present = set(environment(services.get(app, {}).get("environment")))
        present |= set(environment(raw.get(app, {}).get("environment")))
        clashes += [(key, f"{app}'s environment") for key in rendered.wire if key in present]
    if clashes:
        key, where = clashes[0]
        more = f" (and {len(clashes) - 1} more)" if len(clashes) > 1 else ""
        raise UsageError(
            f"{key} is already in {where}{more}; nothing was changed",
            hint=f"is there a {rendered.addon.name} already? `devstack add {rendered.addon.name} --as OTHER` "
            "uses keys starting with OTHER_; or take the key out first",
        )


def _published(service: Mapping[str, Any]) -> list[Any]:
    from devstack.syntax import SyntaxProblem, parse_port

    found = []
    for entry in service.get("ports") or []:
        try:
            found += parse_port(entry)
        except SyntaxProblem:
            continue
    return found


def _refuse_taken_ports(
    project: Project, rendered: Rendered, services: Mapping[str, Mapping[str, Any]]
) -> None:
    from devstack.interpolation import InterpolationError, substitute

    env = dict(project.interpolation_env())
    for line in rendered.env_lines:
        key, sep, value = line.partition("=")
        if sep and not line.startswith("#"):
            env.setdefault(key.strip(), value)
    for entry in rendered.service_data.get("ports") or []:
        try:
            text = substitute(str(entry), env)
        except InterpolationError:
            continue
        from devstack.syntax import SyntaxProblem, parse_port

        try:
            bindings = parse_port(text)
        except SyntaxProblem:
            continue
        for binding in bindings:
            problem = _port_problem(project, rendered.name, binding.host_ip, binding.published, services)
            if problem:
                setting = next((s.name for s in rendered.addon.settings if s.kind == "port"), "port")
                free = _free_port_near(binding.published, services)
                raise DevstackError(
                    f"host port {binding.published} for {rendered.name} {problem}; nothing was changed",
                    hint=f"choose another with --set {setting}=PORT" + (f" ({free} is free)" if free else ""),
                )


def _port_problem(
    project: Project, name: str, host_ip: str, port: int, services: Mapping[str, Mapping[str, Any]]
) -> str | None:
    for other, svc in services.items():
        for binding in _published(svc):
            same_ip = not binding.host_ip or not host_ip or binding.host_ip in (host_ip, "0.0.0.0", "::")
            if binding.protocol == "tcp" and same_ip and binding.published <= port <= binding.published_last:
                return f"is already published by service {other}"
    import errno
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host_ip or "127.0.0.1", port))
            return None
        except OSError as exc:
            if exc.errno != errno.EADDRINUSE:
                return None
    from devstack import engine
    from devstack.checks.ports import processes_holding
    from devstack.errors import EngineUnavailable

    try:
        holders = engine.containers_publishing(port, "tcp")
    except EngineUnavailable:
        holders = []
    if holders:
        if any(h.project == project.name and h.service == name for h in holders):
            return None  # a container of this very service, left over: `up` replaces it
        who = ", ".join(
            f"container {h.container}" + (f" (project {h.project}, service {h.service})" if h.project else "")
            for h in holders
        )
        return f"is in use by {who}"
    processes = list(processes_holding(port, "tcp"))
    if processes:
        return "is in use by " + ", ".join(f"{comm} (pid {pid})" for pid, comm in processes[:3])
    return "is in use by another process"


def _free_port_near(port: int, services: Mapping[str, Mapping[str, Any]]) -> int | None:
    import socket

    published = {
        p
        for svc in services.values()
        for b in _published(svc)
        for p in range(b.published, b.published_last + 1)
    }
    for candidate in range(port + 1, min(port + 200, 65536)):
        if candidate in published:
            continue
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind(("127.0.0.1", candidate))
                return candidate
            except OSError:
                continue
    return None


def _indent_lines(lines: Sequence[str], column: int, unit: int) -> list[str]:
    """Lines written two spaces per level, re-indented to start at `column`, `unit` per level."""
    out = []
    for line in lines:
        depth = (len(line) - len(line.lstrip(" "))) // 2
        out.append(" " * (column + unit * depth) + line.lstrip(" "))
    return out


def _insert_service(source: Source, rendered: Rendered, expected: dict[str, Any]) -> None:
    doc = source.doc
    unit = doc.indent_unit()
    root = doc.root
    services = source.services_node()
    block = [rendered.name + ":", *("  " + line for line in rendered.service_lines)]
    if root is None or services is None:
        lines = ["services:", *_indent_lines(block, unit, unit)]
        if root is None:
            doc.insert(len(doc.lines), lines)
        elif doc.final_newline:
            doc.insert(len(doc.lines), ["", *lines])  # a blank line before the new top-level key
        else:
            doc.insert(root.pairs[0][0].line, [*lines, ""])  # see _after()
        expected["services"] = {rendered.name: rendered.service_data}
        return
    key = root.pair("services")
    assert key is not None
    if services.is_empty_scalar:
        # `services:` with nothing under it: the service goes right below (after any comments).
        at = key[0].line + 1
        while (
            at < len(doc.lines) and (doc.is_blank(at) or doc.is_comment(at)) and doc.indent(at) > key[0].col
        ):
            at += 1
        doc.insert(at, _indent_lines(block, key[0].col + unit, unit))
        expected["services"] = {rendered.name: rendered.service_data}
        return
    if not services.is_block_map:
        form = (
            "an alias" if services.kind == "alias" else "a flow mapping" if services.flow else "not a mapping"
        )
        raise _unsafe(
            source.label,
            services.line,
            f"`services:` is {form}",
            "write `services:` as a block mapping (one service per indented key), then run the command again",
        )
    column = doc.key_column(services)
    child = _child_step(doc, services, column, unit)
    separated = doc.separated_by_blank_lines(services) is not False
    lines = _indent_lines(block, column, child)
    at, first = _after(doc, doc.block_end(services, column), key[0])
    if separated:
        lines = [*lines, ""] if first else ["", *lines]
    doc.insert(at, lines, order=100)  # after entries added to the last service
    target = expected.setdefault("services", {})
    target[rendered.name] = rendered.service_data


def _after(doc: yamledit.Document, end: int, key: yamledit.Node) -> tuple[int, bool]:
    """Where new entries of a collection go: after its last line `end`, or first, after `key`.

    In a file without a line break at its end, an insertion after the last line would have to
    change that line (a diff shows it removed and added again): the entries go first instead.
    Returns the line to insert at and whether that is first.
    """
    if end + 1 >= len(doc.lines) and not doc.final_newline:
        return key.line + 1, True
    return end + 1, False


def _child_step(doc: yamledit.Document, mapping: yamledit.Node, column: int, unit: int) -> int:
    """How far the entries of `mapping` indent their own keys (the file's step there)."""
    for _key, value in mapping.own_pairs():
        if value.is_block_map and value.pairs:
            step = doc.key_column(value) - column
            if step > 0:
                return step
    return unit


def _merged_value(doc: yamledit.Document, mapping: yamledit.Node, key: str) -> yamledit.Node | None:
    """The node a `<<` merge gives `key` in `mapping` (the first merge source that has it)."""
    for merge in mapping.merges():
        sources = merge.items if merge.kind == "seq" else [merge]
        for source in sources:
            resolved = doc.resolve(source)
            if resolved.kind == "map":
                found = resolved.get(key)
                if found is not None:
                    return found
                deeper = _merged_value(doc, resolved, key)
                if deeper is not None:
                    return deeper
    return None


def _unwrap(value: Any) -> Any:
    from devstack.composefile import Override

    return value.value if isinstance(value, Override) else value


def _wire_app(source: Source, app: str, rendered: Rendered, expected: dict[str, Any]) -> None:
    """Add the rendered environment and a depends_on entry to `app`, as inserted lines."""
    doc = source.doc
    svc = source.service_node(app)
    assert svc is not None
    if not svc.is_block_map:
        form = "an alias" if svc.kind == "alias" else "a flow mapping" if svc.flow else "not a mapping"
        raise _unsafe(
            source.label,
            svc.line,
            f"service {app} is {form}",
            f"write service {app} as a block mapping, or wire {rendered.name} into it by hand",
        )
    unit = doc.indent_unit()
    services = source.services_node()
    assert services is not None
    svc_key = services.pair(app)
    assert svc_key is not None
    data = expected["services"][app]
    env_lines = [f"{key}: {yamledit.scalar(value)}" for key, value in rendered.wire.items()]
    env_items = [f"{key}={value}" for key, value in rendered.wire.items()]
    if env_lines:
        _add_entries(
            source,
            svc_key[0],
            svc,
            "environment",
            unit,
            map_lines=env_lines,
            seq_items=env_items,
            order=1,
        )
        current = _unwrap(data.get("environment"))
        if isinstance(current, list):
            current.extend(env_items)
        elif isinstance(current, dict):
            current.update(rendered.wire)
        else:
            data["environment"] = dict(rendered.wire)
    dep_lines = [f"{rendered.name}:", "  condition: service_healthy"]
    _add_entries(
        source,
        svc_key[0],
        svc,
        "depends_on",
        unit,
        map_lines=dep_lines,
        seq_items=[rendered.name],
        order=2,
    )
    deps = _unwrap(data.get("depends_on"))
    if isinstance(deps, list):
        deps.append(rendered.name)
    elif isinstance(deps, dict):
        deps[rendered.name] = {"condition": "service_healthy"}
    else:
        data["depends_on"] = {rendered.name: {"condition": "service_healthy"}}


def _add_entries(
    source: Source,
    svc_key: yamledit.Node,
    svc: yamledit.Node,
    key: str,
    unit: int,
    *,
    map_lines: list[str],
    seq_items: list[str],
    order: int,
) -> None:
    """Append entries to `svc[key]` (mapping or list), or add the key with them."""
    doc = source.doc
    app = svc_key.value
    column = doc.key_column(svc)
    pair = svc.pair(key)
    if pair is None:
        merged = _merged_value(doc, svc, key)
        lines = [f"{key}:"]
        if merged is not None:
            resolved = doc.resolve(merged)
            if resolved.kind != "map" or not resolved.anchor:
                raise _unsafe(
                    source.label,
                    merged.line,
                    f"service {app} takes `{key}` from a YAML merge key (<<), which a new `{key}:` "
                    "would replace",
                    f"give that `{key}` an anchor (`{key}: &name`), then run the command again "
                    f"(devstack then writes `{key}:` with `<<: *name` in {app}); or add it by hand",
                )
            lines.append(f"  <<: *{resolved.anchor}")
        lines += ["  " + line for line in map_lines]
        at, _ = _after(doc, doc.block_end(svc, column), svc_key)
        doc.insert(at, _indent_lines(lines, column, unit), order=order)
        return
    key_node, value = pair
    if value.is_empty_scalar:
        doc.insert(
            key_node.line + 1, _indent_lines(["  " + line for line in map_lines], column, unit), order=order
        )
        return
    if value.is_block_map:
        entry_col = doc.key_column(value)
        step = _child_step(doc, value, entry_col, unit)
        at, _ = _after(doc, doc.block_end(value, entry_col), key_node)
        doc.insert(at, _indent_lines(map_lines, entry_col, step), order=order)
        return
    if value.is_block_seq and value.items:
        dash_col, gap = doc.dash(value)
        first = value.items[0]
        quoted = first.kind == "scalar" and first.style == '"'
        items = [
            " " * dash_col + "-" + gap + (yamledit.double_quoted(item) if quoted else yamledit.scalar(item))
            for item in seq_items
        ]
        at, _ = _after(doc, doc.block_end(value, dash_col), key_node)
        doc.insert(at, items, order=order)
        return
    if value.kind == "alias":
        form = f"an alias (*{value.value})"
        how = (
            f"write `{key}:` as a block mapping that merges it (`<<: *{value.value}` on the line "
            "below, indented), then run the command again"
        )
    elif value.flow:
        written = doc.text_of(value.line)[value.col :]
        if value.end_line == value.line:
            written = doc.text_of(value.line)[value.col : value.end_col]
        form = "written in flow style (" + (written if len(written) <= 50 else written[:47] + "...") + ")"
        how = "write it in block style (one entry per line), then run the command again"
    else:
        form = "neither a mapping nor a list"
        how = "fix it first (`devstack check`)"
    wanted = (
        ", ".join(seq_items)
        if value.kind == "seq"
        else ", ".join(entry for entry in map_lines if not entry.startswith(" "))
    )
    raise _unsafe(
        source.label,
        value.line,
        f"service {app}'s `{key}` is {form}",
        f"{how}; or add {wanted} to it by hand",
    )


def _verify(source: Source, text: str, expected: dict[str, Any]) -> None:
    """The edited text must parse to exactly the data planned; else the form is not safe to edit."""
    from devstack.composefile import ComposeFileError, parse

    try:
        got = parse(text.lstrip("\ufeff"), source.path, source.label).data
    except ComposeFileError as exc:
        raise DevstackError(
            f"{source.label}: devstack's change would not parse ({exc.message}); nothing was changed",
            hint="this is a form devstack cannot edit safely: please report it, and make the change by hand",
        ) from exc
    if _comparable(got) != _comparable(expected):
        raise DevstackError(
            f"{source.label}: devstack's change would mean something else than planned (YAML anchors, "
            "merge keys or indentation it cannot follow); nothing was changed",
            hint="make the change by hand (`--dry-run` shows it), or simplify that part of the file",
        )


def _comparable(value: Any) -> Any:
    """Data with Compose's `!reset` markers made comparable (each copy is its own object)."""
    from devstack.composefile import Override, Reset

    if isinstance(value, Reset):
        return ("!reset",)
    if isinstance(value, Override):
        return ("!override", _comparable(value.value))
    if isinstance(value, dict):
        return {k: _comparable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_comparable(v) for v in value]
    return value


def _example_change(project: Project, rendered: Rendered) -> FileChange | None:
    if not rendered.env_lines:
        return None
    path = project.root / ENV_EXAMPLE
    before = path.read_bytes() if path.is_file() else None
    text = before.decode("utf-8") if before is not None else CREATED_EXAMPLE
    eol = "\r\n" if "\r\n" in text else "\n"
    if text and not text.endswith(("\n", "\r")):
        text += eol
    block = eol.join(["", *rendered.env_lines]) + eol
    return FileChange(path, ENV_EXAMPLE, before, (text + block).encode("utf-8"))


def _bind_sources(service: Mapping[str, Any]) -> list[str]:
    from devstack.syntax import parse_mount

    found = []
    for entry in service.get("volumes") or []:
        mount = parse_mount(entry)
        if mount is not None and mount.type == "bind" and mount.source:
            found.append(mount.source)
    return found


def _data_dirs(root: Path, service: Mapping[str, Any]) -> list[Path]:
    """The service's bind-mounted directories under ./data/."""
    data_root = (root / DATA_DIR).resolve()
    found = []
    for raw in _bind_sources(service):
        if "$" in raw:
            continue
        path = (root / raw).resolve()
        if path != data_root and data_root in path.parents:
            found.append(path)
    return found


def _rel(path: Path, root: Path) -> str:
    try:
        return path.relative_to(root.resolve()).as_posix() + ("/" if path.is_dir() or not path.suffix else "")
    except ValueError:
        return str(path)


def _urls(project: Project, rendered: Rendered) -> list[str]:
    env = dict(project.interpolation_env())
    for line in rendered.env_lines:
        key, sep, value = line.partition("=")
        if sep and not line.startswith("#"):
            env.setdefault(key.strip(), value)
    from devstack.interpolation import InterpolationError, substitute
    from devstack.syntax import SyntaxProblem, parse_port

    urls = []
    for entry in rendered.service_data.get("ports") or []:
        try:
            bindings = parse_port(substitute(str(entry), env))
        except (InterpolationError, SyntaxProblem):
            continue
        for binding in bindings:
            web = binding.target in (80, 1080, 8080, 15672, 8025)
            urls.append(f"http://localhost:{binding.published}/" if web else f"localhost:{binding.published}")
    return urls


def _gitignore_notes(root: Path, paths: Sequence[Path]) -> list[str]:
    """Notes for directories devstack makes that git would pick up (in a git work tree only)."""
    import shutil
    import subprocess

    in_git = any((d / ".git").exists() for d in (root.resolve(), *root.resolve().parents))
    if not paths or not in_git or shutil.which("git") is None:
        return []
    rels = [os.path.relpath(path, root) for path in paths]
    try:
        # One call for all: it prints the paths git ignores (exit 1 when it ignores none).
        probe = subprocess.run(
            ["git", "-C", str(root), "check-ignore", "--no-index", "--", *rels],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return []
    if probe.returncode not in (0, 1):
        return []  # not a work tree after all, or git failed: say nothing
    ignored = set(probe.stdout.splitlines())
    note = "git does not ignore {}: add it (or /" + DATA_DIR + "/) to .gitignore"
    return [note.format(rel) for rel in rels if rel not in ignored]


# -- remove ----------------------------------------------------------------------------------


def plan_remove(project: Project, name: str, *, volumes: bool = False) -> Plan:
    """Decide every change `devstack remove` makes; refuse (raise) before anything is written."""
    sources = [load_source(path, project.root) for path in project.files]
    baseline = _baseline(project)
    defining = [s for s in sources if s.defines(name)]
    if not defining:
        included = _included_names(sources, project.root)
        if name in included:
            raise DevstackError(
                f"service {name} is defined in {included[name]}, which this project includes; "
                "nothing was changed",
                hint=f"remove it there (devstack edits only the project's own compose files: "
                f"{', '.join(s.label for s in sources)})",
            )
        services = sorted(_raw_services(sources))
        raise UsageError(
            f"no service {name!r} in this project; nothing was changed",
            hint=f"services: {', '.join(services) or 'none'}",
        )
    raw = _raw_services(sources)
    service = raw.get(name, {})
    marker = service.get("x-devstack")
    addon_name = marker.get("addon") if isinstance(marker, dict) else None
    addon = catalogue().get(str(addon_name)) if addon_name else None
    rendered = _render_for_removal(addon, name) if addon is not None else None
    wire = rendered.wire if rendered is not None else {}

    changes: list[FileChange] = []
    apps: set[str] = set()
    for source in sources:
        expected = copy.deepcopy(source.data)
        apps |= _unwire(source, name, wire, expected)
        if source.defines(name):
            _delete_service(source, name, expected)
        if not source.doc.changed:
            continue
        text = source.doc.render()
        _verify(source, text, expected)
        changes.append(FileChange(source.path, source.label, source.raw, text.encode("utf-8")))
    env_comments: list[str] = []
    if rendered is not None and rendered.env_lines:
        example, env_comments = _example_removal(project, rendered)
        if example is not None:
            changes.append(example)
        env_comments += [line for line in rendered.env_lines if line.startswith("#")]
    data_dirs = _data_dirs(project.root, _model_services(baseline).get(name) or service)
    if not data_dirs:
        data_dirs = _data_dirs(project.root, service)
    named = _named_volumes(baseline, name)
    plan = Plan(
        project=project,
        action="remove",
        name=name,
        addon=addon,
        changes=changes,
        baseline=baseline,
        apps=sorted(apps),
        env_keys=rendered.env_keys if rendered else (),
        wire_keys=tuple(wire),
        data_dirs=data_dirs,
        named_volumes=named,
        delete_data=volumes,
        image=str(service.get("image", "")),
        env_comments=env_comments,
    )
    if addon is None:
        plan.notes.append(
            f"{name} was not added by `devstack add`: its keys in .env.example/.env and any "
            "environment that points at it are left as they are"
        )
    plan.notes += _leftover_mentions(sources, name, wire)
    return plan


def _render_for_removal(addon: Addon, name: str) -> Rendered:
    """The entry filled in with its defaults: enough to know its keys and wiring."""
    return render(addon, name, target="target")


def _leftover_mentions(sources: Sequence[Source], name: str, wire: Mapping[str, str]) -> list[str]:
    """Environment values elsewhere that still name the removed service (not devstack's wiring)."""
    from devstack.syntax import environment, link_targets

    notes: list[str] = []
    for source in sources:
        services = source.data.get("services")
        for other, svc in services.items() if isinstance(services, dict) else []:
            if other == name or not isinstance(svc, dict):
                continue
            # A `links: [NAME:ALIAS]` entry (in any of the files) made ALIAS a host name for it too.
            hosts = {name}
            for each in sources:
                linked = (each.data.get("services") or {}).get(other)
                if isinstance(linked, dict):
                    hosts |= {alias for target, alias in link_targets(linked) if target == name}
            alternatives = "|".join(map(re.escape, sorted(hosts)))
            pattern = re.compile(rf"(^|[/@:=\s])({alternatives})($|[:/\s])")
            for key, value in environment(svc.get("environment")).items():
                if key in wire or value is None or not pattern.search(value):
                    continue
                note = f"{other}'s environment still mentions {name}: {key}={value}"
                if note not in notes:
                    notes.append(note)
    return notes


def _named_volumes(baseline: Any, name: str) -> list[str]:
    """Named volumes only this service mounts (Compose's names for them)."""
    model = getattr(baseline, "model", None) or {}
    services = model.get("services") or {}
    mine = services.get(name) or {}
    declared = model.get("volumes") or {}
    used_elsewhere = {
        v.get("source")
        for other, svc in services.items()
        if other != name and isinstance(svc, dict)
        for v in svc.get("volumes") or []
        if isinstance(v, dict) and v.get("type") == "volume"
    }
    found = []
    for mount in mine.get("volumes") or []:
        if not isinstance(mount, dict) or mount.get("type") != "volume" or not mount.get("source"):
            continue
        source = mount["source"]
        spec = declared.get(source) or {}
        if source in used_elsewhere or spec.get("external"):
            continue
        found.append(str(spec.get("name") or source))
    return found


def _delete_range(
    doc: yamledit.Document, key: yamledit.Node, value: yamledit.Node, column: int
) -> tuple[int, int]:
    """The lines of a key and its value, with the comments that trail it at `column` or deeper."""
    return key.line, max(doc.block_end(value, column), key.line)


def _delete_service(source: Source, name: str, expected: dict[str, Any]) -> None:
    doc = source.doc
    services = source.services_node()
    assert services is not None and services.kind == "map"
    if not services.is_block_map:
        raise _unsafe(
            source.label, services.line, "`services:` is a flow mapping", f"delete {name} from it by hand"
        )
    pair = services.pair(name)
    assert pair is not None
    key, value = pair
    expected_services = expected.get("services")
    if isinstance(expected_services, dict):
        expected_services.pop(name, None)
    remaining = [k for k in services.keys() if k != name]
    root = doc.root
    assert root is not None
    if not remaining:
        # The last service: `services:` goes too (as `add` wrote it into a file without any).
        top = root.pair("services")
        assert top is not None
        first, last = top[0].line, doc.block_end(services, 1)
        leading = top[0] is root.pairs[0][0]
        expected.pop("services", None)
    else:
        first, last = _delete_range(doc, key, value, key.col + 1)
        leading = key is services.pairs[0][0]
    # One blank line that separated it goes with it: the one before, or after a leading entry.
    if first > 0 and doc.is_blank(first - 1):
        first -= 1
    elif leading and last + 1 < len(doc.lines) and doc.is_blank(last + 1):
        last += 1
    doc.delete(first, last)


def _unwire(source: Source, name: str, wire: Mapping[str, str], expected: dict[str, Any]) -> set[str]:
    """Delete references to `name` from the other services; return those that were wired to it."""
    services = source.services_node()
    if services is None or services.kind != "map":
        return set()
    apps: set[str] = set()
    data_services = expected.get("services") if isinstance(expected.get("services"), dict) else {}
    for key, svc in services.own_pairs():
        other = key.value
        data = data_services.get(other) if isinstance(data_services, dict) else None
        if other == name or not isinstance(data, dict):
            continue
        if not svc.is_block_map:
            from devstack.syntax import dependencies, link_targets

            needs = {d.service for d in dependencies(data)} | {t for t, _ in link_targets(data)}
            if name in needs:
                raise _unsafe(
                    source.label,
                    svc.line,
                    f"service {other}, which needs {name}, is {_form(svc)}",
                    f"take {name} out of its depends_on/links by hand, then remove {name} again",
                )
            continue
        _refuse_hard_references(source, other, svc, name)
        depends = _delete_entries(source, other, svc, "depends_on", {name}, data, name)
        links = _delete_link(source, other, svc, name, data)
        env_value = svc.get("environment")
        env_raw = _unwrap(data.get("environment"))
        wired = depends or links
        if not wired and wire:
            from devstack.syntax import environment

            values = environment(env_raw)
            wired = any(values.get(k) == v for k, v in wire.items())
        if wired and wire and env_value is not None:
            _delete_entries(source, other, svc, "environment", set(wire), data, name)
        if wired:
            apps.add(other)
    return apps


def _refuse_hard_references(source: Source, other: str, svc: yamledit.Node, name: str) -> None:
    data_ref = None
    extends = svc.get("extends")
    if extends is not None:
        target = extends.value if extends.kind == "scalar" else None
        if extends.kind == "map":
            service = extends.get("service")
            has_file = extends.get("file") is not None
            target = service.value if service is not None and not has_file else None
        if target == name:
            data_ref = (extends.line, f"service {other} extends {name}")
    volumes_from = svc.get("volumes_from")
    if volumes_from is not None and volumes_from.kind == "seq":
        for item in volumes_from.items:
            text = item.value.removeprefix("service:").split(":")[0] if item.kind == "scalar" else ""
            if text == name:
                data_ref = (item.line, f"service {other} takes volumes from {name}")
    mode = svc.get("network_mode")
    if mode is not None and mode.kind == "scalar" and mode.value == f"service:{name}":
        data_ref = (mode.line, f"service {other} shares the network of {name}")
    if data_ref:
        line, what = data_ref
        raise DevstackError(
            f"{source.where(line)}: {what}; nothing was changed",
            hint=f"change {other} first so that it does not need {name}, then remove {name}",
        )


def _delete_link(source: Source, other: str, svc: yamledit.Node, name: str, data: dict[str, Any]) -> bool:
    links = svc.get("links")
    if links is None:
        return False
    if links.kind == "seq" and not links.flow:
        matches = [item for item in links.items if item.kind == "scalar" and item.value.split(":")[0] == name]
        if not matches:
            return False
        raw = data.get("links")
        if isinstance(raw, list):
            data["links"] = [v for v in raw if str(v).split(":")[0] != name]
        _delete_items(source, svc, "links", links, matches, data)
        return True
    if links.kind == "seq" and any(i.kind == "scalar" and i.value.split(":")[0] == name for i in links.items):
        raise _unsafe(
            source.label,
            links.line,
            f"service {other}'s `links` is written in flow style",
            f"take {name} out of it by hand, then run the command again",
        )
    return False


def _delete_entries(
    source: Source,
    other: str,
    svc: yamledit.Node,
    key: str,
    names: set[str],
    data: dict[str, Any],
    removed: str,
) -> bool:
    """Delete entries named `names` from svc[key] (mapping or list); True when any was there."""
    doc = source.doc
    value = svc.get(key)
    if value is None:
        return False
    raw = _unwrap(data.get(key))
    if value.is_block_map:
        matches = [(k, v) for k, v in value.own_pairs() if k.value in names]
        if not matches:
            return False
        if isinstance(raw, dict):
            for k, _ in matches:
                raw.pop(k.value, None)
        own = [k for k, _ in value.own_pairs()]
        if len(matches) == len(own) and not value.merges():
            data.pop(key, None)
            pair = svc.pair(key)
            assert pair is not None
            doc.delete(*_delete_range(doc, pair[0], value, doc.key_column(svc) + 1))
            return True
        if len(matches) == len(own) and _merge_only_redundant(doc, svc, key, value):
            pair = svc.pair(key)
            assert pair is not None
            doc.delete(*_delete_range(doc, pair[0], value, doc.key_column(svc) + 1))
            return True
        for k, v in matches:
            doc.delete(k.line, doc.last_line(v))
        return True
    if value.is_block_seq:

        def entry_name(item: yamledit.Node) -> str:
            return item.value.partition("=")[0] if key == "environment" else item.value

        matches_items = [i for i in value.items if i.kind == "scalar" and entry_name(i) in names]
        if not matches_items:
            return False
        if isinstance(raw, list):
            kept = [
                v for v in raw if (str(v).partition("=")[0] if key == "environment" else str(v)) not in names
            ]
            data[key] = kept
        _delete_items(source, svc, key, value, matches_items, data)
        return True
    if value.kind in ("map", "seq") and value.flow:
        present = (
            [k.value for k, _ in value.own_pairs()]
            if value.kind == "map"
            else [
                (i.value.partition("=")[0] if key == "environment" else i.value)
                for i in value.items
                if i.kind == "scalar"
            ]
        )
        hit = sorted(names.intersection(present))
        if hit:
            raise _unsafe(
                source.label,
                value.line,
                f"service {other}'s `{key}` is written in flow style and names {', '.join(hit)}",
                f"take {', '.join(hit)} out of it by hand, then run `devstack remove {removed}` again",
            )
    return False


def _merge_only_redundant(doc: yamledit.Document, svc: yamledit.Node, key: str, value: yamledit.Node) -> bool:
    """`key: {<<: *x}` alone says what the service's own `<<` merge says already."""
    merged = _merged_value(doc, svc, key)
    if merged is None:
        return False
    sources = [doc.resolve(s) for m in value.merges() for s in (m.items if m.kind == "seq" else [m])]
    return len(sources) == 1 and sources[0] is doc.resolve(merged)


def _delete_items(
    source: Source,
    svc: yamledit.Node,
    key: str,
    value: yamledit.Node,
    matches: list[yamledit.Node],
    data: dict[str, Any],
) -> None:
    doc = source.doc
    if len(matches) == len(value.items):
        data.pop(key, None)
        pair = svc.pair(key)
        assert pair is not None
        doc.delete(*_delete_range(doc, pair[0], value, doc.key_column(svc) + 1))
        return
    for item in matches:
        # The item's line from its dash (the item starts after "- ").
        doc.delete(item.line, doc.last_line(item))


def _example_removal(project: Project, rendered: Rendered) -> tuple[FileChange | None, list[str]]:
    """The change to .env.example, and the comment lines of the block it takes out."""
    path = project.root / ENV_EXAMPLE
    if not path.is_file():
        return None, []
    before = path.read_bytes()
    text = before.decode("utf-8")
    after, dropped = _remove_env_block(text, rendered.name, set(rendered.env_keys))
    comments = [line for line in dropped if line.lstrip().startswith("#")]
    if after == text:
        return None, comments
    if after == CREATED_EXAMPLE:
        return FileChange(path, ENV_EXAMPLE, before, None), comments
    return FileChange(path, ENV_EXAMPLE, before, after.encode("utf-8")), comments


def _key_of(line: str) -> str | None:
    match = re.match(r"\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_.-]*)\s*=", line)
    return match.group(1) if match else None


def _remove_env_block(text: str, name: str, keys: set[str]) -> tuple[str, list[str]]:
    """Take out the block `add` appended for `name` (header, comments, keys) and stray keys."""
    lines = text.splitlines(keepends=True)
    header = _header_pattern(name)
    drop: set[int] = set()
    for index, line in enumerate(lines):
        if not header.match(line):
            continue
        end = index + 1
        while end < len(lines):
            stripped = lines[end].strip()
            key = _key_of(lines[end])
            if (
                stripped.startswith("#")
                and not header.match(lines[end])
                and not stripped.startswith("# Added by")
            ):
                end += 1
            elif key is not None and key in keys:
                end += 1
            else:
                break
        # Comment lines at the end of the block that lead into something else are not ours.
        while end > index + 1 and lines[end - 1].strip().startswith("#"):
            end -= 1
        drop.update(range(index, end))
        if index > 0 and not lines[index - 1].strip():
            drop.add(index - 1)
    for index, line in enumerate(lines):
        key = _key_of(line)
        if key is not None and key in keys:
            drop.add(index)
    kept = [line for index, line in enumerate(lines) if index not in drop]
    result = "".join(kept)
    if lines and not lines[-1].endswith(("\n", "\r")) and result.endswith(("\n", "\r")):
        result = result.rstrip("\r\n")
    return result, [line.rstrip("\r\n") for index, line in enumerate(lines) if index in drop]


def _remove_env_keys(text: str, keys: set[str], comments: Iterable[str]) -> str:
    """Take keys out of .env, with the comments `envfile.sync` copied above them."""
    ours = {c.rstrip("\r\n") for c in comments}
    lines = text.splitlines(keepends=True)
    drop: set[int] = set()
    for index, line in enumerate(lines):
        key = _key_of(line)
        if key is None or key not in keys:
            continue
        drop.add(index)
        above = index - 1
        while above >= 0 and lines[above].rstrip("\r\n") in ours and lines[above].strip().startswith("#"):
            drop.add(above)
            above -= 1
    # An "Added by devstack" section that is now empty goes, with the blank line before it.
    kept_index = [i for i in range(len(lines)) if i not in drop]
    for position, index in enumerate(kept_index):
        if not lines[index].startswith("# Added by devstack from"):
            continue
        following = kept_index[position + 1] if position + 1 < len(kept_index) else None
        if following is None or not lines[following].strip():
            drop.add(index)
            if position > 0 and not lines[kept_index[position - 1]].strip():
                drop.add(kept_index[position - 1])
    result = "".join(line for index, line in enumerate(lines) if index not in drop)
    if lines and not lines[-1].endswith(("\n", "\r")) and result.endswith(("\n", "\r")):
        result = result.rstrip("\r\n")
    return result


# -- applying --------------------------------------------------------------------------------


class _Snapshot:
    """Files as they were, to put back byte for byte (and their modes)."""

    def __init__(self, paths: Iterable[Path]) -> None:
        self.saved: dict[Path, tuple[bytes, int] | None] = {}
        for path in paths:
            if path in self.saved:
                continue
            try:
                self.saved[path] = (path.read_bytes(), path.stat().st_mode & 0o7777)
            except FileNotFoundError:
                self.saved[path] = None

    def restore(self) -> None:
        for path, saved in self.saved.items():
            if saved is None:
                path.unlink(missing_ok=True)
            else:
                _write(path, saved[0], saved[1])


def _write(path: Path, data: bytes, mode: int | None = None) -> None:
    """Write atomically (a temporary file renamed over it), keeping the file's mode."""
    import tempfile

    real = path.resolve()
    if mode is None:
        try:
            mode = real.stat().st_mode & 0o7777
        except FileNotFoundError:
            mode = 0o666 & ~_umask()
    try:
        fd, tmp = tempfile.mkstemp(dir=real.parent, prefix=f".{real.name}.", suffix=".tmp")
    except OSError as exc:
        raise DevstackError(
            f"cannot write {path.name} in {real.parent}: {exc.strerror or exc}",
            hint="check the directory's permissions",
        ) from exc
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.chmod(tmp, mode)
        os.replace(tmp, real)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise DevstackError(f"cannot write {path.name}: {exc.strerror or exc}") from exc
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current


def _new_errors(before: Any, after: Any) -> list[Any]:
    from devstack.checks import Severity

    known = {(f.code, f.message) for f in before.findings}
    return [f for f in after.findings if f.severity >= Severity.ERROR and (f.code, f.message) not in known]


def _make_dirs(project: Project, dirs: Sequence[Path]) -> list[Path]:
    """Create the data directories (before Docker would, as root); owned by the service's user."""
    created: list[Path] = []
    owner = _owner(project)
    for directory in dirs:
        missing = [p for p in (directory, *directory.parents) if not p.exists()]
        directory.mkdir(parents=True, exist_ok=True)
        for path in reversed(missing):
            created.append(path)
            if owner is not None:
                try:
                    os.chown(path, *owner)
                except OSError:
                    pass
    return created


def _ownership_notes(project: Project) -> list[str]:
    """When devstack runs as a user the service will not run as, say how to make them one."""
    if not hasattr(os, "geteuid") or os.geteuid() == 0:
        return []  # root: the directory is given to the service's user
    env = project.interpolation_env()
    uid, gid = env.get("HOST_UID") or "1000", env.get("HOST_GID") or "1000"
    if (uid, gid) == (str(os.geteuid()), str(os.getegid())):
        return []
    return [
        f"the service runs as {uid}:{gid} (HOST_UID/HOST_GID, default 1000) but you are "
        f"{os.geteuid()}:{os.getegid()}: set HOST_UID={os.geteuid()} and HOST_GID={os.getegid()} in .env "
        "so that it can write its data directory"
    ]


def _owner(project: Project) -> tuple[int, int] | None:
    """HOST_UID:HOST_GID as Compose will read them, when devstack runs as root (else None)."""
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        return None
    env = project.interpolation_env()
    try:
        return int(env.get("HOST_UID") or 1000), int(env.get("HOST_GID") or 1000)
    except ValueError:
        return None


def apply(plan: Plan) -> Result:
    """Write the plan; on an error from the checks (or Ctrl-C) put every file back as it was."""
    if plan.action == "add":
        return _apply_add(plan)
    return _apply_remove(plan)


def _apply_add(plan: Plan) -> Result:
    from devstack import envfile, lifecycle

    project = plan.project
    snapshot = _Snapshot([*(c.path for c in plan.changes), project.env_file])
    created: list[Path] = []
    result = Result(plan, written=[c.label for c in plan.changes])
    try:
        for change in plan.changes:
            assert change.after is not None
            _write(change.path, change.after)
        created = _make_dirs(project, plan.data_dirs)
        if plan.env_keys and (project.root / ENV_EXAMPLE).is_file():
            synced = envfile.sync(project.root)
            result.generated = list(synced.generated)
            result.env_added = list(synced.added)
        after = lifecycle.check(project)
        problems = _new_errors(plan.baseline, after)
        if problems:
            raise ChecksFailed(
                f"devstack check found {len(problems)} error(s) after adding {plan.name}; "
                "every file was put back as it was",
                problems,
                hint="fix what the findings name (or choose other settings with --set), then add again",
            )
        missing = _missing_wiring(after, plan)
        if missing:
            raise DevstackError(
                f"Compose's model of the project lacks {missing} after the change "
                "(an override file or `!reset` replaces it?); every file was put back as it was",
                hint="see `docker compose config`; wire the service by hand where the override is",
            )
    except BaseException:
        snapshot.restore()
        for path in reversed(created):
            try:
                path.rmdir()
            except OSError:
                pass
        raise
    result.created_dirs = [_rel(p, project.root) for p in created if p in plan.data_dirs]
    result.warnings = list(plan.notes)
    return result


def _missing_wiring(after: Any, plan: Plan) -> str | None:
    """What of the planned change Compose's model does not show (None: all of it)."""
    model = getattr(after, "model", None)
    if not isinstance(model, dict) or not model:
        return None  # no Compose here: the checks above were all there is
    services = model.get("services") or {}
    if plan.name not in services:
        return f"service {plan.name}"
    if plan.addon is None or plan.addon.kind != "service":
        return None
    from devstack.syntax import environment

    for app in plan.apps:
        svc = services.get(app) or {}
        env = environment(svc.get("environment"))
        lost = [k for k in plan.wire_keys if k not in env]
        if lost:
            return f"{', '.join(lost)} in {app}'s environment"
        deps = svc.get("depends_on") or {}
        if plan.name not in deps:
            return f"{plan.name} in {app}'s depends_on"
    return None


def _apply_remove(plan: Plan) -> Result:
    from devstack import envfile, lifecycle

    project = plan.project
    snapshot = _Snapshot([*(c.path for c in plan.changes), project.env_file])
    result = Result(plan, written=[c.label for c in plan.changes])
    result.warnings = list(plan.notes)
    stopped = _stop_container(plan)
    if stopped:
        result.warnings.append(stopped)
    try:
        for change in plan.changes:
            if change.after is None:
                change.path.unlink(missing_ok=True)
            else:
                _write(change.path, change.after)
        if plan.addon is not None and project.env_file.is_file():
            rendered = _render_for_removal(plan.addon, plan.name)
            text = project.env_file.read_text("utf-8")
            after_text = _remove_env_keys(text, set(rendered.env_keys), plan.env_comments)
            if not envfile.references_host_user(f for f in project.files if f.is_file()):
                after_text = envfile.without_host_user(after_text)
            example_deleted = any(c.after is None and c.label == ENV_EXAMPLE for c in plan.changes)
            if example_deleted and not any(_key_of(line) for line in after_text.splitlines()):
                # .env.example was add's own, so this .env was made from it: nothing left in it.
                project.env_file.unlink()
                result.written.append(".env (deleted: no keys left)")
            elif after_text != text:
                envfile_write(project.env_file, after_text)
                result.written.append(".env")
        after = lifecycle.check(project)
        problems = _new_errors(plan.baseline, after)
        if problems:
            raise ChecksFailed(
                f"devstack check found {len(problems)} error(s) after removing {plan.name}; "
                "every file was put back as it was",
                problems,
                hint=f"fix what the findings name (what else needs {plan.name}?), then remove again",
            )
    except BaseException:
        snapshot.restore()
        raise
    # The files are done; data goes last, and only when asked for.
    failed: list[str] = []
    for directory in plan.data_dirs:
        rel = _rel(directory, project.root)
        if not directory.exists():
            continue
        if plan.delete_data:
            try:
                _delete_dir(directory, plan.image)
                result.deleted.append(rel)
            except (OSError, DevstackError) as exc:
                failed.append(f"{rel} ({getattr(exc, 'message', None) or exc})")
        elif not any(directory.iterdir()):
            _remove_empty(directory, project.root)  # nothing in it: nothing to keep
        else:
            result.kept.append(rel)
    for volume in plan.named_volumes:
        if plan.delete_data:
            if _delete_volume(volume):
                result.deleted.append(f"volume {volume}")
            else:
                failed.append(f"volume {volume}")
        else:
            result.kept.append(f"volume {volume}")
    if failed:
        raise DevstackError(
            f"removed {plan.name} from the project, but could not delete {', '.join(failed)}",
            hint="delete it by hand (`docker volume rm` for a volume), or run the command again "
            "when the Docker engine answers",
        )
    return result


def _remove_empty(directory: Path, root: Path) -> None:
    """Remove an empty directory, and its parents up to the project's data/ while they are empty."""
    stop = root.resolve()
    while directory != stop and stop in directory.parents:
        try:
            directory.rmdir()
        except OSError:
            return
        directory = directory.parent


def envfile_write(path: Path, text: str) -> None:
    """Write .env privately (mode 600), as envfile does."""
    _write(path, text.encode("utf-8"), 0o600)


def _stop_container(plan: Plan) -> str | None:
    """Stop and remove the service's container (it is about to leave the project)."""
    from devstack.compose import ComposeRunner

    try:
        runner = ComposeRunner(plan.project)
        if runner.binary.v1:
            runner.run("rm", "--stop", "--force", plan.name, timeout=120)
        else:
            runner.run("rm", "--stop", "--force", "--", plan.name, timeout=120)
    except DevstackError as exc:
        return f"could not stop {plan.name}'s container ({exc.message}); `devstack up` removes it"
    return None


def _delete_dir(directory: Path, image: str) -> None:
    """Delete a data directory; files a container left owned by another user go through the engine."""
    import shutil

    try:
        shutil.rmtree(directory)
        return
    except PermissionError:
        pass
    from devstack import engine

    client = engine.client()
    client.containers.run(
        image,
        entrypoint=["sh", "-c", "rm -rf /target/* /target/.[!.]* /target/..?*"],
        volumes={str(directory): {"bind": "/target", "mode": "rw"}},
        user="0:0",
        network_mode="none",
        remove=True,
    )
    shutil.rmtree(directory)


def _delete_volume(name: str) -> bool:
    """Delete a named volume; True when it is gone (or never was created)."""
    from devstack import engine

    try:
        client = engine.client()
        client.volumes.get(name).remove()
    except DevstackError:
        return False  # no engine
    except Exception as exc:  # the SDK's errors: NotFound is fine, in use is not
        return type(exc).__name__ == "NotFound"
    return True
