"""`devstack proxy` options, port owners, and the CLI's answers to bad input (no engine needed)."""

from __future__ import annotations

import os
import socket

import pytest

from devstack.errors import UsageError
from devstack.proxy.control import (
    StartOptions,
    _port_error,
    parse_api,
    parse_engine,
    port_owner,
    settings_for,
)


@pytest.mark.parametrize(
    ("text", "url", "name", "address"),
    [
        ("tcp://10.9.0.2:2375", "tcp://10.9.0.2:2375", "10.9.0.2:2375", "10.9.0.2"),
        (
            "unix:///run/b/docker.sock?address=10.9.0.2",
            "unix:///run/b/docker.sock",
            "/run/b/docker.sock",
            "10.9.0.2",
        ),
        ("tcp://h:2375?name=build&address=10.0.0.9", "tcp://h:2375", "build", "10.0.0.9"),
        ("ssh://me@box", "ssh://me@box", "box", "box"),
    ],
)
def test_engine_addresses(text, url, name, address):
    spec = parse_engine(text)
    assert (spec.url, spec.name, spec.address) == (url, name, address)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("foo://x", "not an engine address"),
        ("unix://relative.sock", "absolute"),
        ("tcp://:2375", "no host"),
        ("tcp://h:port", "not a number"),
        ("tcp://h:1?addr=x", "unknown option"),
        ("tcp://h:1?address=a;b", "not an IP address"),
        ("tcp://h:1?name=local", "'local'"),
    ],
)
def test_bad_engine_addresses(text, message):
    with pytest.raises(UsageError, match=message):
        parse_engine(text)


def test_api_option():
    assert parse_api("8081") == ("127.0.0.1", 8081)
    assert parse_api("0.0.0.0:8081") == ("0.0.0.0", 8081)
    assert parse_api("[::1]:8081") == ("::1", 8081)
    with pytest.raises(UsageError):
        parse_api("host:8081")


def test_settings_refuse_an_open_api_without_token():
    with pytest.raises(UsageError, match="without a token"):
        settings_for(StartOptions(api="0.0.0.0:8081"), "/var/run/docker.sock")
    assert settings_for(StartOptions(api="0.0.0.0:8081", token="t"), "/s").api == "0.0.0.0:8081"
    assert settings_for(StartOptions(api="8081"), "/s").token is None  # loopback: no token needed


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (StartOptions(port=0), "--port"),
        (StartOptions(listen="localhost"), "--listen"),
        (StartOptions(domain="a b"), "--domain"),
        (StartOptions(name="Bad Name"), "--name"),
        (StartOptions(engines=("tcp://a:1", "tcp://a:1")), "same name"),
        (StartOptions(api="127.0.0.1:80"), "port of its own"),
    ],
)
def test_settings_errors_name_the_option(options, message):
    with pytest.raises(UsageError, match=message):
        settings_for(options, "/s")


def test_port_owner_names_the_process():
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        port = held.getsockname()[1]
        owner = port_owner(port, "127.0.0.1")
    assert owner is not None and f"(pid {os.getpid()})" in owner
    assert port_owner(port, "127.0.0.1") is None


def test_port_messages_name_the_owner_and_the_option():
    taken = _port_error(80, "127.0.0.1", "nginx (pid 812)")
    assert taken.message == "port 80 on 127.0.0.1 is in use by nginx (pid 812)"
    assert "--port 8080" in (taken.hint or "")
    denied = _port_error(80, "127.0.0.1", None, "cannot expose privileged port 80")
    assert "may not publish port 80" in denied.message and "ip_unprivileged_port_start" in (denied.hint or "")


def test_cli_bad_input_is_one_clear_line(run):
    result = run("proxy", "start", "--api", "0.0.0.0:8081")
    assert result.exit_code == 2
    assert result.err.startswith("error: refusing to publish the agents' API on 0.0.0.0 without a token")
    assert "Traceback" not in result.err
    result = run("proxy", "start", "--engine", "foo://x")
    assert result.exit_code == 2 and "not an engine address" in result.err
    result = run("proxy", "agent", "--to", "http://10.1.2.3:8081", "--address", "10.1.2.4")
    assert result.exit_code == 2 and "without a token" in result.err
