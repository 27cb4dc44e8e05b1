"""A project's `x-devstack.web`, read from the compose files its containers were created from.

Compose labels every container with its project's files (`com.docker.compose.project.config_files`).
Where those paths can be opened (an agent, or a watcher running on the host) they are read
directly. The containerised watcher sees no host files: it reads them through a throwaway
container that mounts exactly those files read-only, has no network, and is removed at once.
Engines whose files cannot be read at all (another host, pulled over TCP) fall back to labels and
the default rule (routes.py).

Run as `python3 -m devstack.proxy.meta FILE...`: prints the merged spec as JSON (the throwaway
container's command).
"""

from __future__ import annotations

import json
import os
import sys
import threading
from collections.abc import Callable, Sequence
from pathlib import PurePosixPath
from typing import Any, Optional

from devstack.proxy.routes import ContainerView, WebSpec

MAX_FILE_BYTES = 1 << 20


def web_spec(documents: Sequence[Any]) -> WebSpec | None:
    """`x-devstack.web` of the merged files (a later file overrides an earlier one)."""
    raw: Any = None
    for doc in documents:
        if isinstance(doc, dict) and isinstance(doc.get("x-devstack"), dict) and "web" in doc["x-devstack"]:
            raw = doc["x-devstack"]["web"]
    return parse_web(raw)


def parse_web(raw: Any) -> WebSpec | None:
    """`web: SERVICE`, `web: SERVICE:PORT` or `web: {service: SERVICE, port: PORT}`."""
    service: Any = None
    port: Any = None
    if isinstance(raw, str):
        service, _, port_text = raw.strip().partition(":")
        port = port_text or None
    elif isinstance(raw, dict):
        service, port = raw.get("service"), raw.get("port")
    if not isinstance(service, str) or not service.strip():
        return None
    number: int | None = None
    if port is not None and str(port).strip().isdigit() and 0 < int(str(port).strip()) < 65536:
        number = int(str(port).strip())
    return WebSpec(service.strip(), number)


def spec_to_json(spec: WebSpec | None) -> str:
    return json.dumps(None if spec is None else {"service": spec.service, "port": spec.port})


def spec_from_json(text: str) -> WebSpec | None:
    try:
        data = json.loads(text.strip().splitlines()[-1]) if text.strip() else None
    except ValueError:
        return None
    return parse_web(data) if isinstance(data, dict) else None


def load_files(paths: Sequence[str]) -> list[Any]:
    """The files that can be read and parsed; the others are skipped (nothing to route by)."""
    import yaml

    documents = []
    for path in paths:
        try:
            with open(path, "rb") as handle:
                text = handle.read(MAX_FILE_BYTES + 1)
            if len(text) > MAX_FILE_BYTES:
                continue
            documents.append(yaml.safe_load(text))
        except (OSError, ValueError, yaml.YAMLError):
            continue
    return documents


def files_of(view: ContainerView) -> list[str]:
    """Absolute paths of the compose files a container was created from."""
    out = []
    for name in view.config_files:
        path = PurePosixPath(name)
        if not path.is_absolute():
            if not view.working_dir:
                continue
            path = PurePosixPath(view.working_dir) / path
        out.append(str(path))
    return out


Fetch = Callable[[list[str]], Optional[WebSpec]]


def read_direct(paths: list[str]) -> WebSpec | None:
    return web_spec(load_files(paths))


class SpecCache:
    """Web specs per project, read once per set of compose files.

    Reading may take a second (a throwaway container), so by default it happens in a worker
    thread: until the answer comes, a project is routed by labels and the default rule, then
    `on_change` is called. `synchronous=True` reads inline (cheap direct reads, tests).
    """

    def __init__(
        self,
        fetch: Fetch | None,
        on_change: Callable[[], None] | None = None,
        synchronous: bool = False,
    ) -> None:
        self._fetch = fetch
        self.on_change = on_change
        self._synchronous = synchronous
        self._lock = threading.Lock()
        self._known: dict[str, tuple[tuple[str, ...], WebSpec | None]] = {}
        self._stale: set[str] = set()
        self._pending: dict[str, tuple[str, ...]] = {}
        self._wake = threading.Condition(self._lock)
        self._worker: threading.Thread | None = None

    def want(self, view: ContainerView) -> None:
        """Make sure the spec of the view's project is (being) read for its current files."""
        if self._fetch is None or not view.project:
            return
        key = tuple(files_of(view))
        with self._lock:
            known = self._known.get(view.project)
            if known is not None and known[0] == key and view.project not in self._stale:
                return
            if self._pending.get(view.project) == key:
                return
            self._stale.discard(view.project)
            self._pending[view.project] = key
            if not self._synchronous:
                if self._worker is None or not self._worker.is_alive():
                    self._worker = threading.Thread(target=self._work, daemon=True, name="spec-reader")
                    self._worker.start()
                self._wake.notify()
                return
        self._read(view.project, key)

    def _read(self, project: str, key: tuple[str, ...]) -> None:
        spec = None
        if key and self._fetch is not None:
            try:
                spec = self._fetch(list(key))
            except Exception:  # unreadable files: route by labels and the default rule
                spec = None
        with self._lock:
            if self._pending.get(project) == key:
                del self._pending[project]
            changed = self._known.get(project, ((), None))[1] != spec
            self._known[project] = (key, spec)
        if changed and self.on_change is not None:
            self.on_change()

    def _work(self) -> None:
        while True:
            with self._lock:
                while not self._pending:
                    if not self._wake.wait(timeout=60):
                        self._worker = None
                        return
                project, key = next(iter(self._pending.items()))
            self._read(project, key)

    def cached(self, project: str) -> WebSpec | None:
        with self._lock:
            known = self._known.get(project)
        return known[1] if known else None

    def refresh(self, project: str) -> None:
        """Read again on the next `want` (a container was created: the files may have changed)."""
        with self._lock:
            if project in self._known:
                self._stale.add(project)

    def drop(self, project: str) -> None:
        with self._lock:
            self._known.pop(project, None)
            self._stale.discard(project)


def main(argv: list[str]) -> int:
    sys.stdout.write(spec_to_json(read_direct([p for p in argv if os.path.isabs(p)])) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
