"""The agents' API (real HTTP on loopback) and the agent's client."""

from __future__ import annotations

import json
import socket
import threading

import pytest

from devstack.errors import UsageError
from devstack.proxy import agent
from devstack.proxy.api import PayloadError, authorized, make_server, payload_from_table, table_from_payload
from devstack.proxy.routes import Backend, Route, Table
from devstack.proxy.watcher import Hub, Settings

GOOD = {
    "address": "10.9.0.2",
    "engine": "unix:///var/run/docker.sock",
    "routes": [
        {"host": "far", "project": "far", "service": "web", "web": True, "backends": [{"port": 8081}]},
        {
            "host": "api.far",
            "project": "far",
            "service": "api",
            "backends": [{"address": "10.9.0.7", "port": 9000}],
        },
    ],
    "unrouted": [{"project": "quiet", "reason": "no HTTP service: ..."}],
}


def test_authorization():
    assert authorized(None, None)
    assert authorized("Bearer s3cret", "s3cret")
    assert not authorized("Bearer nope", "s3cret")
    assert not authorized(None, "s3cret")
    assert not authorized("s3cret", "s3cret")


def test_payload_becomes_a_table_of_the_agent():
    address, engine_url, table = table_from_payload("box", GOOD)
    assert address == "10.9.0.2" and engine_url.startswith("unix://")
    assert [(r.host, r.engine, r.web, r.backends[0].address, r.backends[0].port) for r in table.routes] == [
        ("far", "box", True, "10.9.0.2", 8081),
        ("api.far", "box", False, "10.9.0.7", 9000),
    ]
    assert table.unrouted[0].engine == "box"


def test_payload_round_trip():
    table = Table((Route("far", "far", "web", "box", (Backend("10.9.0.2", 8081, "c"),), web=True),))
    _, _, back = table_from_payload("box", payload_from_table("10.9.0.2", "tcp://x", table))
    assert back.routes == table.routes


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"address": "10.0.0.1;"}, "not an address"),
        ({"routes": [{"host": "far;x", "project": "far", "backends": [{"port": 1}]}]}, "not a route host"),
        ({"routes": [{"host": "a.b.far", "project": "far", "backends": [{"port": 1}]}]}, "not a route host"),
        ({"routes": [{"host": "x.far", "project": "other", "backends": [{"port": 1}]}]}, "last label"),
        ({"routes": [{"host": "far", "project": "far", "backends": [{"port": 0}]}]}, "not a port"),
        ({"routes": [{"host": "far", "project": "far", "backends": [{"port": "80"}]}]}, "not a port"),
        ({"routes": [{"host": "far", "project": "far", "backends": []}]}, "no backends"),
        (
            {"routes": [{"host": "far", "project": "far", "backends": [{"port": 1, "address": "a b"}]}]},
            "address",
        ),
        ({"routes": "nope"}, "must be a list"),
    ],
)
def test_bad_payloads_are_refused_with_a_reason(change, message):
    with pytest.raises(PayloadError, match=message):
        table_from_payload("box", {**GOOD, **change})


@pytest.fixture
def server():
    hub = Hub(Settings(grace=30))
    srv = make_server(hub, "s3cret", lambda line: None, port=0)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield hub, f"http://127.0.0.1:{srv.server_address[1]}"
    srv.shutdown()


def test_api_with_the_right_token(server):
    hub, url = server
    client = agent.Client(url, "s3cret")
    assert client.request("GET", "/v1/health")["ok"] is True
    assert client.request("PUT", "/v1/agents/box", GOOD)["accepted"] == 2
    assert {r.host for r in hub.table().routes} == {"far", "api.far"}
    routes = client.request("GET", "/v1/routes")["routes"]
    assert {r["host"] for r in routes} == {"far.localhost", "api.far.localhost"}
    assert client.request("DELETE", "/v1/agents/box") == {"removed": True}
    assert hub.table().routes == ()


def test_api_refuses_a_wrong_token_and_keeps_the_routes(server):
    hub, url = server
    agent.Client(url, "s3cret").request("PUT", "/v1/agents/box", GOOD)
    with pytest.raises(agent.TokenRejected, match=r"refused the token \(HTTP 401"):
        agent.Client(url, "wrong").request("PUT", "/v1/agents/box", {**GOOD, "routes": []})
    with pytest.raises(agent.TokenRejected):
        agent.Client(url, None).request("GET", "/v1/health")
    assert len(hub.table().routes) == 2


def test_api_says_what_is_wrong_with_a_body(server):
    _, url = server
    client = agent.Client(url, "s3cret")
    with pytest.raises(Exception, match="HTTP 400: not an address"):
        client.request("PUT", "/v1/agents/box", {**GOOD, "address": "x;y"})
    with pytest.raises(Exception, match="HTTP 400: agent names"):
        client.request("PUT", "/v1/agents/-bad", GOOD)


def test_agent_routes_expire_after_the_grace_period(server):
    hub, url = server
    now = [1000.0]
    hub.clock = lambda: now[0]
    agent.Client(url, "s3cret").request("PUT", "/v1/agents/box", GOOD)
    now[0] += 29
    assert len(hub.table().routes) == 2
    now[0] += 2
    assert hub.table().routes == ()
    assert hub.status()["agents"][0]["expired"] is True


def test_unreachable_proxy_is_a_clear_error():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(agent.ProxyUnreachable, match=f"127.0.0.1:{port} does not answer"):
        agent.Client(f"http://127.0.0.1:{port}", None, timeout=2).request("GET", "/v1/health")


def test_agent_refuses_to_push_off_loopback_without_a_token():
    with pytest.raises(UsageError, match="without a token"):
        agent.check_settings(agent.AgentSettings("http://10.1.2.3:8081", None, address="10.1.2.4"))
    ok = agent.check_settings(agent.AgentSettings("http://127.0.0.1:8081", None, name="box"))
    assert ok.address == "127.0.0.1" and ok.name == "box"
    with pytest.raises(UsageError, match="not an http"):
        agent.check_settings(agent.AgentSettings("ftp://x", "t"))
    with pytest.raises(UsageError, match="--name"):
        agent.check_settings(agent.AgentSettings("http://127.0.0.1:1", None, name="a b"))


def test_payload_has_no_surprises():
    doc = payload_from_table("10.0.0.1", "tcp://x", Table())
    assert json.loads(json.dumps(doc)) == {
        "schema_version": 1,
        "address": "10.0.0.1",
        "engine": "tcp://x",
        "routes": [],
        "unrouted": [],
    }
