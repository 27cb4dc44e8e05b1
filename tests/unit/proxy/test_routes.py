"""The route model: which service answers where, and why a project is not routed."""

from __future__ import annotations

import pytest

from devstack.proxy.routes import (
    NO_HTTP_SERVICE,
    ContainerView,
    EngineRef,
    WebSpec,
    compute,
    is_stop_signal,
    merge,
    valid_address,
)

from .helpers import inspect, view

LOCAL = EngineRef("local", "unix:///var/run/docker.sock", local=True)
REMOTE = EngineRef("b", "tcp://10.9.0.2:2375", local=False, address="10.9.0.2")


def hosts(table):
    return {r.host: (r.service, [(b.address, b.port) for b in r.backends]) for r in table.routes}


def test_view_reads_what_the_router_needs():
    data = inspect(
        "shop",
        "web",
        health="healthy",
        exposed=(80, 443),
        published={80: [("127.0.0.1", 8080)]},
        labels={"dev.devstack.web": "true"},
        stop_signal="SIGQUIT",
    )
    v = ContainerView.from_inspect(data)
    assert v is not None
    assert (v.project, v.service, v.name, v.running, v.health) == (
        "shop",
        "web",
        "shop-web-1",
        True,
        "healthy",
    )
    assert v.exposed == (80, 443)
    assert v.published == (("127.0.0.1", 8080, 80),)
    assert v.networks == (("shop_default", "172.30.0.2"),)
    assert v.config_files == ("/src/shop/compose.yaml",)
    assert v.web_label == "true" and v.stop_signal == "SIGQUIT"
    assert v.ready


def test_view_skips_plain_and_one_off_containers():
    plain = inspect()
    plain["Config"]["Labels"] = {}
    assert ContainerView.from_inspect(plain) is None
    oneoff = inspect(labels={"com.docker.compose.oneoff": "True"})
    assert ContainerView.from_inspect(oneoff) is None


def test_project_and_service_hosts_over_the_project_network():
    table = compute(LOCAL, [view("shop", "web"), view("shop", "db", exposed=(3306,), number=2)])
    assert hosts(table) == {
        "shop": ("web", [("172.30.0.2", 80)]),
        "web.shop": ("web", [("172.30.0.2", 80)]),
    }
    assert table.networks == frozenset({"shop_default"})
    assert all(r.backends[0].network == "shop_default" for r in table.routes)


def test_default_web_service_prefers_port_80_then_the_listed_order_then_names():
    table = compute(
        LOCAL,
        [
            view("p", "api", exposed=(8000,), number=1),
            view("p", "admin", exposed=(8080,), number=2),
            view("p", "frontend", exposed=(3000,), number=3),
        ],
    )
    web = [r for r in table.routes if r.web]
    assert [r.service for r in web] == ["admin"]  # 8080 comes before 3000 and 8000
    table = compute(
        LOCAL, [view("p", "zz", exposed=(80,), number=1), view("p", "app", exposed=(80,), number=2)]
    )
    assert [r.service for r in table.routes if r.web] == ["app"]  # same port: a web-ish name wins


def test_x_devstack_web_and_the_label_choose_the_entry_point():
    containers = [
        view("p", "web", exposed=(80,), number=1),
        view("p", "mail", exposed=(1025, 8025), number=2),
    ]
    table = compute(LOCAL, containers, {"p": WebSpec("mail")})
    web = [r for r in table.routes if r.web]
    assert [(r.service, r.backends[0].port) for r in web] == [("mail", 1025)]  # its lowest port
    table = compute(LOCAL, containers, {"p": WebSpec("mail", 8025)})
    assert [(r.service, r.backends[0].port) for r in table.routes if r.web] == [("mail", 8025)]
    labelled = [
        view("p", "web", exposed=(80,), number=1),
        view("p", "docs", exposed=(8000,), number=2, labels={"dev.devstack.web": "true"}),
    ]
    assert [r.service for r in compute(LOCAL, labelled).routes if r.web] == ["docs"]


def test_port_label_overrides_the_port():
    table = compute(LOCAL, [view("p", "web", exposed=(80, 9000), labels={"dev.devstack.port": "9000"})])
    assert {b.port for r in table.routes for b in r.backends} == {9000}


def test_project_without_http_service_says_so():
    table = compute(LOCAL, [view("quiet", "worker", exposed=())])
    assert table.routes == ()
    assert [(u.project, u.reason) for u in table.unrouted] == [("quiet", NO_HTTP_SERVICE)]


def test_declared_web_service_without_port_says_what_to_write():
    table = compute(LOCAL, [view("p", "app", exposed=())], {"p": WebSpec("app")})
    assert table.routes == ()
    assert "exposes no port" in table.unrouted[0].reason


@pytest.mark.parametrize(
    ("kwargs", "stopping", "reason"),
    [
        ({"running": False}, False, "web is stopped"),
        ({"health": "starting"}, False, "web is starting (health: starting)"),
        ({"health": "unhealthy"}, False, "web is unhealthy"),
        ({}, True, "web is stopping"),
    ],
)
def test_not_ready_services_are_not_routed(kwargs, stopping, reason):
    v = view("p", "web", **kwargs)
    table = compute(LOCAL, [v], stopping={v.id} if stopping else set())
    assert table.routes == ()
    assert [u.reason for u in table.unrouted] == [reason]


def test_healthy_is_routed_and_scaled_services_get_every_container():
    table = compute(
        LOCAL,
        [
            view("p", "web", health="healthy", number=1),
            view("p", "web", health="healthy", number=2),
            view("p", "web", health="starting", number=3),
        ],
    )
    assert sorted(b.address for b in table.routes[0].backends) == ["172.30.0.2", "172.30.0.3"]


def test_remote_engine_uses_published_ports():
    table = compute(REMOTE, [view("p", "web", published={80: [("0.0.0.0", 8081)]})])
    assert hosts(table)["p"] == ("web", [("10.9.0.2", 8081)])
    assert table.networks == frozenset()
    table = compute(REMOTE, [view("p", "web", published={80: [("10.9.0.7", 8082)]})])
    assert hosts(table)["p"] == ("web", [("10.9.0.7", 8082)])


def test_remote_engine_explains_ports_it_cannot_reach():
    table = compute(REMOTE, [view("p", "web", published={80: [("127.0.0.1", 8081)]})])
    assert table.routes == () and "only on 127.0.0.1" in table.unrouted[0].reason
    table = compute(REMOTE, [view("p", "web")])
    assert table.routes == () and "does not publish port 80" in table.unrouted[0].reason
    no_address = EngineRef("c", "unix:///run/c.sock", local=False)
    table = compute(no_address, [view("p", "web", published={80: [("0.0.0.0", 8081)]})])
    assert "no address" in table.unrouted[0].reason


def test_host_network_service_cannot_be_joined():
    table = compute(LOCAL, [view("p", "web", networks={"host": ""})])
    assert table.routes == () and "network_mode: host" in table.unrouted[0].reason


def test_names_that_are_not_host_names_are_reported():
    table = compute(LOCAL, [view("p", "Web.Server", exposed=(80,))])
    assert [r.host for r in table.routes] == ["p"]
    assert "not a host name" in table.unrouted[0].reason


def test_proxy_containers_are_never_routed():
    own = view("p", "web", labels={"dev.devstack.proxy.role": "nginx"})
    assert compute(LOCAL, [own]).routes == ()


def test_merge_keeps_the_first_engine_for_a_host():
    local = compute(LOCAL, [view("shop", "web")])
    remote = compute(REMOTE, [view("shop", "web", published={80: [("0.0.0.0", 8081)]})])
    merged = merge([local, remote])
    assert {r.engine for r in merged.routes} == {"local"}
    assert any("already served by engine local" in u.reason and u.engine == "b" for u in merged.unrouted)
    assert merged.networks == frozenset({"shop_default"})


@pytest.mark.parametrize(
    ("signal", "stop_signal", "stops"),
    [
        ("15", "", True),
        ("9", "", True),
        ("SIGTERM", "", True),
        ("1", "", False),
        ("28", "", False),
        ("10", "SIGUSR1", True),
        ("USR1", "SIGUSR1", True),
        ("10", "", False),
    ],
)
def test_stop_signals(signal, stop_signal, stops):
    assert is_stop_signal(signal, stop_signal) is stops


@pytest.mark.parametrize(
    ("text", "ok"),
    [
        ("10.0.0.1", True),
        ("::1", True),
        ("db.example.com", True),
        ("a;b", False),
        ("x y", False),
        ("", False),
    ],
)
def test_valid_address(text, ok):
    assert valid_address(text) is ok
