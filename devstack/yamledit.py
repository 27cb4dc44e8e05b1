"""Edit a YAML file by inserting and deleting whole lines, never rewriting what the user wrote.

A round-trip YAML library (ruamel.yaml) loads the whole file and writes it out again: on real
compose files that re-indents sequences, re-spaces flow mappings and turns CRLF into LF, so a
`git diff` shows lines the user never asked to change. Here the file is parsed only to learn
where things are (PyYAML's event stream: every node with its start and end position, aliases as
aliases), and a change is a set of whole lines inserted or deleted at those positions, indented
like their neighbours and ended like the file's other lines. Whatever is not inserted or deleted
stays byte for byte: comments, key order, quoting, blank lines, anchors, odd indentation.

Forms that cannot take a new line without rewriting one (a flow mapping `{a: 1}`, an alias
`*env`) are visible in the nodes (`flow`, kind "alias"): the caller refuses them, naming the line
and what to do by hand, and verifies every result by parsing it again and comparing data.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

MERGE_KEY = "<<"
_BOM = "\ufeff"
_PLAIN_SAFE = re.compile(r"[A-Za-z0-9_./@%+=:,${}?()\- ]*")


class ParseError(Exception):
    """The text is not YAML this editor can read (line and column 1-based, when known)."""

    def __init__(self, message: str, line: int | None = None, column: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.line = line
        self.column = column


@dataclass(eq=False)
class Node:
    """A YAML node and where it is (0-based lines and columns, as PyYAML's marks)."""

    kind: str  # "map", "seq", "scalar" or "alias"
    line: int
    col: int
    end_line: int
    end_col: int
    flow: bool = False
    anchor: str | None = None
    tag: str | None = None
    value: str = ""  # a scalar's text, an alias's anchor name
    style: str | None = None  # a scalar's style: None/"" plain, "'", '"', "|", ">"
    pairs: list[tuple[Node, Node]] = field(default_factory=list)
    items: list[Node] = field(default_factory=list)

    @property
    def is_block_map(self) -> bool:
        return self.kind == "map" and not self.flow

    @property
    def is_block_seq(self) -> bool:
        return self.kind == "seq" and not self.flow

    @property
    def is_empty_scalar(self) -> bool:
        """`key:` with nothing after it (null), as opposed to `key: ""` or `key: null`."""
        return self.kind == "scalar" and not self.style and self.value == "" and self.tag is None

    def own_pairs(self) -> Iterator[tuple[Node, Node]]:
        """Key/value pairs written in this mapping (merge keys `<<` left out)."""
        for key, value in self.pairs:
            if not is_merge_key(key):
                yield key, value

    def pair(self, name: str) -> tuple[Node, Node] | None:
        for key, value in self.own_pairs():
            if key.kind == "scalar" and key.value == name:
                return key, value
        return None

    def get(self, name: str) -> Node | None:
        found = self.pair(name)
        return found[1] if found else None

    def keys(self) -> list[str]:
        return [k.value for k, _ in self.own_pairs() if k.kind == "scalar"]

    def merges(self) -> list[Node]:
        """The values of this mapping's `<<` keys (alias nodes, or lists of them)."""
        return [value for key, value in self.pairs if is_merge_key(key)]


def _pos(mark: Any) -> tuple[int, int]:
    return (mark.line, mark.column) if mark is not None else (0, 0)


def is_merge_key(node: Node) -> bool:
    return node.kind == "scalar" and node.value == MERGE_KEY and not node.style


class Document:
    """One YAML file as lines, its parsed positions, and the edits to make to it."""

    def __init__(self, text: str) -> None:
        self.bom = text.startswith(_BOM)
        body = text[1:] if self.bom else text
        self.lines: list[str] = body.splitlines(keepends=True)
        self.eol = "\r\n" if "\r\n" in body else "\n"
        self.anchors: dict[str, Node] = {}
        self.root = self._parse(body)
        self._inserts: list[tuple[int, int, list[str]]] = []  # (line, order, new lines)
        self._deletes: list[tuple[int, int]] = []  # inclusive line ranges

    # -- reading -----------------------------------------------------------------------

    def _parse(self, body: str) -> Node | None:
        loader = yaml.CSafeLoader if yaml.__with_libyaml__ else yaml.SafeLoader
        stack: list[Node] = []
        pending_key: list[Node | None] = []  # per open mapping: a key waiting for its value
        root: Node | None = None
        documents = 0
        try:
            for event in yaml.parse(body, Loader=loader):
                if isinstance(event, yaml.DocumentStartEvent):
                    documents += 1
                    if documents > 1:
                        raise ParseError(
                            "the file holds more than one YAML document (---)",
                            _pos(event.start_mark)[0] + 1,
                        )
                    continue
                if isinstance(event, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
                    done = stack.pop()
                    pending_key.pop()
                    done.end_line, done.end_col = _pos(event.end_mark)
                    node: Node | None = done
                    if stack:
                        self._attach(stack[-1], pending_key, done)
                    else:
                        root = done
                    continue
                node = self._node(event)
                if node is None:
                    continue
                if node.anchor:
                    self.anchors[node.anchor] = node
                if node.kind in ("map", "seq"):
                    stack.append(node)
                    pending_key.append(None)
                    continue
                if stack:
                    self._attach(stack[-1], pending_key, node)
                else:
                    root = node
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark or exc.context_mark
            problem = exc.problem or exc.context or "invalid YAML"
            raise ParseError(
                str(problem), mark.line + 1 if mark else None, mark.column + 1 if mark else None
            ) from exc
        except yaml.YAMLError as exc:
            raise ParseError(str(exc)) from exc
        return root

    @staticmethod
    def _node(event: yaml.Event) -> Node | None:
        (line, col), (end_line, end_col) = _pos(event.start_mark), _pos(event.end_mark)
        if isinstance(event, yaml.ScalarEvent):
            return Node(
                "scalar",
                line,
                col,
                end_line,
                end_col,
                anchor=event.anchor,
                tag=event.tag,
                value=event.value,
                style=event.style or None,
            )
        if isinstance(event, yaml.AliasEvent):
            return Node("alias", line, col, end_line, end_col, value=event.anchor or "")
        if isinstance(event, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
            kind = "map" if isinstance(event, yaml.MappingStartEvent) else "seq"
            return Node(
                kind,
                line,
                col,
                end_line,
                end_col,
                flow=bool(event.flow_style),
                anchor=event.anchor,
                tag=event.tag,
            )
        return None

    @staticmethod
    def _attach(parent: Node, pending_key: list[Node | None], node: Node) -> None:
        if parent.kind == "seq":
            parent.items.append(node)
            return
        key = pending_key[-1]
        if key is None:
            pending_key[-1] = node
        else:
            parent.pairs.append((key, node))
            pending_key[-1] = None

    def resolve(self, node: Node) -> Node:
        """The node an alias stands for (the node itself otherwise)."""
        seen = 0
        while node.kind == "alias" and node.value in self.anchors and seen < 50:
            node = self.anchors[node.value]
            seen += 1
        return node

    def text_of(self, line: int) -> str:
        return self.lines[line].rstrip("\r\n") if 0 <= line < len(self.lines) else ""

    def is_blank(self, line: int) -> bool:
        return not self.text_of(line).strip()

    def is_comment(self, line: int) -> bool:
        return self.text_of(line).lstrip().startswith("#")

    def indent(self, line: int) -> int:
        text = self.text_of(line)
        return len(text) - len(text.lstrip(" "))

    def last_line(self, node: Node) -> int:
        """The last line that holds part of the node (trailing blank lines and comments excluded)."""
        if node.kind == "scalar":
            if node.style in ("|", ">"):
                # A block scalar ends at the start of the line after its content and trailing
                # blank lines.
                last = node.end_line if node.end_col > 0 else node.end_line - 1
                while last > node.line and self.is_blank(last):
                    last -= 1
                return max(last, node.line)
            if node.end_col == 0 and node.end_line > node.line:
                return node.end_line - 1
            return node.end_line
        if node.kind == "alias" or node.flow:
            return node.end_line
        if node.kind == "map":
            if not node.pairs:
                return node.line
            return max(max(self.last_line(k), self.last_line(v)) for k, v in node.pairs)
        if not node.items:
            return node.line
        return self.last_line(node.items[-1])

    def block_end(self, node: Node, column: int) -> int:
        """last_line(node), extended over the comment lines after it indented at least `column`.

        Such comments belong to the block (a commented-out option, a note about the last
        entry), so a new entry goes after them. Blank lines count only when more such
        comments follow them.
        """
        end = self.last_line(node)
        probe = end + 1
        while probe < len(self.lines):
            if self.is_blank(probe):
                probe += 1
                continue
            if self.is_comment(probe) and self.indent(probe) >= column:
                end = probe
                probe += 1
                continue
            break
        return end

    def key_column(self, mapping: Node) -> int:
        first = next(iter(mapping.pairs), None)
        return first[0].col if first else mapping.col

    def dash(self, seq: Node) -> tuple[int, str]:
        """Column of the first item's `-` and what follows it before the item (usually ' ')."""
        first = seq.items[0]
        text = self.text_of(first.line)[: first.col]
        stripped = text.rstrip()
        if stripped.endswith("-"):
            column = len(stripped) - 1
            return column, text[column + 1 :] or " "
        return seq.col, " "

    def indent_unit(self) -> int:
        """The file's indentation step: the most common indent of a block mapping in its parent."""
        counts: dict[int, int] = {}

        def visit(node: Node, parent_col: int | None) -> None:
            if node.is_block_map and node.pairs:
                col = self.key_column(node)
                if parent_col is not None and col > parent_col:
                    counts[col - parent_col] = counts.get(col - parent_col, 0) + 1
                for key, value in node.pairs:
                    visit(value, key.col)
            elif node.is_block_seq:
                for item in node.items:
                    visit(item, None)

        if self.root is not None:
            visit(self.root, None)
        if not counts:
            return 2
        return max(sorted(counts), key=lambda step: counts[step])

    def separated_by_blank_lines(self, mapping: Node) -> bool | None:
        """Whether the mapping's entries are separated by blank lines (None: one entry only)."""
        gaps = []
        pairs = list(mapping.pairs)
        for (_, before), (key, _) in zip(pairs, pairs[1:]):
            between = range(self.last_line(before) + 1, key.line)
            gaps.append(any(self.is_blank(n) for n in between))
        if not gaps:
            return None
        return sum(gaps) * 2 >= len(gaps)

    # -- editing -----------------------------------------------------------------------

    def insert(self, line: int, new_lines: Sequence[str], order: int = 0) -> None:
        """Insert lines (without line endings) before `line` (len(lines) appends)."""
        self._inserts.append((line, order, list(new_lines)))

    def delete(self, first: int, last: int) -> None:
        """Delete lines first..last (inclusive)."""
        self._deletes.append((first, last))

    @property
    def final_newline(self) -> bool:
        """Whether the last line ends with a line break (an empty file counts as ending well)."""
        return not self.lines or self.lines[-1].endswith(("\n", "\r"))

    @property
    def changed(self) -> bool:
        return bool(self._inserts or self._deletes)

    def render(self) -> str:
        """The text with every edit made; untouched lines are kept byte for byte."""
        deleted: set[int] = set()
        for first, last in self._deletes:
            deleted.update(range(first, last + 1))
        lines = list(self.lines)
        # A file without a final line ending: lines appended after its last line need one
        # there; the new last line then goes without one, as the file had it.
        if lines and not lines[-1].endswith(("\n", "\r")):
            appends = any(at >= len(lines) for at, _, _ in self._inserts)
            if appends:
                lines[-1] += self.eol
            elif len(lines) - 1 in deleted:
                survivors = [n for n in range(len(lines)) if n not in deleted]
                if survivors:
                    last = survivors[-1]
                    lines[last] = lines[last].rstrip("\r\n")
        else:
            appends = False
        by_line: dict[int, list[str]] = {}
        for at, _, added in sorted(self._inserts, key=lambda item: (item[0], item[1])):
            by_line.setdefault(at, []).extend(added)
        out: list[str] = []
        for number in range(len(lines) + 1):
            for line in by_line.get(number, []):
                out.append(line + self.eol)
            if number < len(lines) and number not in deleted:
                out.append(lines[number])
        text = "".join(out)
        if appends and text.endswith(self.eol):
            text = text[: -len(self.eol)]
        return (_BOM if self.bom else "") + text


# -- scalars ---------------------------------------------------------------------------------


def scalar(value: str) -> str:
    """`value` as a YAML scalar that reads back as this exact string (plain when that is safe)."""
    if value and _plain_ok(value):
        return value
    return double_quoted(value)


def double_quoted(value: str) -> str:
    import json

    return json.dumps(value, ensure_ascii=False)


def _plain_ok(value: str) -> bool:
    if not _PLAIN_SAFE.fullmatch(value) or value != value.strip():
        return False
    if value[0] in "-?:,[]{}#&*!|>'\"%@`" or ": " in value or value.endswith(":"):
        return False
    from devstack.composefile import parse

    try:
        data = parse(f"k: {value}\n", Path("value")).data
    except Exception:
        return False
    return data.get("k") == value
