"""DS4xx: published ports, including ports really held on this machine."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator

import pytest
from check_helpers import codes

from devstack.checks import ports
from devstack.engine import PortHolder
from devstack.errors import EngineUnavailable


@pytest.fixture
def listening() -> Iterator[int]:
    """A TCP port this test process listens on (127.0.0.1)."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen()
    try:
        yield sock.getsockname()[1]
    finally:
        sock.close()


def compose(port_lines: str, service: str = "web") -> dict[str, str]:
    return {"compose.yaml": f"services:\n  {service}:\n    image: a\n    ports:\n{port_lines}"}


def test_port_held_by_a_process_is_named(findings, listening):
    found = findings(compose(f"      - '127.0.0.1:{listening}:80'\n"))
    (taken,) = [f for f in found if f.code == "DS402"]
    assert f"{listening}/tcp" in taken.message
    assert f"(pid {os.getpid()})" in taken.message
    assert taken.location == "compose.yaml:5"


def test_port_on_all_interfaces_clashes_with_a_loopback_listener(findings, listening):
    found = findings(compose(f"      - '{listening}:80'\n"))
    assert {"DS402", "DS404"} <= set(codes(found))


def test_free_port_and_other_address_are_clean(findings, listening):
    found = findings(compose(f"      - '127.0.0.2:{listening}:80'\n"))
    assert "DS402" not in codes(found)


def test_variable_named_in_the_hint(findings, listening):
    found = findings(compose("      - '127.0.0.1:${WEB_PORT:-8080}:80'\n"), env={"WEB_PORT": str(listening)})
    (taken,) = [f for f in found if f.code == "DS402"]
    assert "set WEB_PORT in .env" in taken.hint


def test_own_containers_are_not_findings(findings, listening, monkeypatch):
    """A running stack holds its own ports: `devstack check` on it must be clean."""
    monkeypatch.setattr(ports, "processes_holding", lambda *a, **k: iter([(1, "docker-proxy")]))
    monkeypatch.setattr(
        "devstack.engine.containers_publishing",
        lambda port, protocol="tcp": [PortHolder("proj-web-1", "proj", "web")],
    )
    assert "DS402" not in codes(findings(compose(f"      - '127.0.0.1:{listening}:80'\n")))


def test_another_projects_container_is_named(findings, listening, monkeypatch):
    monkeypatch.setattr(ports, "processes_holding", lambda *a, **k: iter([(1, "docker-proxy")]))
    monkeypatch.setattr(
        "devstack.engine.containers_publishing",
        lambda port, protocol="tcp": [PortHolder("shop-web-1", "shop", "web")],
    )
    (taken,) = [f for f in findings(compose(f"      - '127.0.0.1:{listening}:80'\n")) if f.code == "DS402"]
    assert "container shop-web-1 (project shop, service web)" in taken.message


def test_engine_down_still_reports_the_proxy(findings, listening, monkeypatch):
    monkeypatch.setattr(ports, "processes_holding", lambda *a, **k: iter([(7, "docker-proxy")]))

    def down(port, protocol="tcp"):
        raise EngineUnavailable("down")

    monkeypatch.setattr("devstack.engine.containers_publishing", down)
    (taken,) = [f for f in findings(compose(f"      - '127.0.0.1:{listening}:80'\n")) if f.code == "DS402"]
    assert "docker-proxy (pid 7)" in taken.message


def test_pick_any_range_needs_one_free_port(findings, listening):
    found = findings(compose(f"      - '127.0.0.1:{listening}-{listening + 1}:80'\n"))
    assert "DS402" not in codes(found)


def test_ranges_and_udp_duplicates(findings):
    found = findings(
        {
            "compose.yaml": """\
services:
  a:
    image: a
    ports: ["127.0.0.1:28100-28102:8100-8102/udp", "127.0.0.1:28100:80"]
  b:
    image: b
    ports: ["127.0.0.1:28102:53/udp"]
"""
        }
    )
    dup = [f for f in found if f.code == "DS401"]
    assert [f.message for f in dup] == ["host port 28102/udp is published by both a and b"]
    assert dup[0].location == "compose.yaml:7"


def test_ipv6_and_ipv4_loopbacks_do_not_clash(findings):
    found = findings(compose("      - '127.0.0.1:28110:80'\n      - '[::1]:28110:80'\n"))
    assert "DS401" not in codes(found)


def test_all_interfaces_warning_lists_ports_once_per_service(findings):
    found = findings(
        compose("      - '28120:80'\n      - '0.0.0.0:28121:81'\n      - '127.0.0.1:28122:82'\n")
    )
    (warning,) = [f for f in found if f.code == "DS404"]
    assert "28120, 0.0.0.0:28121" in warning.message
    assert '"127.0.0.1:28120:80"' in warning.hint
    assert warning.location == "compose.yaml:5"


def test_invalid_mapping_is_located_without_compose(per_file_findings):
    found = per_file_findings(compose("      - '127.0.0.1:28123:80'\n      - '::1:x'\n"))
    (invalid,) = [f for f in found if f.code == "DS403"]
    assert invalid.location == "compose.yaml:6" and "HOST:CONTAINER" in invalid.message


def test_override_file_entries_are_located_by_what_they_publish(make_project, check_project, listening):
    """The merged model lists ports in another order than the files: the line is found by content."""
    project = make_project(
        {
            "compose.yaml": "services:\n  web:\n    image: a\n    ports:\n      - '127.0.0.1:28130:80'\n",
            "compose.override.yaml": f"services:\n  web:\n    ports:\n      - '127.0.0.1:{listening}:81'\n",
        }
    )
    (taken,) = [f for f in check_project(project) if f.code == "DS402"]
    assert taken.location == "compose.override.yaml:4"


def test_processes_holding_reads_proc(tmp_path):
    (tmp_path / "net").mkdir()
    header = "  sl  local_address rem_address st tx_queue rx_queue tr tm->when retrnsmt uid timeout inode\n"
    (tmp_path / "net" / "tcp").write_text(
        header
        + "   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000  0  0 4242 1\n"
        + "   1: 0100007F:1F91 00000000:0000 01 00000000:00000000 00:00000000 00000000  0  0 4343 1\n"
    )
    fd = tmp_path / "812" / "fd"
    fd.mkdir(parents=True)
    (fd / "3").symlink_to("socket:[4242]")
    (tmp_path / "812" / "comm").write_text("nginx\n")
    assert list(ports.processes_holding(8080, "tcp", tmp_path)) == [(812, "nginx")]
    assert list(ports.processes_holding(8081, "tcp", tmp_path)) == []  # not listening
