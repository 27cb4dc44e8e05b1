"""Compose source files as written: the YAML of one `-f` file, with the line of every key.

Findings need `docker-compose.yml:12`, so the file is composed into YAML nodes (PyYAML's
`compose`, libyaml when available) and turned into Python data by one walk that also records
where each key and list item sits. Scalars resolve as Compose's YAML library does (YAML 1.2:
`yes`/`on` stay strings, `0755` is octal), not as PyYAML's YAML 1.1 rules would.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from devstack.yamlimport import import_yaml

if TYPE_CHECKING:
    import yaml
else:
    yaml = import_yaml()  # `import yaml`, minus a regex compile at start-up: see yamlimport.py

Key = tuple[Any, ...]  # a path into the data: ("services", "web", "ports", 0)

_STR = "tag:yaml.org,2002:str"
_PLAIN = "tag:devstack,plain"  # an untagged plain scalar
_MERGE = "<<"
_NODE_BUDGET = 200_000  # aliases can expand exponentially ("billion laughs"): stop early
_NULL = re.compile(r"~|null|Null|NULL|")
_BOOL = {"true": True, "True": True, "TRUE": True, "false": False, "False": False, "FALSE": False}
_INT = re.compile(r"[-+]?[0-9]+")
_OCT = re.compile(r"0o?([0-7]+)")
_HEX = re.compile(r"0x([0-9a-fA-F]+)")
_FLOAT = re.compile(r"[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?")
_INF = re.compile(r"[-+]?\.(inf|Inf|INF)")
_NAN = re.compile(r"\.(nan|NaN|NAN)")


class ComposeFileError(Exception):
    """A compose file that cannot be read or is not valid YAML (or not a mapping)."""

    def __init__(
        self,
        path: Path,
        message: str,
        line: int | None = None,
        column: int | None = None,
        kind: str = "yaml",
    ) -> None:
        super().__init__(message)
        self.path = path
        self.message = message
        self.line = line
        self.column = column
        self.kind = kind  # "unreadable", "yaml" or "structure"


class Reset:
    """Compose's `!reset` tag: the key is removed from what earlier files defined."""

    def __repr__(self) -> str:
        return "!reset"


RESET = Reset()


class Override(NamedTuple):
    """Compose's `!override` tag: the value replaces what earlier files defined, unmerged."""

    value: Any


class Duplicate(NamedTuple):
    """A mapping key written twice (Compose rejects this; PyYAML would keep the last)."""

    key: Key
    line: int
    first_line: int


class ComposeFile:
    """One compose file: its data and where each key is."""

    def __init__(self, path: Path, label: str, data: dict[str, Any], role: str = "file") -> None:
        self.path = path
        self.label = label  # how findings name it: relative to the project root when inside it
        self.data = data
        # "file" (a -f file), "extends" (named by `extends: {file:}`) or "include" (by `include:`)
        self.role = role
        self.lines: dict[Key, int] = {}
        self.duplicates: list[Duplicate] = []

    def __repr__(self) -> str:
        return f"ComposeFile({self.label!r})"

    def line(self, *key: Any) -> int | None:
        """The line of the deepest part of `key` that this file defines."""
        for end in range(len(key), 0, -1):
            found = self.lines.get(tuple(key[:end]))
            if found is not None:
                return found
        return None

    def defines(self, *key: Any) -> bool:
        return tuple(key) in self.lines

    def where(self, *key: Any) -> str:
        """`label:line` for the deepest known part of key (`label` alone when none is)."""
        found = self.line(*key)
        return f"{self.label}:{found}" if found else self.label

    def services(self) -> dict[str, Any]:
        services = self.data.get("services")
        return services if isinstance(services, dict) else {}


def label_for(path: Path, root: Path | None) -> str:
    if root is not None:
        try:
            return path.relative_to(root).as_posix()
        except ValueError:
            pass
    return str(path)


def load(path: Path, root: Path | None = None) -> ComposeFile:
    """Read and parse one compose file; raises ComposeFileError."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise ComposeFileError(path, f"cannot read {path}: {reason}", kind="unreadable") from exc
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise ComposeFileError(path, "the file is not UTF-8 text", line=line, kind="unreadable") from exc
    return parse(text, path, label_for(path, root))


def parse(text: str, path: Path, label: str | None = None) -> ComposeFile:
    """Parse compose YAML text; raises ComposeFileError with line and column."""
    try:
        node = yaml.compose(text, Loader=_Loader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        problem = exc.problem or exc.context or "invalid YAML"
        context = f" ({exc.context})" if exc.context and exc.problem else ""
        raise ComposeFileError(
            path,
            f"{problem}{context}",
            line=mark.line + 1 if mark else None,
            column=mark.column + 1 if mark else None,
        ) from exc
    except yaml.YAMLError as exc:
        raise ComposeFileError(path, str(exc)) from exc
    result = ComposeFile(path, label or str(path), {})
    if node is None:
        return result  # an empty file: Compose treats it as an empty model
    builder = _Builder(path, result.lines, result.duplicates)
    data = builder.build(node, ())
    if not isinstance(data, dict):
        raise ComposeFileError(
            path,
            "the top level must be a mapping (services:, volumes:, ...)",
            line=node.start_mark.line + 1,
            column=node.start_mark.column + 1,
            kind="structure",
        )
    result.data = data
    return result


def plain(value: Any) -> Any:
    """The data with Compose's `!reset`/`!override` markers applied as a single file sees it."""
    if isinstance(value, Override):
        return plain(value.value)
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items() if not isinstance(v, Reset)}
    if isinstance(value, list):
        return [plain(v) for v in value if not isinstance(v, Reset)]
    return value


def walk_strings(value: Any, key: Key = ()) -> Iterator[tuple[Key, str]]:
    """Every string value (never a mapping key) with its path."""
    if isinstance(value, Override):
        yield from walk_strings(value.value, key)
    elif isinstance(value, str):
        yield key, value
    elif isinstance(value, dict):
        for k, v in value.items():
            yield from walk_strings(v, (*key, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from walk_strings(v, (*key, i))


class _Loader(yaml.CSafeLoader if yaml.__with_libyaml__ else yaml.SafeLoader):  # type: ignore[misc]
    """Untagged plain scalars get a tag of their own, to be resolved here (YAML 1.2 rules)."""

    def resolve(self, kind: Any, value: Any, implicit: Any) -> str:
        if kind is yaml.ScalarNode and implicit[0]:
            return _PLAIN
        return str(super().resolve(kind, value, implicit))


class _Builder:
    def __init__(self, path: Path, lines: dict[Key, int], duplicates: list[Duplicate]) -> None:
        self.path = path
        self.lines = lines
        self.duplicates = duplicates
        self.active: set[int] = set()
        self.budget = _NODE_BUDGET

    def build(self, node: yaml.Node, key: Key) -> Any:
        self.budget -= 1
        if self.budget < 0:
            raise self._error(node, "the file expands to too many nodes (aliases nested too deep)")
        if isinstance(node, yaml.ScalarNode):
            value = _scalar(node)
        else:
            if id(node) in self.active:
                raise self._error(node, "an alias refers to the node that contains it")
            self.active.add(id(node))
            try:
                value = (
                    self._mapping(node, key)
                    if isinstance(node, yaml.MappingNode)
                    else [self._item(child, key, i) for i, child in enumerate(node.value)]
                )
            finally:
                self.active.discard(id(node))
        if node.tag == "!reset":
            return RESET
        if node.tag == "!override":
            return Override(value)
        return value

    def _item(self, child: yaml.Node, key: Key, index: int) -> Any:
        self.lines.setdefault((*key, index), child.start_mark.line + 1)
        return self.build(child, (*key, index))

    def _mapping(self, node: yaml.MappingNode, key: Key) -> dict[str, Any]:
        result: dict[str, Any] = {}
        explicit: dict[str, int] = {}
        for name, key_node, value_node, is_explicit in self._pairs(node):
            line = key_node.start_mark.line + 1
            if name in result or name in explicit:
                if is_explicit:
                    self.duplicates.append(Duplicate((*key, name), line, explicit[name]))
                continue
            if is_explicit:
                explicit[name] = line
            self.lines[(*key, name)] = line
            result[name] = self.build(value_node, (*key, name))
        return result

    def _pairs(
        self, node: yaml.MappingNode, explicit: bool = True
    ) -> Iterator[tuple[str, yaml.Node, yaml.Node, bool]]:
        """Key/value nodes: the mapping's own first, then `<<:` sources (earlier ones win)."""
        merges: list[yaml.Node] = []
        for key_node, value_node in node.value:
            if isinstance(key_node, yaml.ScalarNode) and key_node.value == _MERGE:
                if not key_node.style:
                    is_list = isinstance(value_node, yaml.SequenceNode)
                    merges.extend(value_node.value if is_list else [value_node])
                    continue
            yield _key_text(key_node), key_node, value_node, explicit
        for source in merges:
            if not isinstance(source, yaml.MappingNode):
                raise self._error(source, "a merge key (<<) must refer to a mapping")
            if id(source) in self.active:
                raise self._error(source, "a merge key refers to the mapping that contains it")
            self.active.add(id(source))
            try:
                yield from self._pairs(source, explicit=False)
            finally:
                self.active.discard(id(source))

    def _error(self, node: yaml.Node, message: str) -> ComposeFileError:
        mark = node.start_mark
        return ComposeFileError(self.path, message, line=mark.line + 1, column=mark.column + 1)


def _key_text(node: yaml.Node) -> str:
    if isinstance(node, yaml.ScalarNode):
        return str(node.value)
    return f"<complex key at line {node.start_mark.line + 1}>"


def _scalar(node: yaml.ScalarNode) -> Any:
    text: str = node.value
    tag = node.tag
    if tag in ("!reset", "!override"):
        tag = _PLAIN if not node.style else _STR
    if tag != _PLAIN:
        # quoted or block scalars, `!!str`, or a tag Compose does not know: the text;
        # `!!int 3`-style standard tags: their type
        return _explicit(tag, text) if tag.startswith("tag:yaml.org,2002:") else text
    if _NULL.fullmatch(text):
        return None
    if text in _BOOL:
        return _BOOL[text]
    if _INT.fullmatch(text):
        octal = _OCT.fullmatch(text)
        if octal and len(text) > 1:
            return int(octal.group(1), 8)
        return int(text)
    if _OCT.fullmatch(text):
        return int(text[2:], 8)
    hexa = _HEX.fullmatch(text)
    if hexa:
        return int(hexa.group(1), 16)
    if _FLOAT.fullmatch(text) and text not in ("-", "+", "."):
        return float(text)
    if _INF.fullmatch(text):
        return -math.inf if text.startswith("-") else math.inf
    if _NAN.fullmatch(text):
        return math.nan
    return text


def _explicit(tag: str, text: str) -> Any:
    """`!!int 3`-style standard tags."""
    kind = tag.rsplit(":", 1)[-1]
    try:
        if kind == "int":
            return int(text, 0)
        if kind == "float":
            return float(text)
        if kind == "bool":
            return text.lower() in ("true", "yes", "on")
        if kind == "null":
            return None
    except ValueError:
        return text
    return text
