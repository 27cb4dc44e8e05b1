"""Malformed but parseable files: the checks report what is wrong, with Compose and without."""

from __future__ import annotations

import pytest

from devstack.checks import Severity

# (file, the error codes `devstack check` reports)
BODIES = [
    ("services: [web, db]\n", {"DS103"}),
    ("services:\n  web: just-a-string\n", {"DS103"}),
    ("services:\n  web:\n", {"DS103"}),
    ("services:\n  web:\n    ports: {a: b}\n    volumes: ./x:/x\n    depends_on: db\n", {"DS103"}),
    ("services:\n  web:\n    environment: A=1\n    env_file: 5\n    healthcheck: [CMD, x]\n", {"DS103"}),
    (
        "services:\n  web:\n    build: 123\n    secrets: {a: b}\n    configs: [{}]\n    networks: 7\n",
        {"DS103"},
    ),
    (
        "services:\n  web:\n    image: a\n    ports: [[1, 2], {target: x}, {published: 80}, null]\n",
        {"DS103", "DS403"},
    ),
    ("services:\n  web:\n    image: a\n    volumes: [{target: 5}, {type: bind}, 12, '']\n", {"DS103"}),
    (
        "services:\n  web:\n    extends: [a]\n    links: [{a: b}, '']\n    volumes_from: [5]\n",
        {"DS103", "DS203"},
    ),
    ("services:\n  web:\n    extends: {file: 5}\n    network_mode: 5\n    profiles: x\n", {"DS103", "DS203"}),
    ("networks: [a]\nvolumes: 5\nsecrets: {s: 5}\nconfigs: {c: {file: 7}}\nservices: {}\n", {"DS103"}),
    ("include: 5\nservices:\n  a: {image: a, depends_on: {b: 5}}\n", {"DS103"}),
    ("include: [{path: 5}, {}]\nservices: {}\n", {"DS103"}),
    ("x-a: &a [1]\nservices:\n  web:\n    <<: {image: a}\n    command: *a\n", {"DS103"}),
    (
        "services:\n  web:\n    image: a\n    depends_on:\n      db: {condition: service_healthy}\n"
        "  db:\n    image: b\n    healthcheck: disable\n",
        {"DS103"},
    ),
    ("version: 3\nservices:\n  '1':\n    image: a\n    environment: {1: 2, true: false}\n", {"DS103"}),
    ("12\n", {"DS103"}),
    ("web: 5\n", {"DS103"}),
]


def error_codes(found):
    return {f.code for f in found if f.severity >= Severity.ERROR}


@pytest.mark.parametrize(("body", "expected"), BODIES)
def test_reported_not_crashed(findings, body, expected):
    found = findings({"compose.yaml": body})
    assert error_codes(found) == expected
    assert all(f.location for f in found if f.severity >= Severity.ERROR)


@pytest.mark.parametrize(("body", "expected"), BODIES)
def test_reported_without_compose(per_file_findings, body, expected):
    assert error_codes(per_file_findings({"compose.yaml": body})) == expected
