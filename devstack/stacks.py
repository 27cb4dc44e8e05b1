"""The stack catalogue: find the shipped templates and read their metadata.

Reading a stack is plain JSON: listing stacks or printing help never imports cookiecutter.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from devstack.errors import InvalidValue, TemplateError, UnknownStack

# Validators a template may name for a variable in `_devstack.validate`.
_RULES: dict[str, tuple[str, str]] = {
    # rule: (regex, what a valid value looks like)
    "port": (r"[1-9][0-9]{0,4}", "a TCP port number from 1 to 65535"),
    "identifier": (
        r"[A-Za-z_][A-Za-z0-9_]{0,31}",
        "letters, digits and '_', at most 32, not starting with a digit",
    ),
    "image": (
        r"[a-z0-9]+(?:[._-][a-z0-9]+)*(?::[0-9]+)?(?:/[a-z0-9]+(?:[._-][a-z0-9]+)*)*"
        r"(?::[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(?:@sha256:[0-9a-f]{64})?",
        "an image reference such as debian:trixie-slim",
    ),
}


@dataclass(frozen=True)
class Variable:
    """One answer a stack asks for."""

    name: str
    default: str
    choices: tuple[str, ...] = ()
    rule: str | None = None
    help: str = ""

    def validate(self, value: str) -> str:
        """Return the value if acceptable, else raise InvalidValue with what would be."""
        if self.choices:
            if value not in self.choices:
                raise InvalidValue(
                    f"invalid value {value!r} for {self.name}",
                    hint=f"choose one of: {', '.join(self.choices)}",
                )
            return value
        if self.rule:
            pattern, wanted = _RULES[self.rule]
            ok = re.fullmatch(pattern, value) is not None
            if ok and self.rule == "port":
                ok = 1 <= int(value) <= 65535
            if not ok:
                raise InvalidValue(f"invalid value {value!r} for {self.name}", hint=f"use {wanted}")
        elif any(ch in value for ch in "\n\r\0"):
            raise InvalidValue(f"invalid value for {self.name}: line breaks are not allowed")
        return value


@dataclass(frozen=True)
class Stack:
    """A template directory and what its cookiecutter.json says about it."""

    name: str
    path: Path
    description: str
    template_version: str
    variables: tuple[Variable, ...] = field(default=())

    def variable(self, name: str) -> Variable:
        for var in self.variables:
            if var.name == name:
                return var
        raise InvalidValue(
            f"unknown setting {name!r} for stack {self.name}",
            hint=f"valid keys: {', '.join(v.name for v in self.variables)}",
        )


def templates_root() -> Path:
    """The directory holding the shipped templates (inside the installed package)."""
    import devstack.templates as shipped

    return Path(shipped.__file__).resolve().parent


def available(root: Path | None = None) -> list[Stack]:
    """Every stack shipped with devstack, sorted by name."""
    base = root or templates_root()
    return [load(p) for p in sorted(base.iterdir()) if (p / "cookiecutter.json").is_file()]


def find(name: str, root: Path | None = None) -> Stack:
    stacks = available(root)
    for stack in stacks:
        if stack.name == name:
            return stack
    known = ", ".join(s.name for s in stacks) or "none"
    raise UnknownStack(f"unknown stack {name!r}", hint=f"known stacks: {known} (see `devstack stacks`)")


def load(path: Path) -> Stack:
    """Read one template directory's cookiecutter.json."""
    try:
        raw: dict[str, Any] = json.loads((path / "cookiecutter.json").read_text("utf-8"))
    except (OSError, ValueError) as exc:
        raise TemplateError(f"stack {path.name}: cannot read cookiecutter.json: {exc}") from exc
    meta = raw.get("_devstack", {})
    rules = meta.get("validate", {})
    helps = meta.get("help", {})
    variables = []
    for key, value in raw.items():
        if key.startswith("_") or key == "project_name":
            continue
        if isinstance(value, list):
            choices = tuple(str(v) for v in value)
            variables.append(Variable(key, choices[0], choices, help=helps.get(key, "")))
        else:
            variables.append(Variable(key, str(value), rule=rules.get(key), help=helps.get(key, "")))
    return Stack(
        name=path.name,
        path=path,
        description=str(meta.get("description", "")),
        template_version=str(meta.get("template_version", "0")),
        variables=tuple(variables),
    )
