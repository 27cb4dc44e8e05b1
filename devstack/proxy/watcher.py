"""The watcher: follows engines' events and keeps nginx's routes in step with the containers.

- One follower thread per engine subscribes to its events, then lists its containers (so no event
  between the two is missed) and keeps a view of each Compose container. A `kill` with a stop
  signal removes a route at once; `start` and `health_status` add it back after an inspect.
- An engine that stops answering keeps its routes for a grace period, then loses them; it is
  retried with exponential backoff. A stream that hangs is noticed by a ping every few seconds.
- The applier computes the route table, joins the networks it needs, renders a new generation of
  the nginx configuration, tests it with `nginx -t` (the same Debian nginx as the proxy's) and
  switches the `live` link to it; nginx's entrypoint sees the switch and reloads nginx with SIGHUP
  (graceful: requests in flight finish); the applier then asks nginx which generation it serves.
  A generation that fails the test is never activated; the previous one keeps serving.

Run in its own container (`devstack proxy start` does that): `python3 -m devstack.proxy.watcher`,
settings as JSON in DEVSTACK_PROXY_SETTINGS, the API token in DEVSTACK_PROXY_TOKEN.
"""

from __future__ import annotations

import fnmatch
import json
import os
import shutil
import sys
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Protocol

from devstack.errors import DevstackError
from devstack.proxy import CONF_DIR, INSTANCE_LABEL, ROLE_LABEL
from devstack.proxy.meta import SpecCache
from devstack.proxy.render import RenderError, Site, render, routes_document
from devstack.proxy.routes import (
    PROJECT_LABEL,
    ContainerView,
    EngineRef,
    Route,
    Table,
    Unrouted,
    compute,
    is_stop_signal,
    merge,
)

DEBOUNCE_SECONDS = 0.02
MAX_BACKOFF_SECONDS = 30.0
WATCHDOG_SECONDS = 5.0
GENERATIONS_KEPT = 4
_UPDATE_ACTIONS = ("start", "unpause", "restart", "rename", "update", "create", "die", "stop", "pause", "oom")


def _now_iso(epoch: float | None = None) -> str:
    moment = datetime.fromtimestamp(time.time() if epoch is None else epoch, tz=timezone.utc)
    return moment.isoformat(timespec="seconds").replace("+00:00", "Z")


# -- settings --------------------------------------------------------------------------------


@dataclass(frozen=True)
class EngineSpec:
    """An engine to follow besides the proxy's own (pull mode)."""

    url: str
    name: str
    address: str | None = None  # where its published ports are reached

    def to_dict(self) -> dict[str, Any]:
        return {"url": self.url, "name": self.name, "address": self.address}


@dataclass(frozen=True)
class Settings:
    name: str = "devstack-proxy"
    domain: str = "localhost"
    port: int = 80
    listen: str = "127.0.0.1"
    api: str | None = None  # "ADDRESS:PORT" where nginx publishes the agents' API
    grace: float = 30.0
    projects: str = "*"  # route only projects whose names match this pattern
    engines: tuple[EngineSpec, ...] = ()
    local_url: str = "unix:///var/run/docker.sock"
    meta_image: str | None = None  # image for reading compose files on the host (throwaway container)
    token: str | None = field(default=None, repr=False)

    @property
    def nginx_container(self) -> str:
        return self.name

    @property
    def watcher_container(self) -> str:
        return f"{self.name}-watcher"

    @property
    def network(self) -> str:
        """The proxy's own network, named to sort before any project's network.

        nginx publishes its port on the network that gives it its default gateway, and engines
        before 28 pick that network by name: were a project's network to sort first, joining it
        would move the published port (and reset connections in flight) at every route change.
        """
        return f"0--{self.name}"

    def site(self) -> Site:
        return Site(
            domain=self.domain, port=self.port, api=self.api is not None, watcher_host=self.watcher_container
        )

    def to_dict(self) -> dict[str, Any]:
        """Everything but the token (which travels in its own variable)."""
        return {
            "name": self.name,
            "domain": self.domain,
            "port": self.port,
            "listen": self.listen,
            "api": self.api,
            "grace": self.grace,
            "projects": self.projects,
            "engines": [e.to_dict() for e in self.engines],
            "local_url": self.local_url,
            "meta_image": self.meta_image,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], token: str | None = None) -> Settings:
        engines = tuple(
            EngineSpec(str(e["url"]), str(e.get("name") or e["url"]), e.get("address"))
            for e in data.get("engines") or []
        )
        return cls(
            name=str(data.get("name") or "devstack-proxy"),
            domain=str(data.get("domain") or "localhost"),
            port=int(data.get("port") or 80),
            listen=str(data.get("listen") or "127.0.0.1"),
            api=data.get("api") or None,
            grace=float(data["grace"]) if data.get("grace") is not None else 30.0,
            projects=str(data.get("projects") or "*"),
            engines=engines,
            local_url=str(data.get("local_url") or "unix:///var/run/docker.sock"),
            meta_image=data.get("meta_image") or None,
            token=token or None,
        )


# -- what the watcher needs from an engine and from nginx (real ones in engine.py; fakes in tests) --


class EngineLike(Protocol):
    url: str

    def ping(self) -> None: ...
    def containers(
        self, filters: Mapping[str, Any] | None = None, all: bool = False
    ) -> list[dict[str, Any]]: ...
    def inspect_container(self, ident: str) -> dict[str, Any] | None: ...
    def events(self, filters: Mapping[str, Any] | None = None, since: float | None = None) -> Any: ...
    def close(self) -> None: ...


@dataclass(frozen=True)
class NginxState:
    running: bool
    networks: frozenset[str]


class NginxLike(Protocol):
    def served_generation(self, timeout: float = 1.0) -> int | None: ...
    def inspect(self) -> NginxState | None: ...
    def connect(self, network: str) -> None: ...
    def disconnect(self, network: str) -> None: ...
    def test(self, conf: str) -> tuple[bool, str]: ...


class DockerNginx:
    """The nginx container, driven through the engine's API (nginx itself holds no socket)."""

    def __init__(self, engine: Any, container: str) -> None:
        self.engine = engine
        self.container = container

    def inspect(self) -> NginxState | None:
        data = self.engine.inspect_container(self.container)
        if data is None:
            return None
        networks = ((data.get("NetworkSettings") or {}).get("Networks") or {}).keys()
        return NginxState(bool((data.get("State") or {}).get("Running")), frozenset(networks))

    def connect(self, network: str) -> None:
        # Below the proxy's own network, which must keep nginx's default gateway (and its port).
        self.engine.connect_network(network, self.container, gateway_priority=-1)

    def disconnect(self, network: str) -> None:
        self.engine.disconnect_network(network, self.container)

    def test(self, conf: str) -> tuple[bool, str]:
        """`nginx -t`, here if this container has nginx (the watcher's image does), else in nginx's."""
        import subprocess

        local = shutil.which("nginx")
        if local:
            done = subprocess.run(
                [local, "-t", "-q", "-c", conf], capture_output=True, text=True, timeout=30, check=False
            )
            return done.returncode == 0, (done.stdout + done.stderr).strip()
        code, output = self.engine.exec(self.container, ["nginx", "-t", "-q", "-c", conf])
        return code == 0, output.strip()

    def served_generation(self, timeout: float = 1.0) -> int | None:
        """The generation nginx has loaded, asked over the proxy's network (None: no answer)."""
        import http.client

        try:
            conn = http.client.HTTPConnection(self.container, 80, timeout=timeout)
            conn.request("GET", "/_devstack/generation", headers={"Host": "devstack-watcher.invalid"})
            answer = conn.getresponse()
            text = answer.read().decode("ascii", "replace").strip()
            conn.close()
        except (OSError, http.client.HTTPException):
            return None
        return int(text) if answer.status == 200 and text.isdigit() else None


# -- the state of every engine and agent -------------------------------------------------------


@dataclass
class EngineState:
    ref: EngineRef
    kind: str  # local | pull
    containers: dict[str, ContainerView] = field(default_factory=dict)
    stopping: set[str] = field(default_factory=set)
    connected: bool = False
    ever_connected: bool = False
    lost_since: float | None = None
    error: str | None = None
    retry_at: float | None = None
    events: int = 0


@dataclass
class AgentState:
    name: str
    address: str
    table: Table
    last_seen: float
    engine_url: str = ""
    pushes: int = 0


class Hub:
    """Every engine's containers and every agent's routes; the applier reads a Table from it."""

    def __init__(self, settings: Settings, clock: Callable[[], float] = time.monotonic) -> None:
        self.settings = settings
        self.clock = clock
        self.lock = threading.RLock()
        self.changed = threading.Condition(self.lock)
        self.engines: dict[str, EngineState] = {}
        self.agents: dict[str, AgentState] = {}
        self.specs: dict[str, SpecCache] = {}
        self.version = 0
        self.force = False  # re-apply even when the table did not change (nginx restarted)

    def _bump(self) -> None:
        self.version += 1
        self.changed.notify_all()

    def add_engine(self, ref: EngineRef, kind: str, specs: SpecCache) -> EngineState:
        with self.lock:
            state = EngineState(ref, kind)
            self.engines[ref.name] = state
            self.specs[ref.name] = specs
            specs.on_change = self.touch
            return state

    def touch(self) -> None:
        with self.lock:
            self._bump()

    def untried(self) -> list[str]:
        """Engines not yet connected nor given up on once."""
        with self.lock:
            return [n for n, s in self.engines.items() if not s.ever_connected and s.lost_since is None]

    def wanted(self, project: str) -> bool:
        return fnmatch.fnmatchcase(project, self.settings.projects)

    def snapshot(self, name: str, views: Iterable[ContainerView]) -> None:
        with self.lock:
            state = self.engines[name]
            state.containers = {v.id: v for v in views if v.project and self.wanted(v.project)}
            state.stopping.clear()
            state.connected = state.ever_connected = True
            state.lost_since = state.error = state.retry_at = None
            self._bump()

    def upsert(self, name: str, view: ContainerView, started: bool = False) -> None:
        """A container's current view; `started` (start/unpause/restart) ends a pending stop."""
        with self.lock:
            state = self.engines[name]
            if not view.project or not self.wanted(view.project):
                return
            state.containers[view.id] = view
            if started or not view.running:
                state.stopping.discard(view.id)
            state.events += 1
            self._bump()

    def remove(self, name: str, ident: str) -> None:
        with self.lock:
            state = self.engines[name]
            state.containers.pop(ident, None)
            state.stopping.discard(ident)
            state.events += 1
            self._bump()

    def mark_stopping(self, name: str, ident: str) -> None:
        with self.lock:
            state = self.engines[name]
            if ident in state.containers:
                state.stopping.add(ident)
                state.events += 1
                self._bump()

    def view(self, name: str, ident: str) -> ContainerView | None:
        with self.lock:
            return self.engines[name].containers.get(ident)

    def project_gone(self, name: str, project: str) -> bool:
        with self.lock:
            return not any(v.project == project for v in self.engines[name].containers.values())

    def lost(self, name: str, reason: str, retry_in: float) -> None:
        with self.lock:
            state = self.engines[name]
            now = self.clock()
            if state.connected or state.lost_since is None:
                state.lost_since = now
            state.connected = False
            state.error = reason
            state.retry_at = now + retry_in
            self._bump()

    def nginx_started(self) -> None:
        with self.lock:
            self.force = True
            self._bump()

    # -- agents (push mode) --------------------------------------------------------------

    def agent_push(self, name: str, address: str, engine_url: str, table: Table) -> None:
        with self.lock:
            agent = self.agents.get(name)
            if agent is None:
                agent = self.agents[name] = AgentState(name, address, table, self.clock(), engine_url)
            agent.address, agent.table, agent.last_seen, agent.engine_url = (
                address,
                table,
                self.clock(),
                engine_url,
            )
            agent.pushes += 1
            self._bump()

    def agent_remove(self, name: str) -> bool:
        with self.lock:
            found = self.agents.pop(name, None) is not None
            self._bump()
            return found

    # -- the table ---------------------------------------------------------------------

    def _engine_live(self, state: EngineState, now: float) -> bool:
        if state.connected:
            return True
        return state.lost_since is not None and now - state.lost_since < self.settings.grace

    def table(self) -> Table:
        now = self.clock()
        with self.lock:
            tables = []
            ordered = sorted(self.engines.values(), key=lambda s: (s.kind != "local",))
            for state in ordered:
                if not self._engine_live(state, now):
                    continue
                specs = self.specs[state.ref.name]
                views = list(state.containers.values())
                project_specs = {v.project: specs.cached(v.project) for v in views}
                tables.append(compute(state.ref, views, project_specs, state.stopping))
            for agent in sorted(self.agents.values(), key=lambda a: a.name):
                if now - agent.last_seen < self.settings.grace:
                    tables.append(agent.table)
            return merge(tables)

    def next_deadline(self) -> float | None:
        """When a grace period runs out next (the table changes then without any event)."""
        now = self.clock()
        with self.lock:
            moments = [
                s.lost_since + self.settings.grace
                for s in self.engines.values()
                if not s.connected and s.lost_since is not None and s.lost_since + self.settings.grace > now
            ]
            moments += [
                a.last_seen + self.settings.grace
                for a in self.agents.values()
                if a.last_seen + self.settings.grace > now
            ]
        return min(moments) if moments else None

    def status(self) -> dict[str, Any]:
        now = self.clock()
        with self.lock:
            engines = []
            for state in self.engines.values():
                if state.connected:
                    condition = "connected"
                elif state.lost_since is None:
                    condition = "connecting"
                elif now - state.lost_since < self.settings.grace:
                    condition = "lost (routes kept for the grace period)"
                else:
                    condition = "lost (routes dropped)"
                engines.append(
                    {
                        "name": state.ref.name,
                        "url": state.ref.url,
                        "kind": state.kind,
                        "address": state.ref.address,
                        "state": condition,
                        "error": state.error,
                        "lost_seconds": round(now - state.lost_since, 1)
                        if state.lost_since is not None
                        else None,
                        "retry_in": round(max(0.0, state.retry_at - now), 1) if state.retry_at else None,
                        "containers": len(state.containers),
                        "events": state.events,
                    }
                )
            agents = [
                {
                    "name": a.name,
                    "address": a.address,
                    "engine": a.engine_url,
                    "last_seen_seconds": round(now - a.last_seen, 1),
                    "routes": len(a.table.routes),
                    "expired": now - a.last_seen >= self.settings.grace,
                }
                for a in self.agents.values()
            ]
        return {"engines": engines, "agents": agents}


# -- following one engine ----------------------------------------------------------------------


def _event_action(event: Mapping[str, Any]) -> str:
    return str(event.get("Action") or event.get("status") or "")


def _event_attributes(event: Mapping[str, Any]) -> dict[str, str]:
    actor = event.get("Actor") or {}
    return {str(k): str(v) for k, v in (actor.get("Attributes") or {}).items()}


def _event_id(event: Mapping[str, Any]) -> str:
    return str((event.get("Actor") or {}).get("ID") or event.get("id") or "")


class Follower(threading.Thread):
    """Follows one engine: snapshot, then events; on failure, backoff and retry."""

    def __init__(
        self,
        hub: Hub,
        ref: EngineRef,
        connect: Callable[[str], EngineLike],
        log: Callable[[str], None],
        stop: threading.Event,
        on_nginx_start: Callable[[], None] | None = None,
    ) -> None:
        super().__init__(daemon=True, name=f"follow-{ref.name}")
        self.hub = hub
        self.ref = ref
        self.connect = connect
        self.log = log
        self.stop_event = stop
        self.on_nginx_start = on_nginx_start
        self.backoff = 1.0

    def run(self) -> None:
        while not self.stop_event.is_set():
            try:
                self.follow_once()
                reason = "the event stream ended"
            except DevstackError as exc:
                reason = exc.message
            except Exception as exc:  # the thread must live on: report it and retry
                reason = f"{type(exc).__name__}: {exc}"
            if self.stop_event.is_set():
                return
            self.hub.lost(self.ref.name, reason, self.backoff)
            self.log(f"engine {self.ref.name}: {reason}; retrying in {self.backoff:g} s")
            self.stop_event.wait(self.backoff)
            self.backoff = min(self.backoff * 2, MAX_BACKOFF_SECONDS)

    def _inspect_view(self, engine: EngineLike, ident: str) -> ContainerView | None:
        data = engine.inspect_container(ident)
        return ContainerView.from_inspect(data) if data is not None else None

    def _spec(self, view: ContainerView) -> None:
        if view.project and self.hub.wanted(view.project):
            self.hub.specs[self.ref.name].want(view)

    def follow_once(self) -> None:
        engine = self.connect(self.ref.url)
        stream = None
        watchdog: threading.Thread | None = None
        done = threading.Event()
        try:
            engine.ping()
            stream = engine.events(filters={"type": ["container"]})
            views = []
            for summary in engine.containers(filters={"label": [PROJECT_LABEL]}, all=True):
                view = self._inspect_view(engine, str(summary.get("Id")))
                if view is not None:
                    self._spec(view)
                    views.append(view)
            self.hub.snapshot(self.ref.name, views)
            routed = sum(1 for v in views if self.hub.wanted(v.project))
            self.log(f"engine {self.ref.name}: following ({routed} Compose containers)")
            self.backoff = 1.0
            watchdog = threading.Thread(target=self._watchdog, args=(engine, stream, done), daemon=True)
            watchdog.start()
            for event in stream:
                if self.stop_event.is_set():
                    return
                self.handle(engine, event)
        finally:
            done.set()
            if stream is not None:
                stream.close()
            engine.close()

    def _watchdog(self, engine: EngineLike, stream: Any, done: threading.Event) -> None:
        """A silent stream may be a dead connection: ping now and then; close it if no answer."""
        while not done.wait(WATCHDOG_SECONDS):
            try:
                probe = self.connect(self.ref.url)
                try:
                    probe.ping()
                finally:
                    probe.close()
            except Exception:  # any failure means the engine is gone for us
                stream.close()
                return

    def handle(self, engine: EngineLike, event: Mapping[str, Any]) -> None:
        action = _event_action(event)
        attrs = _event_attributes(event)
        ident = _event_id(event)
        if attrs.get(ROLE_LABEL) == "nginx" and attrs.get(INSTANCE_LABEL) == self.hub.settings.name:
            if action == "start" and self.on_nginx_start is not None:
                self.on_nginx_start()
            return
        project = attrs.get(PROJECT_LABEL)
        if not project or not ident or not self.hub.wanted(project):
            return
        if action == "kill":
            known = self.hub.view(self.ref.name, ident)
            if is_stop_signal(attrs.get("signal", ""), known.stop_signal if known else ""):
                self.hub.mark_stopping(self.ref.name, ident)
            return
        if action == "destroy":
            self.hub.remove(self.ref.name, ident)
            if self.hub.project_gone(self.ref.name, project):
                self.hub.specs[self.ref.name].drop(project)
            return
        if action == "create":
            self.hub.specs[self.ref.name].refresh(project)  # its compose files may have changed
        if action in _UPDATE_ACTIONS or action.startswith("health_status"):
            view = self._inspect_view(engine, ident)
            if view is None:
                self.hub.remove(self.ref.name, ident)
                return
            self._spec(view)
            self.hub.upsert(self.ref.name, view, started=action in ("start", "unpause", "restart"))


# -- the configuration directory (a volume shared with nginx) ----------------------------------


class ConfDir:
    """Generations of the nginx configuration; `live` links to the active one."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.gens = root / "gen"

    def current(self) -> int:
        try:
            target = os.readlink(self.root / "live")
            return int(Path(target).name)
        except (OSError, ValueError):
            return 0

    def write(self, generation: int, files: Mapping[str, str]) -> Path:
        path = self.gens / f"{generation:08d}"
        if path.exists():
            shutil.rmtree(path)
        path.mkdir(parents=True)
        for name, text in files.items():
            (path / name).write_text(text, "utf-8")
            os.chmod(path / name, 0o644)
        os.chmod(path, 0o755)
        return path

    def activate(self, generation: int) -> None:
        link = self.root / "live"
        tmp = self.root / f".live-{os.getpid()}"
        if tmp.is_symlink() or tmp.exists():
            tmp.unlink()
        os.symlink(f"gen/{generation:08d}", tmp)
        os.replace(tmp, link)  # atomic: nginx sees the old generation or the new one

    def discard(self, generation: int) -> None:
        shutil.rmtree(self.gens / f"{generation:08d}", ignore_errors=True)

    def prune(self, keep: int = GENERATIONS_KEPT) -> None:
        live = self.current()
        try:
            names = sorted(p.name for p in self.gens.iterdir() if p.name.isdigit())
        except OSError:
            return
        for name in names[:-keep]:
            if int(name) != live:
                shutil.rmtree(self.gens / name, ignore_errors=True)

    def write_state(self, document: Mapping[str, Any]) -> None:
        tmp = self.root / f".state-{os.getpid()}.json"
        tmp.write_text(json.dumps(document, indent=2) + "\n", "utf-8")
        os.chmod(tmp, 0o644)
        os.replace(tmp, self.root / "state.json")


# -- applying the table to nginx ---------------------------------------------------------------


class Applier:
    """Turns the hub's table into nginx configuration, one validated generation at a time."""

    def __init__(self, hub: Hub, nginx: NginxLike, conf: ConfDir, log: Callable[[str], None]) -> None:
        self.hub = hub
        self.nginx = nginx
        self.conf = conf
        self.log = log
        self.applied: Table | None = None  # what nginx serves
        self.wanted: Table | None = None  # what was asked for (before networks that failed to join)
        self.failed_networks: dict[str, str] = {}
        self.retry_at = 0.0
        self.served: int | None = None  # the generation nginx last confirmed
        self.config_key: tuple[str, str] | None = None
        self.generation = conf.current()
        self.last_reload: float | None = None
        self.last_error: str | None = None
        self.started = time.time()
        self.applies = 0

    def _split_unjoinable(self, table: Table, failed: Mapping[str, str]) -> Table:
        if not failed:
            return table
        keep: list[Route] = []
        notes: list[Unrouted] = []
        for route in table.routes:
            bad = [b.network for b in route.backends if b.network in failed]
            if bad:
                net = bad[0] or ""
                notes.append(
                    Unrouted(
                        route.project, route.engine, f"the proxy cannot join network {net}: {failed[net]}"
                    )
                )
            else:
                keep.append(route)
        networks = frozenset(n for n in table.networks if n not in failed)
        return Table(tuple(keep), table.unrouted + tuple(notes), networks)

    def apply(self, wanted: Table, force: bool = False) -> bool:
        """Make nginx serve `wanted`; False when nothing changed or the new config failed its test."""
        now = time.monotonic()
        retry = self.failed_networks and now >= self.retry_at
        if wanted == self.wanted and not force and not retry:
            return False
        started = time.monotonic()
        nginx = self.nginx.inspect()
        failed: dict[str, str] = {}
        if nginx is not None:
            joined_before = nginx.networks
            base = {self.hub.settings.network, "bridge"}
            # Leave first: Compose removes a project's network right after its containers and
            # fails (or leaves it behind) while the proxy is still attached.
            for network in sorted(joined_before - set(wanted.networks) - base):
                try:
                    self.nginx.disconnect(network)
                    self.log(f"left network {network}")
                except DevstackError as exc:
                    self.log(f"cannot leave network {network}: {exc.message}")
            for network in sorted(set(wanted.networks) - joined_before):
                try:
                    self.nginx.connect(network)
                    self.log(f"joined network {network}")
                except DevstackError as exc:
                    failed[network] = exc.message
                    self.log(f"cannot join network {network}: {exc.message}")
        self.wanted = wanted
        self.failed_networks = failed
        self.retry_at = now + 5.0
        table = self._split_unjoinable(wanted, failed)
        networks_done = time.monotonic()
        generation = self.generation + 1
        try:
            files = render(table, self.hub.settings.site(), generation)
        except RenderError as exc:
            self.last_error = str(exc)
            self.log(f"not applied: {exc}")
            return False
        path = self.conf.write(generation, files)
        running = nginx is not None and nginx.running
        # Only the page changed (a reason why a project is not routed): nginx reads it per
        # request through the `live` link, so the new generation needs no test and no reload.
        key = self._config_key(files, generation)
        if running and key == self.config_key and self.served is not None and not force:
            self.conf.activate(generation)
            self.generation, self.applied = generation, table
            self.conf.prune()
            return True
        if running:
            ok, output = self.nginx.test(str(path / "nginx.conf"))
            if not ok:
                self.conf.discard(generation)
                self.last_error = f"nginx -t rejected generation {generation}: {output[-400:]}"
                self.log(self.last_error)
                return False
        tested = time.monotonic()
        self.conf.activate(generation)
        self.generation = generation
        errors = [f"cannot join network {n}: {m}" for n, m in failed.items()]
        if running:
            # nginx's entrypoint sees the link switch and reloads (SIGHUP, graceful); a signal
            # sent through the engine's API would mark the container as stopped by hand.
            self.last_reload = time.time()
            problem = self._confirm(generation)
            if problem:
                errors.append(problem)
        self.applied = table
        self.config_key = key if running else None
        self.applies += 1
        self.last_error = "; ".join(errors) or None
        self.conf.prune()
        timing = (
            f"{time.monotonic() - started:.2f} s: networks {networks_done - started:.2f}, "
            f"nginx -t {tested - networks_done:.2f}"
        )
        self._log_changes(table, timing if running else "nginx not running yet")
        return True

    @staticmethod
    def _config_key(files: Mapping[str, str], generation: int) -> tuple[str, str]:
        """The configuration nginx would load, without the generation number."""
        marks = (
            (f"(generation {generation})", "(generation)"),
            (f'return 200 "{generation}\\n";', "return 200;"),
        )
        conf, routes = files["nginx.conf"], files["routes.conf"]
        for old, new in marks:
            conf, routes = conf.replace(old, new), routes.replace(old, new)
        return conf, routes

    def _confirm(self, generation: int, timeout: float = 3.0) -> str | None:
        """Wait until nginx serves the new generation (a reload that failed keeps the old one)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            served = self.nginx.served_generation()
            if served is not None and served >= generation:
                self.served = served
                return None
            time.sleep(0.01)
        problem = f"nginx did not load generation {generation} within {timeout:g} s (its log says why)"
        self.log(problem)
        return problem

    def _log_changes(self, table: Table, timing: str) -> None:
        domain = self.hub.settings.domain
        hosts = ", ".join(r.fqdn(domain) for r in table.routes) or "none"
        self.log(f"generation {self.generation} ({timing}): {len(table.routes)} route(s): {hosts}")

    def state(self) -> dict[str, Any]:
        table = self.applied or Table()
        settings = self.hub.settings
        document = routes_document(table, settings.site(), self.generation)
        document.update(
            {
                "kind": "proxy-state",
                "settings": settings.to_dict(),
                "watcher_started": _now_iso(self.started),
                "last_reload": _now_iso(self.last_reload) if self.last_reload else None,
                "last_error": self.last_error,
                "served_generation": self.served,
                "updated": _now_iso(),
            }
        )
        document.update(self.hub.status())
        return document

    def run(self, stop: threading.Event, first_wait: float = 10.0) -> None:
        # Apply nothing until every engine was tried once: a table without an engine that is
        # merely slow to answer would drop its routes, and bring them back a moment later.
        first_deadline = time.monotonic() + first_wait
        with self.hub.lock:
            while self.hub.untried() and time.monotonic() < first_deadline and not stop.is_set():
                self.hub.changed.wait(0.1)
        seen = -1
        last_state = 0.0
        while not stop.is_set():
            with self.hub.lock:
                if self.hub.version == seen and not self.hub.force:
                    deadline = self.hub.next_deadline()
                    wait = (
                        1.0 if deadline is None else max(0.01, min(1.0, deadline - self.hub.clock() + 0.01))
                    )
                    self.hub.changed.wait(wait)
            if stop.is_set():
                return
            stop.wait(DEBOUNCE_SECONDS)  # a burst of events (compose up) becomes one reload
            with self.hub.lock:
                seen = self.hub.version
                force, self.hub.force = self.hub.force, False
            try:
                changed = self.apply(self.hub.table(), force=force)
            except DevstackError as exc:
                self.last_error = exc.message
                self.log(f"apply failed: {exc.message}")
                self.wanted = None  # try again on the next change or tick
                changed = True
            now = time.monotonic()
            if changed or now - last_state > 2.0:
                try:
                    self.conf.write_state(self.state())
                except OSError as exc:
                    self.log(f"cannot write state.json: {exc}")
                last_state = now


# -- the process -------------------------------------------------------------------------------


def _log(line: str) -> None:
    sys.stderr.write(f"{_now_iso()} {line}\n")
    sys.stderr.flush()


def engine_refs(settings: Settings) -> list[tuple[EngineRef, str]]:
    refs = [(EngineRef("local", settings.local_url, local=True), "local")]
    for spec in settings.engines:
        refs.append((EngineRef(spec.name, spec.url, local=False, address=spec.address), "pull"))
    return refs


def main(argv: list[str] | None = None) -> int:
    import signal

    from devstack import engine as engines
    from devstack.proxy import meta

    raw = os.environ.get("DEVSTACK_PROXY_SETTINGS", "{}")
    settings = Settings.from_dict(json.loads(raw), os.environ.get("DEVSTACK_PROXY_TOKEN"))
    stop = threading.Event()

    def terminate(_signum: int, _frame: object) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, terminate)
    signal.signal(signal.SIGINT, terminate)

    local = engines.Engine(settings.local_url)
    hub = Hub(settings)
    conf = ConfDir(Path(os.environ.get("DEVSTACK_PROXY_CONF_DIR", CONF_DIR)))

    def helper_fetch(paths: list[str]) -> Any:
        if not settings.meta_image:
            return None
        code, out = engines.Engine(settings.local_url).run_to_completion(
            settings.meta_image,
            paths,
            read_only_paths=paths,
            entrypoint=["python3", "-m", "devstack.proxy.meta"],
            labels={ROLE_LABEL: "reader", INSTANCE_LABEL: settings.name},
        )
        return meta.spec_from_json(out) if code == 0 else None

    def connect(url: str) -> EngineLike:
        return engines.Engine(url, timeout=10)

    followers = []
    for ref, kind in engine_refs(settings):
        # Compose files are on this host for the own engine and for other local sockets.
        fetch = helper_fetch if ref.url.startswith("unix://") else None
        hub.add_engine(ref, kind, SpecCache(fetch))
        followers.append(Follower(hub, ref, connect, _log, stop, on_nginx_start=hub.nginx_started))
    # Throwaway readers of compose files left behind by an engine that stopped while they ran.
    try:
        for found in local.containers(
            filters={"label": [f"{ROLE_LABEL}=reader", f"{INSTANCE_LABEL}={settings.name}"]}, all=True
        ):
            local.remove_container(str(found["Id"]), timeout=1)
    except DevstackError as exc:
        _log(f"cannot remove old readers: {exc.message}")
    applier = Applier(hub, DockerNginx(local, settings.nginx_container), conf, _log)
    if conf.current() == 0:
        # A new proxy: an empty first generation, at once (nginx waits for it to start). A
        # restarted watcher leaves the live one alone until it has seen every engine.
        applier.apply(Table(), force=True)
    conf.write_state(applier.state())
    for follower in followers:
        follower.start()
    if settings.api is not None:
        from devstack.proxy.api import serve

        serve(hub, settings, _log, stop)
    _log(f"watching {len(followers)} engine(s) for proxy {settings.name}")
    applier.run(stop)
    _log("stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
