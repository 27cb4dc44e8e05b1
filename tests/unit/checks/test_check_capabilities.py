"""DS711: a healthcheck `start_interval` on an engine older than 25 (the version is injected)."""

from __future__ import annotations

import pytest
from check_helpers import FakeEngine, codes

from devstack.checks.capabilities import engine_major

PROJECT = {
    "compose.yaml": """\
services:
  db:
    image: postgres:17
    healthcheck:
      test: [CMD, pg_isready]
      interval: 30s
      start_interval: 1s
  web:
    image: busybox
    healthcheck: {test: [CMD, "true"], interval: 10s}
"""
}


def test_old_engine_is_warned_about_with_the_cost(findings):
    found = findings(PROJECT, engine=FakeEngine("24.0.7"))
    (old,) = [f for f in found if f.code == "DS711"]
    assert "24.0.7" in old.message and "(30s)" in old.message and "service db" in old.message
    assert old.location == "compose.yaml:7"


@pytest.mark.parametrize("version", ["25.0.3", "26.1.5+dfsg1", None])
def test_new_or_unknown_engine_is_fine(findings, version):
    assert "DS711" not in codes(findings(PROJECT, engine=FakeEngine(version)))


def test_engine_is_asked_only_when_a_service_uses_start_interval(findings):
    class Never(FakeEngine):
        def version(self) -> str | None:
            raise AssertionError("the engine was asked")

    findings({"compose.yaml": "services:\n  web:\n    image: busybox\n"}, engine=Never())


def test_engine_major():
    assert engine_major("26.1.5+dfsg1") == 26 and engine_major("v24.0.7") == 24
    assert engine_major("") is None and engine_major(None) is None
