"""Malformed but parseable files: the checks report, they never crash."""

from __future__ import annotations

import pytest

BODIES = [
    "services: [web, db]\n",
    "services:\n  web: just-a-string\n",
    "services:\n  web:\n",
    "services:\n  web:\n    ports: {a: b}\n    volumes: ./x:/x\n    depends_on: db\n",
    "services:\n  web:\n    environment: A=1\n    env_file: 5\n    healthcheck: [CMD, x]\n",
    "services:\n  web:\n    build: 123\n    secrets: {a: b}\n    configs: [{}]\n    networks: 7\n",
    "services:\n  web:\n    image: a\n    ports: [[1, 2], {target: x}, {published: 80}, null]\n",
    "services:\n  web:\n    image: a\n    volumes: [{target: 5}, {type: bind}, 12, '']\n",
    "services:\n  web:\n    extends: [a]\n    links: [{a: b}, '']\n    volumes_from: [5]\n",
    "services:\n  web:\n    extends: {file: 5}\n    network_mode: 5\n    profiles: x\n",
    "networks: [a]\nvolumes: 5\nsecrets: {s: 5}\nconfigs: {c: {file: 7}}\nservices: {}\n",
    "include: 5\nservices:\n  a: {image: a, depends_on: {b: 5}}\n",
    "include: [{path: 5}, {}]\nservices: {}\n",
    "x-a: &a [1]\nservices:\n  web:\n    <<: {image: a}\n    command: *a\n",
    "services:\n  web:\n    image: a\n    depends_on:\n      db: {condition: service_healthy}\n"
    "  db:\n    image: b\n    healthcheck: disable\n",
    "version: 3\nservices:\n  '1':\n    image: a\n    environment: {1: 2, true: false}\n",
    "12\n",
    "web: 5\n",
]


@pytest.mark.parametrize("body", BODIES)
def test_no_crash(findings, body):
    result = findings({"compose.yaml": body})
    assert all(f.code.startswith("DS") for f in result)
