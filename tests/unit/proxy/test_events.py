"""`devstack events`: raw engine events become lifecycle records."""

from __future__ import annotations

import pytest

from devstack.events import LIFECYCLE, filters, from_raw


def raw(action: str, **attrs: str):
    return {
        "Type": "container",
        "Action": action,
        "timeNano": 1_764_320_000_123_456_789,
        "Actor": {
            "ID": "abc",
            "Attributes": {
                "com.docker.compose.project": "shop",
                "com.docker.compose.service": "web",
                "name": "shop-web-1",
                "image": "shop-web",
                **attrs,
            },
        },
    }


@pytest.mark.parametrize(
    ("action", "attrs", "event", "detail"),
    [
        ("create", {}, "create", "shop-web"),
        ("start", {}, "start", ""),
        ("health_status: healthy", {}, "health_status", "healthy"),
        ("die", {"exitCode": "137", "oomKilled": "true"}, "die", "exit code 137 (out of memory)"),
        ("stop", {}, "stop", ""),
        ("destroy", {}, "destroy", ""),
    ],
)
def test_lifecycle_events(action, attrs, event, detail):
    record = from_raw(raw(action, **attrs))
    assert record is not None
    assert (record.project, record.service, record.container, record.event, record.detail) == (
        "shop",
        "web",
        "shop-web-1",
        event,
        detail,
    )
    assert record.to_dict()["time"] == "2025-11-28T08:53:20.123Z"


def test_other_events_are_skipped():
    assert from_raw(raw("exec_start: sh")) is None
    assert from_raw({**raw("start"), "Type": "network"}) is None
    plain = raw("start")
    plain["Actor"]["Attributes"] = {"name": "x"}
    assert from_raw(plain) is None


def test_filters():
    assert filters("shop") == {
        "type": ["container"],
        "event": list(LIFECYCLE),
        "label": ["com.docker.compose.project=shop"],
    }
    assert filters(None)["label"] == ["com.docker.compose.project"]
