"""`devstack events`: the lifecycle events of a project's containers (or of every Compose project).

Yields LifecycleEvent records; the CLI prints them as a table line or a JSON line. Never prints.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

PROJECT_LABEL = "com.docker.compose.project"
SERVICE_LABEL = "com.docker.compose.service"
LIFECYCLE = ("create", "start", "health_status", "die", "stop", "destroy")


@dataclass(frozen=True)
class LifecycleEvent:
    time: float  # seconds since the epoch, with the engine's nanoseconds
    project: str
    service: str
    container: str
    event: str  # create, start, health_status, die, stop, destroy
    detail: str  # healthy / exit code 1 / the image ...

    def iso_time(self) -> str:
        moment = datetime.fromtimestamp(self.time, tz=timezone.utc)
        return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")

    def local_time(self) -> str:
        moment = datetime.fromtimestamp(self.time)
        return moment.strftime("%H:%M:%S.") + f"{moment.microsecond // 1000:03d}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "time": self.iso_time(),
            "project": self.project,
            "service": self.service,
            "container": self.container,
            "event": self.event,
            "detail": self.detail,
        }


def from_raw(raw: Mapping[str, Any]) -> LifecycleEvent | None:
    """A lifecycle event from the engine's raw event, or None for anything else."""
    if str(raw.get("Type") or "container") != "container":
        return None
    action = str(raw.get("Action") or raw.get("status") or "")
    name, _, rest = action.partition(":")
    if name not in LIFECYCLE:
        return None
    attrs = (raw.get("Actor") or {}).get("Attributes") or {}
    project = str(attrs.get(PROJECT_LABEL) or "")
    if not project:
        return None
    detail = rest.strip()
    if name == "die":
        detail = f"exit code {attrs.get('exitCode', '?')}"
        if str(attrs.get("oomKilled", "")).lower() == "true":
            detail += " (out of memory)"
    elif name == "create":
        detail = str(attrs.get("image") or raw.get("from") or "")
    nanos = raw.get("timeNano")
    when = int(nanos) / 1e9 if nanos else float(raw.get("time") or 0)
    return LifecycleEvent(
        time=when,
        project=project,
        service=str(attrs.get(SERVICE_LABEL) or ""),
        container=str(attrs.get("name") or "")[:80],
        event=name,
        detail=detail,
    )


def filters(project: str | None) -> dict[str, list[str]]:
    """Engine-side filters: container lifecycle events of one project, or of every Compose project."""
    label = f"{PROJECT_LABEL}={project}" if project else PROJECT_LABEL
    return {"type": ["container"], "event": list(LIFECYCLE), "label": [label]}


def stream(project: str | None, engine: Any = None) -> Iterator[LifecycleEvent]:
    """Lifecycle events from now on, until the caller stops iterating (or Ctrl-C)."""
    from devstack import engine as engines

    engine = engine or engines.Engine()
    events = engine.events(filters=filters(project))
    try:
        for raw in events:
            event = from_raw(raw)
            if event is not None and (project is None or event.project == project):
                yield event
    finally:
        events.close()
