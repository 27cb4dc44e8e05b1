"""The line editor under `devstack add`: positions, styles, and edits that keep every other byte."""

from __future__ import annotations

import pytest

from devstack import yamledit
from devstack.yamledit import Document, ParseError

TEXT = """\
# header
services:
  web:
    image: nginx   # trailing comment
    environment:
      A: "1"
    command: |
      echo one

      echo two

  # a commented-out service:
  # cache:
  #   image: redis

volumes:
  data:
"""


def test_positions_of_nodes_and_the_end_of_a_block():
    doc = Document(TEXT)
    services = doc.root.get("services")
    web = services.get("web")
    assert (web.get("image").line, doc.key_column(web)) == (3, 4)
    # A block scalar ends with its last non-blank line, not at the next key.
    assert doc.last_line(web.get("command")) == 9
    assert doc.last_line(services) == 9
    # Comments indented like the services belong to the block: new services go after them.
    assert doc.block_end(services, doc.key_column(services)) == 13
    assert doc.indent_unit() == 2


def test_rendering_without_edits_gives_the_same_bytes():
    for text in (TEXT, TEXT.replace("\n", "\r\n"), "\ufeff" + TEXT, TEXT.rstrip("\n")):
        doc = Document(text)
        assert doc.render() == text


def test_inserted_lines_take_the_files_line_endings():
    doc = Document(TEXT.replace("\n", "\r\n"))
    doc.insert(6, ["      B: two"])
    out = doc.render()
    assert '      A: "1"\r\n      B: two\r\n    command' in out
    assert out.count("\r\n") == out.count("\n")


def test_appending_to_a_file_without_a_final_line_break_keeps_it_without_one():
    doc = Document("a: 1\nb: 2")
    assert not doc.final_newline
    doc.insert(2, ["c: 3"])
    assert doc.render() == "a: 1\nb: 2\nc: 3"
    back = Document("a: 1\nb: 2\nc: 3")
    back.delete(2, 2)
    assert back.render() == "a: 1\nb: 2"


def test_deleting_lines_keeps_the_rest_byte_for_byte():
    doc = Document(TEXT)
    doc.delete(5, 5)
    out = doc.render()
    assert "A: " not in out
    assert out.replace("    environment:\n", '    environment:\n      A: "1"\n') == TEXT


def test_aliases_and_merge_keys_are_seen_as_written():
    doc = Document("x: &base\n  a: 1\ny:\n  <<: *base\n  b: 2\nz: *base\n")
    y = doc.root.get("y")
    assert y.keys() == ["b"]
    assert [m.kind for m in y.merges()] == ["alias"]
    z = doc.root.get("z")
    assert z.kind == "alias" and doc.resolve(z).get("a").value == "1"


def test_flow_collections_and_quoted_keys():
    doc = Document('services: {"web": {image: x}}\n')
    assert doc.root.get("services").flow
    doc = Document('services:\n  "web":\n    ports: ["80:80"]\n')
    web = doc.root.get("services").get("web")
    assert web.get("ports").flow and web.get("ports").kind == "seq"


def test_the_dash_of_a_sequence_and_indentless_sequences():
    doc = Document("a:\n- x\n- y\nb:\n    -   z\n")
    assert doc.dash(doc.root.get("a")) == (0, " ")
    assert doc.dash(doc.root.get("b")) == (4, "   ")


def test_indent_unit_follows_the_file():
    assert Document("services:\n    web:\n        image: x\n").indent_unit() == 4
    assert Document("services:\n   web:\n      image: x\n").indent_unit() == 3


def test_blank_line_separation_style():
    spaced = Document("s:\n  a:\n    x: 1\n\n  b:\n    x: 2\n")
    tight = Document("s:\n  a:\n    x: 1\n  b:\n    x: 2\n")
    single = Document("s:\n  a:\n    x: 1\n")
    assert spaced.separated_by_blank_lines(spaced.root.get("s")) is True
    assert tight.separated_by_blank_lines(tight.root.get("s")) is False
    assert single.separated_by_blank_lines(single.root.get("s")) is None


def test_invalid_yaml_and_several_documents_are_refused_with_a_line():
    with pytest.raises(ParseError) as exc:
        Document("services:\n  web: [unclosed\n")
    assert exc.value.line is not None
    with pytest.raises(ParseError, match="more than one YAML document"):
        Document("a: 1\n---\nb: 2\n")


@pytest.mark.parametrize(
    ("value", "written"),
    [
        ("redis", "redis"),
        ("6379", '"6379"'),
        ("true", '"true"'),
        ("redis://redis:6379", "redis://redis:6379"),
        ("${A:?set A in .env (devstack up generates it)}", "${A:?set A in .env (devstack up generates it)}"),
        ("a: b", '"a: b"'),
        ("#x", '"#x"'),
        ("", '""'),
        ("x # y", '"x # y"'),
    ],
)
def test_scalars_are_written_so_they_read_back_as_the_same_string(value, written):
    assert yamledit.scalar(value) == written
    from pathlib import Path

    from devstack.composefile import parse

    assert parse(f"k: {written}\n", Path("x")).data["k"] == value
