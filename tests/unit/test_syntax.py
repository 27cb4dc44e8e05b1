"""Ports, mounts, dependencies and environment in every syntax Compose accepts."""

from __future__ import annotations

import pytest

from devstack import syntax
from devstack.syntax import Mount, PortBinding, SyntaxProblem


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        ("8080:80", [("", 8080, 8080, 80, "tcp")]),
        ("127.0.0.1:8080:80/udp", [("127.0.0.1", 8080, 8080, 80, "udp")]),
        ("[::1]:8080:80", [("::1", 8080, 8080, 80, "tcp")]),
        ("8000-8001:9000-9001", [("", 8000, 8000, 9000, "tcp"), ("", 8001, 8001, 9001, "tcp")]),
        ("8000-8005:80", [("", 8000, 8005, 80, "tcp")]),
        ("80", []),
        (80, []),
        ("127.0.0.1::80", []),
        ({"target": 80, "published": "8080", "host_ip": "0.0.0.0"}, [("0.0.0.0", 8080, 8080, 80, "tcp")]),
        ({"target": 80, "published": 8080, "protocol": "UDP"}, [("", 8080, 8080, 80, "udp")]),
        ({"target": 80}, []),
    ],
)
def test_parse_port(entry, expected):
    assert [tuple(b) for b in syntax.parse_port(entry)] == expected


@pytest.mark.parametrize(
    "entry",
    [
        "80:80:80:80",
        "::1:8080:80",
        "abc:80",
        "8080:80/icmp",
        "70000:80",
        "9-1:80",
        "8000-8002:80-81",
        "999.1.1.1:80:80",
        True,
        {"published": 80},
    ],
)
def test_invalid_ports(entry):
    with pytest.raises(SyntaxProblem):
        syntax.parse_port(entry)


def test_unbracketed_ipv6_gets_a_hint():
    with pytest.raises(SyntaxProblem, match=r"brackets"):
        syntax.parse_port("::1:8080:80")


def test_binding_properties():
    assert PortBinding("", 80, 80, 80, "tcp").all_interfaces
    assert PortBinding("::", 80, 80, 80, "tcp").all_interfaces
    assert not PortBinding("127.0.0.1", 80, 80, 80, "tcp").all_interfaces
    assert PortBinding("::1", 80, 82, 80, "tcp").label == "[::1]:80-82"


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        ("./data:/data", Mount("bind", "./data", "/data", False, True)),
        ("/abs:/x:ro", Mount("bind", "/abs", "/x", True, True)),
        ("~/x:/x:rw,z", Mount("bind", "~/x", "/x", False, True)),
        ("named:/data", Mount("volume", "named", "/data")),
        ("/anonymous", Mount("volume", None, "/anonymous")),
        ("C:\\work:/w", Mount("bind", "C:\\work", "/w", False, True)),
        ({"type": "bind", "source": "./c", "target": "/c"}, Mount("bind", "./c", "/c")),
        (
            {
                "type": "bind",
                "source": "/c",
                "target": "/c",
                "bind": {"create_host_path": True},
                "read_only": True,
            },
            Mount("bind", "/c", "/c", True, True),
        ),
        ({"type": "tmpfs", "target": "/t"}, Mount("tmpfs", None, "/t")),
        ({"source": "v"}, None),
        ("a:b:c:d", None),
    ],
)
def test_parse_mount(entry, expected):
    assert syntax.parse_mount(entry) == expected


def test_dependencies_in_both_syntaxes():
    assert syntax.dependencies({"depends_on": ["a"]}) == [syntax.Dependency("a")]
    deps = syntax.dependencies(
        {"depends_on": {"a": {"condition": "service_healthy"}, "b": {"required": False}, "c": None}}
    )
    assert deps == [
        syntax.Dependency("a", "service_healthy"),
        syntax.Dependency("b", "service_started", False),
        syntax.Dependency("c"),
    ]


def test_links_volumes_from_network_mode():
    service = {
        "links": ["db:database", "cache"],
        "volumes_from": ["data:ro", "container:x", "service:code"],
        "network_mode": "service:vpn",
    }
    assert syntax.link_targets(service) == [("db", "database"), ("cache", "cache")]
    assert syntax.volumes_from(service) == [("service", "data"), ("container", "x"), ("service", "code")]
    assert syntax.network_service(service) == "vpn"
    assert syntax.network_service({"network_mode": "host"}) is None


def test_environment_and_scalars():
    assert syntax.environment(["A=1", "B", "C=x=y"]) == {"A": "1", "B": None, "C": "x=y"}
    assert syntax.environment({"A": True, "B": 1.5, "C": None, "D": 10}) == {
        "A": "true",
        "B": "1.5",
        "C": None,
        "D": "10",
    }


def test_profiles():
    assert syntax.active_profiles({"COMPOSE_PROFILES": "a, b,,"}) == {"a", "b"}
    assert syntax.is_active({}, set())
    assert not syntax.is_active({"profiles": ["x"]}, set())
    assert syntax.is_active({"profiles": ["x"]}, {"x"})
    assert syntax.is_active({"profiles": ["x"]}, {"*"})


@pytest.mark.parametrize(
    ("context", "remote"),
    [
        ("https://github.com/a/b.git#main", True),
        ("git@github.com:a/b.git", True),
        ("github.com/a/b", True),
        ("./app", False),
        ("/abs/app", False),
        (".", False),
    ],
)
def test_remote_contexts(context, remote):
    assert syntax.is_remote(context) is remote
