"""engine._info: what devstack reads from `docker inspect` of a container."""

from __future__ import annotations

from devstack import engine

INSPECT = {
    "Id": "c0ffee",
    "Name": "/p-cache-1",
    "RestartCount": 2,
    "State": {"Status": "running", "ExitCode": 0, "StartedAt": "2026-11-28T04:00:00Z"},
    "HostConfig": {"RestartPolicy": {"Name": "unless-stopped", "MaximumRetryCount": 0}},
    "Config": {
        "Labels": {
            "com.docker.compose.service": "cache",
            "com.docker.compose.project.working_dir": "/home/dev/site",
        },
        "Env": ["A=1", "EMPTY="],
        # Compose writes `expose: ["6379"]` without a protocol; images say "80/tcp".
        "ExposedPorts": {"6379": {}, "80/tcp": {}, "53/udp": {}},
    },
    "NetworkSettings": {"Ports": {"80/tcp": [{"HostIp": "127.0.0.1", "HostPort": "8080"}]}},
    "Mounts": [
        {"Type": "volume", "Name": "a" * 64, "Destination": "/data"},
        {"Type": "volume", "Name": "p_named", "Destination": "/named"},
        {"Type": "bind", "Source": "/home/dev/site/src", "Destination": "/src"},
    ],
}


def test_expose_without_protocol_is_a_tcp_port():
    assert engine._info(INSPECT).exposed == (80, 6379)


def test_restart_policy_working_dir_and_anonymous_volumes():
    info = engine._info(INSPECT)
    assert info.restart_policy == "unless-stopped" and info.restart_count == 2
    assert info.working_dir == "/home/dev/site"
    assert info.anonymous_volumes == ("a" * 64,)
    assert info.env == {"A": "1", "EMPTY": ""}
    assert info.ports == (("127.0.0.1", 8080, 80, "tcp"),)
