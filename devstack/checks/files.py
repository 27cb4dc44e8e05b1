"""DS1xx: the compose files themselves (readable, YAML, Compose's schema, obsolete formats)."""

from __future__ import annotations

import functools
import json
import re
from pathlib import Path
from typing import Any

from devstack import composefile
from devstack.checks import Finding
from devstack.checks.codes import finding
from devstack.checks.context import Context, dotted
from devstack.composefile import ComposeFile

SCHEMA = Path(__file__).resolve().parent.parent / "schemas" / "compose-spec.json"
MAX_SCHEMA_FINDINGS = 20
TOP_LEVEL = {
    "version",
    "name",
    "include",
    "services",
    "networks",
    "volumes",
    "secrets",
    "configs",
    "models",
    "jobs",
}
# Service options of the v1 format that the Compose Specification dropped: (modern, hint).
V1_OPTIONS = {
    "dockerfile": "build: {context: ., dockerfile: FILE}",
    "net": "network_mode: (the same value: host, none, container:NAME or service:NAME)",
    "log_driver": "logging: {driver: DRIVER}",
    "log_opt": "logging: {options: {...}}",
    "volume_driver": "a named volume under the top-level volumes: with driver: DRIVER",
}


def check(ctx: Context) -> list[Finding]:
    findings: list[Finding] = []
    for source in ctx.sources.files:
        findings.extend(_obsolete(source))
        legacy = _legacy_format(source)
        if legacy:
            findings.append(legacy)
        elif ctx.model is None:  # Compose validated the files when it gave a model
            findings.extend(_schema(source))
    return findings


def _obsolete(source: ComposeFile) -> list[Finding]:
    findings = []
    if "version" in source.data:
        findings.append(
            finding(
                "DS106",
                f"the top-level `version: {source.data['version']!r}` is obsolete and ignored",
                "delete the `version:` line (Compose v2 warns about it)",
                source.where("version"),
            )
        )
    for name, service in source.services().items():
        if not isinstance(service, dict):
            continue
        for option, modern in V1_OPTIONS.items():
            if option in service:
                findings.append(
                    finding(
                        "DS105",
                        f"service {name}: `{option}` is an option of the v1 file format",
                        f"use {modern}",
                        source.where("services", name, option),
                    )
                )
        if "links" in service:
            findings.append(
                finding(
                    "DS107",
                    f"service {name}: `links` is a legacy option",
                    "services on the same network reach each other by service name; use "
                    "depends_on for start order",
                    source.where("services", name, "links"),
                )
            )
    return findings


def _legacy_format(source: ComposeFile) -> Finding | None:
    """Services at the top level, with no `services:` key: the v1 format."""
    if "services" in source.data:
        return None
    looks_like_services = [
        key
        for key, value in source.data.items()
        if key not in TOP_LEVEL and not key.startswith("x-") and isinstance(value, dict)
    ]
    if not looks_like_services:
        return None
    first = looks_like_services[0]
    return finding(
        "DS104",
        f"{source.label} uses the v1 file format: services ({', '.join(looks_like_services)}) "
        "at the top level, no `services:` key",
        "indent them under a top-level `services:` key; replace `links` with the service name "
        "as host name, and `dockerfile:`/`net:` with build.dockerfile/network_mode",
        source.where(first),
    )


def _schema(source: ComposeFile) -> list[Finding]:
    """Validate against the vendored compose-spec schema, when jsonschema is installed."""
    validator = _validator()
    if validator is None:
        return []
    from jsonschema.exceptions import best_match

    data = composefile.plain(source.data)
    services = data.get("services")
    for service in services.values() if isinstance(services, dict) else []:
        if isinstance(service, dict):
            for option in V1_OPTIONS:  # reported as DS105 with their modern form
                service.pop(option, None)
    findings = []
    for error in validator.iter_errors(data):
        error = best_match([error])
        path = tuple(error.absolute_path)
        for key, message, hint in _explain(error, path, source):
            findings.append(
                finding(
                    "DS103",
                    f"{dotted(key) or '(top level)'}: {message}",
                    hint,
                    source.where(*key) if key else source.label,
                )
            )
        if len(findings) >= MAX_SCHEMA_FINDINGS:
            break
    return findings[:MAX_SCHEMA_FINDINGS]


_REFERENCE_HINT = "see the Compose file reference for this option"


def _explain(
    error: Any, path: tuple[Any, ...], source: ComposeFile
) -> list[tuple[tuple[Any, ...], str, str]]:
    """(key path, message, hint) for one schema error, at the offending key's own line."""
    if error.validator in ("unevaluatedProperties", "additionalProperties") and isinstance(
        error.instance, dict
    ):
        known, what = _known_keys(error, path)
        unknown = [k for k in error.instance if k not in known and not str(k).startswith("x-")]
        if known and not unknown:
            return []  # a service with one wrong value lists all its options as "unevaluated"
        if not known:
            return [(path, str(error.message), _REFERENCE_HINT)]
        return [
            ((*path, k), f"`{k}` is not {what}", _unknown_key_hint(source, path, k, known)) for k in unknown
        ]
    if error.instance is None and path:
        name = path[-1]
        return [
            (
                path,
                f"`{name}` has no value",
                f"give it a value, or indent the lines that belong to it under `{name}:`",
            )
        ]
    return [(path, str(error.message), _REFERENCE_HINT)]


def _known_keys(error: Any, path: tuple[Any, ...]) -> tuple[set[str], str]:
    if not path:
        return TOP_LEVEL, "a top-level key of a compose file"
    if len(path) == 2 and path[0] == "services":
        return _service_options(), "a Compose service option"
    properties = error.schema.get("properties") if isinstance(error.schema, dict) else None
    return (set(properties) if isinstance(properties, dict) else set()), f"an option of `{path[-1]}`"


def _unknown_key_hint(source: ComposeFile, path: tuple[Any, ...], key: str, known: set[str]) -> str:
    import difflib

    close = difflib.get_close_matches(str(key), sorted(known), n=1, cutoff=0.75)
    if close:
        return f"did you mean `{close[0]}`?"
    mapping: Any = source.data
    for part in path:
        mapping = mapping.get(part) if isinstance(mapping, dict) else None
    line = source.line(*path, key) or 0
    if isinstance(mapping, dict):
        # An indentation slip: `environment:` left empty, its entries one level too far left.
        empty = [
            k for k, v in mapping.items() if v is None and k in known and (source.line(*path, k) or 0) < line
        ]
        if empty:
            return f"is it part of `{empty[-1]}` above, which has no value? indent it under `{empty[-1]}:`"
    return _REFERENCE_HINT


@functools.lru_cache(maxsize=1)
def _validator() -> Any:
    try:
        import jsonschema
    except ImportError:
        return None
    try:
        schema = json.loads(SCHEMA.read_text("utf-8"))
    except OSError:
        return None  # an installation without the vendored schema: Compose validates instead
    return jsonschema.Draft202012Validator(schema)


@functools.lru_cache(maxsize=1)
def _service_options() -> set[str]:
    try:
        schema = json.loads(SCHEMA.read_text("utf-8"))
    except OSError:
        return set()
    defs = schema.get("$defs", {})
    names: set[str] = set()
    for part in ("service", "container_spec", "workload_spec"):
        names.update(defs.get(part, {}).get("properties", {}))
    return names


# -- Compose's own errors ----------------------------------------------------------------

_YAML_LOCATION = re.compile(r"([\w./-]+\.ya?ml)\S*?,? line (\d+)")
_MODEL_PATH = re.compile(r"\bservices\.([\w.-]+?)\.([\w-]+)")
_SERVICE = re.compile(r"""service ["']([\w.-]+)["']""", re.IGNORECASE)


def from_compose_error(text: str, ctx: Context) -> Finding:
    """Compose's own error (from `config`) as a finding, located in the files where possible."""
    from devstack.compose import diagnose

    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    lines = [line for line in lines if "level=warning" not in line]
    message = " ".join(lines[-2:]) if lines else "Compose failed without saying why"
    return finding(
        diagnose(text).code,
        f"Compose: {message}",
        "run `docker compose config` to see Compose's full output",
        _locate(text, message, ctx),
    )


def _locate(text: str, message: str, ctx: Context) -> str | None:
    match = _YAML_LOCATION.search(text)
    if match:
        return f"{Path(match.group(1)).name}:{match.group(2)}"
    match = _MODEL_PATH.search(message)
    if match and match.group(1) in _defined_services(ctx):
        return ctx.where(match.group(1), match.group(2))
    match = _SERVICE.search(message)
    if match and match.group(1) in _defined_services(ctx):
        return ctx.where(match.group(1))
    return None


def _defined_services(ctx: Context) -> set[str]:
    return {name for source in ctx.sources.files for name in source.services()}


# -- image names (on Compose's model: variables substituted) -------------------------------------

_DOMAIN = (
    r"(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*(?::[0-9]+)?"
)
_PATH = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_TAG = r"[\w][\w.-]{0,127}"
_DIGEST = r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}"
_REFERENCE = re.compile(
    rf"(?:(?:{_DOMAIN}|\[[0-9a-fA-F:]+\](?::[0-9]+)?)/)?{_PATH}(?:/{_PATH})*(?::{_TAG})?(?:@{_DIGEST})?"
)


def check_images(ctx: Context) -> list[Finding]:
    """DS110: an image name Docker refuses (it fails at `up`, or is pulled from a wrong "host")."""
    findings = []
    for name, service in ctx.services.items():
        image = service.get("image")
        if not isinstance(image, str) or not image:
            continue
        first, slash, _rest = image.partition("/")
        # Docker takes a first part with capitals for a registry host, even without a dot.
        host_by_capitals = bool(slash) and first != first.lower() and not any(c in first for c in ".:")
        if _REFERENCE.fullmatch(image) and not host_by_capitals:
            continue
        if host_by_capitals:
            reason = f"Docker reads `{first}` as a registry host because of its capitals"
        elif image.split("@")[0].rsplit(":", 1)[0] != image.split("@")[0].rsplit(":", 1)[0].lower():
            reason = "repository names are lowercase (a tag may have capitals)"
        else:
            reason = "it is not [REGISTRY/]NAME[:TAG][@DIGEST]"
        findings.append(
            finding(
                "DS110",
                f"service {name}: image `{image}` is not a valid image name: {reason}",
                f"write the repository part in lowercase letters, digits and . _ - /, e.g. `{image.lower()}`",
                ctx.where(name, "image"),
            )
        )
    return findings
