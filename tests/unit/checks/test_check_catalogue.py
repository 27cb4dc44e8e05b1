"""The code catalogue is the single source: complete, and what docs/check-codes.md shows."""

from __future__ import annotations

import re
from pathlib import Path

from devstack.checks import codes

ROOT = Path(__file__).resolve().parents[3]


def test_docs_are_generated_from_the_catalogue():
    doc = (ROOT / "docs" / "check-codes.md").read_text("utf-8")
    assert doc == codes.markdown(), "docs/check-codes.md is stale: regenerate it as its header says"


def test_every_code_used_in_devstack_is_catalogued():
    used = set()
    for path in (ROOT / "devstack").rglob("*.py"):
        used |= set(re.findall(r"\bDS\d{3}\b", path.read_text("utf-8")))
    assert used - set(codes.CATALOGUE) == set()


def test_codes_are_unique_ordered_and_complete():
    names = [c.code for c in codes.CODES]
    assert names == sorted(set(names))
    for c in codes.CODES:
        assert re.fullmatch(r"DS[1-9]\d\d", c.code)
        assert c.title and c.example and c.fix, c.code


def test_table_has_one_row_per_code():
    rows = [line for line in codes.markdown().splitlines() if line.startswith("| DS")]
    assert len(rows) == len(codes.CODES)


def test_readme_documents_every_code():
    """The README carries the same table as docs/check-codes.md, so every code is documented."""
    from devstack.checks import codes

    readme = (ROOT / "README.md").read_text("utf-8")
    section = readme[readme.index("<!-- codes:start -->") : readme.index("<!-- codes:end -->")]
    for code in codes.CODES:
        assert f"| {code.code} |" in section, f"{code.code} is missing from the README"


def test_every_finding_is_built_through_the_catalogue():
    """Severity lives in the catalogue: library code never builds a Finding by hand."""
    allowed = {ROOT / "devstack/checks/__init__.py", ROOT / "devstack/checks/codes.py"}
    by_hand = [
        f"{path.relative_to(ROOT)}:{number}"
        for path in (ROOT / "devstack").rglob("*.py")
        if path not in allowed
        for number, line in enumerate(path.read_text("utf-8").splitlines(), 1)
        if re.search(r"\bFinding\(", line)
    ]
    assert by_hand == []
