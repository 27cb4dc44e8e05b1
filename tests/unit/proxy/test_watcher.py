"""The watcher without an engine: events in, route table and nginx generations out."""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from devstack.errors import EngineRequestFailed, EngineUnavailable
from devstack.proxy.meta import SpecCache
from devstack.proxy.routes import EngineRef, Table, WebSpec
from devstack.proxy.watcher import Applier, ConfDir, Follower, Hub, NginxState, Settings

from .helpers import inspect

LOCAL = EngineRef("local", "unix:///var/run/docker.sock", local=True)


class FakeStream:
    def __init__(self, events: list[dict[str, Any]]) -> None:
        self.events = events
        self.closed = False

    def __iter__(self) -> Iterator[dict[str, Any]]:
        yield from self.events

    def close(self) -> None:
        self.closed = True


class FakeEngine:
    """Containers by id; `events` replays a list; `down` makes every call fail."""

    def __init__(self, containers: list[dict[str, Any]], events: list[dict[str, Any]] | None = None) -> None:
        self.url = "fake://"
        self.data = {c["Id"]: c for c in containers}
        self.event_list = events or []
        self.down = False

    def _check(self) -> None:
        if self.down:
            raise EngineUnavailable("the Docker engine at fake:// does not answer: connection refused")

    def ping(self) -> None:
        self._check()

    def containers(self, filters: Any = None, all: bool = False) -> list[dict[str, Any]]:
        self._check()
        return [{"Id": ident} for ident in self.data]

    def inspect_container(self, ident: str) -> dict[str, Any] | None:
        self._check()
        return self.data.get(ident)

    def events(self, filters: Any = None, since: float | None = None) -> FakeStream:
        self._check()
        return FakeStream(self.event_list)

    def close(self) -> None:
        pass


def event(action: str, data: dict[str, Any], **attrs: str) -> dict[str, Any]:
    labels = data["Config"]["Labels"]
    return {
        "Type": "container",
        "Action": action,
        "Actor": {"ID": data["Id"], "Attributes": {**labels, **attrs}},
    }


def follower(hub: Hub, engine: FakeEngine, ref: EngineRef = LOCAL) -> Follower:
    if ref.name not in hub.engines:
        hub.add_engine(ref, "local" if ref.local else "pull", SpecCache(None))
    return Follower(hub, ref, lambda url: engine, lambda line: None, threading.Event())


def routed(hub: Hub) -> set[str]:
    return {r.host for r in hub.table().routes}


def test_snapshot_then_events_keep_the_table_in_step():
    web = inspect("shop", "web")
    blog = inspect("blog", "web")
    engine = FakeEngine([web, blog])
    hub = Hub(Settings())
    f = follower(hub, engine)
    f.follow_once()
    assert routed(hub) == {"shop", "web.shop", "blog", "web.blog"}

    # docker stop: the kill (SIGTERM) removes the route before the container dies
    f.handle(engine, event("kill", blog, signal="15"))
    assert routed(hub) == {"shop", "web.shop"}
    assert any(u.reason == "web is stopping" for u in hub.table().unrouted)
    blog["State"] = {"Running": False}
    f.handle(engine, event("die", blog, exitCode="0"))
    assert any(u.reason == "web is stopped" for u in hub.table().unrouted)

    # started again, with a healthcheck: routed once healthy, not before
    blog["State"] = {"Running": True, "Health": {"Status": "starting"}}
    f.handle(engine, event("start", blog))
    assert "blog" not in routed(hub)
    blog["State"] = {"Running": True, "Health": {"Status": "healthy"}}
    f.handle(engine, event("health_status: healthy", blog))
    assert "blog" in routed(hub)

    # a reload signal is not a stop
    f.handle(engine, event("kill", blog, signal="1"))
    assert "blog" in routed(hub)

    # a container that ignores SIGTERM stays unrouted while it is being stopped
    f.handle(engine, event("kill", blog, signal="15"))
    f.handle(engine, event("health_status: healthy", blog))
    assert "blog" not in routed(hub)
    f.handle(engine, event("start", blog))
    assert "blog" in routed(hub)

    del engine.data[blog["Id"]]
    f.handle(engine, event("destroy", blog))
    assert routed(hub) == {"shop", "web.shop"}


def test_projects_outside_the_pattern_are_ignored():
    engine = FakeEngine([inspect("dstest-a", "web"), inspect("other", "web")])
    hub = Hub(Settings(projects="dstest-*"))
    follower(hub, engine).follow_once()
    assert routed(hub) == {"dstest-a", "web.dstest-a"}


def test_a_restarted_watcher_reconciles_from_current_state():
    web = inspect("shop", "web")
    engine = FakeEngine([web])
    hub = Hub(Settings())
    f = follower(hub, engine)
    f.follow_once()
    assert "shop" in routed(hub)
    # while no watcher ran, shop stopped and blog started: events were missed
    web["State"] = {"Running": False}
    engine.data[inspect("blog", "web")["Id"]] = inspect("blog", "web")
    hub2 = Hub(Settings())
    follower(hub2, engine).follow_once()
    assert routed(hub2) == {"blog", "web.blog"}


def test_lost_engine_keeps_routes_for_the_grace_period_then_drops_them():
    now = [100.0]
    hub = Hub(Settings(grace=30), clock=lambda: now[0])
    remote = EngineRef("b", "tcp://10.9.0.2:2375", local=False, address="10.9.0.2")
    engine = FakeEngine([inspect("far", "web", published={80: [("0.0.0.0", 8081)]})])
    f = follower(hub, engine, remote)
    f.follow_once()
    assert routed(hub) == {"far", "web.far"}
    hub.lost("b", "connection refused", 1.0)
    now[0] += 29
    assert routed(hub) == {"far", "web.far"}
    assert hub.next_deadline() == pytest.approx(130.0)
    now[0] += 2
    assert routed(hub) == set()
    status = hub.status()["engines"][0]
    assert status["state"] == "lost (routes dropped)" and status["error"] == "connection refused"


def test_follower_retries_with_backoff_and_reports_why():
    engine = FakeEngine([inspect("far", "web")])
    engine.down = True
    hub = Hub(Settings())
    remote = EngineRef("b", "tcp://10.9.0.2:2375", local=False, address="10.9.0.2")
    lines: list[str] = []
    stop = threading.Event()
    hub.add_engine(remote, "pull", SpecCache(None))
    f = Follower(hub, remote, lambda url: engine, lines.append, stop)
    f.stop_event.wait = lambda timeout=None: stop.set() if len(lines) >= 3 else None  # type: ignore[method-assign]
    f.run()
    assert len(lines) == 3
    assert "retrying in 1 s" in lines[0] and "retrying in 2 s" in lines[1] and "retrying in 4 s" in lines[2]
    assert "connection refused" in lines[0]
    assert hub.status()["engines"][0]["state"].startswith("lost")


def test_web_spec_from_the_compose_file_is_used():
    engine = FakeEngine([inspect("p", "web", number=1), inspect("p", "mail", exposed=(8025,), number=2)])
    hub = Hub(Settings())
    hub.add_engine(LOCAL, "local", SpecCache(lambda paths: WebSpec("mail"), synchronous=True))
    Follower(hub, LOCAL, lambda url: engine, lambda line: None, threading.Event()).follow_once()
    assert [r.service for r in hub.table().routes if r.web] == ["mail"]


class FakeNginx:
    """Reloads itself when `live` switches (as the entrypoint does), unless `answer` is False."""

    def __init__(self, networks: set[str] | None = None) -> None:
        self.networks = set(networks or {"0--devstack-proxy"})
        self.calls: list[str] = []
        self.reject: str | None = None
        self.generation = 0
        self.answer = True
        self.missing_networks: set[str] = set()

    def inspect(self) -> NginxState:
        return NginxState(True, frozenset(self.networks))

    def connect(self, network: str) -> None:
        if network in self.missing_networks:
            raise EngineRequestFailed(f"cannot connect to network {network}: not found")
        self.calls.append(f"join {network}")
        self.networks.add(network)

    def disconnect(self, network: str) -> None:
        self.calls.append(f"leave {network}")
        self.networks.discard(network)

    def test(self, conf: str) -> tuple[bool, str]:
        self.calls.append("test")
        text = Path(conf).read_text()
        if self.reject and self.reject in Path(conf).with_name("routes.conf").read_text():
            return False, "nginx: [emerg] invalid"
        assert "include routes.conf;" in text
        self.conf_dir = Path(conf).parent.parent.parent
        return True, ""

    def served_generation(self, timeout: float = 1.0) -> int | None:
        if not self.answer:
            return None
        served = int(Path(os.readlink(self.conf_dir / "live")).name)
        if served != self.generation:
            self.calls.append("reload")
            self.generation = served
        return self.generation


def applier(tmp_path: Path, nginx: FakeNginx, hub: Hub) -> Applier:
    return Applier(hub, nginx, ConfDir(tmp_path), lambda line: None)


def table_for(*projects: str) -> Table:
    hub = Hub(Settings())
    engine = FakeEngine([inspect(p, "web") for p in projects])
    follower(hub, engine).follow_once()
    return hub.table()


def test_applier_joins_tests_switches_and_reloads(tmp_path):
    nginx = FakeNginx()
    a = applier(tmp_path, nginx, Hub(Settings()))
    assert a.apply(table_for("shop"))
    assert nginx.calls == ["join shop_default", "test", "reload"]
    assert (tmp_path / "live").resolve() == (tmp_path / "gen" / "00000001").resolve()
    assert "server_name shop.localhost;" in (tmp_path / "live" / "routes.conf").read_text()
    assert not a.apply(table_for("shop"))  # nothing changed: nothing done
    nginx.calls.clear()
    assert a.apply(table_for())
    assert nginx.calls == ["leave shop_default", "test", "reload"]  # leave first (compose down)
    assert a.served == 2


def test_a_generation_nginx_rejects_is_never_activated(tmp_path):
    nginx = FakeNginx()
    a = applier(tmp_path, nginx, Hub(Settings()))
    a.apply(table_for("shop"))
    nginx.reject = "blog"
    assert not a.apply(table_for("shop", "blog"))
    assert "nginx -t rejected generation 2" in (a.last_error or "")
    assert (tmp_path / "live").resolve().name == "00000001"
    assert not (tmp_path / "gen" / "00000002").exists()
    assert "reload" not in nginx.calls[-1:]


def test_a_network_that_cannot_be_joined_drops_only_its_routes(tmp_path):
    nginx = FakeNginx()
    nginx.missing_networks = {"blog_default"}
    a = applier(tmp_path, nginx, Hub(Settings()))
    a.apply(table_for("shop", "blog"))
    assert a.applied is not None
    assert {r.host for r in a.applied.routes} == {"shop", "web.shop"}
    assert any("cannot join network blog_default" in u.reason for u in a.applied.unrouted)
    assert "blog_default" in (a.last_error or "")


def test_page_only_changes_need_no_reload(tmp_path):
    nginx = FakeNginx()
    a = applier(tmp_path, nginx, Hub(Settings()))
    a.apply(table_for("shop"))
    nginx.calls.clear()
    table = table_for("shop")
    from devstack.proxy.routes import Unrouted

    changed = Table(table.routes, (Unrouted("blog", "local", "web is stopped"),), table.networks)
    assert a.apply(changed)
    assert nginx.calls == []
    assert "web is stopped" in (tmp_path / "live" / "index.html").read_text()


def test_a_reload_nginx_does_not_confirm_is_reported(tmp_path):
    nginx = FakeNginx()
    nginx.answer = False
    a = applier(tmp_path, nginx, Hub(Settings()))
    a._confirm.__func__.__defaults__ = (0.05,)  # type: ignore[attr-defined]
    try:
        a.apply(table_for("shop"))
    finally:
        a._confirm.__func__.__defaults__ = (3.0,)  # type: ignore[attr-defined]
    assert "nginx did not load generation 1" in (a.last_error or "")


def test_state_document_says_what_runs(tmp_path):
    hub = Hub(Settings(name="p"))
    nginx = FakeNginx()
    a = applier(tmp_path, nginx, hub)
    hub.add_engine(LOCAL, "local", SpecCache(None))
    a.apply(table_for("shop"))
    ConfDir(tmp_path).write_state(a.state())
    state = json.loads((tmp_path / "state.json").read_text())
    assert state["generation"] == 1 and state["served_generation"] == 1
    assert state["routes"][0]["url"] == "http://shop.localhost/"
    assert state["engines"][0]["name"] == "local"
    assert "token" not in json.dumps(state["settings"])


def test_old_generations_are_pruned(tmp_path):
    nginx = FakeNginx()
    a = applier(tmp_path, nginx, Hub(Settings()))
    for i in range(8):
        a.apply(table_for(*[f"p{j}" for j in range(i % 3 + 1)]), force=True)
    assert len(list((tmp_path / "gen").iterdir())) <= 4


def test_settings_round_trip_without_the_token():
    from devstack.proxy.watcher import EngineSpec

    s = Settings(name="x", port=8080, engines=(EngineSpec("tcp://h:1", "h:1", "h"),), token="secret")
    data = s.to_dict()
    assert "secret" not in json.dumps(data)
    back = Settings.from_dict(json.loads(json.dumps(data)), token="secret")
    assert back == s
