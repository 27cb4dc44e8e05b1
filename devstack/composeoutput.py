"""What Compose's output says: its progress lines (the live view of up/down/build) and which
dependency it stopped `up` for. Read while Compose runs; compose.py (imported before Compose
is started, see prestart.py) does not compile these patterns."""

from __future__ import annotations

import re
from typing import NamedTuple

# With COMPOSE_ANSI=never Compose v2 prints one line per change of a resource
# (" Container proj-db-1  Started") and BuildKit's plain log for builds ("#5 [web 2/3] RUN ...");
# v1 prints "Creating proj_db_1 ... done" and "Building web". Lines that match nothing are
# Compose's own messages (warnings, errors) and are kept by the caller for the failure report.


class ProgressLine(NamedTuple):
    """One line of Compose's progress output."""

    kind: str  # container, network, volume, service (pull), build, build-state, build-output
    name: str  # container/network/volume name; service for a pull; build: the vertex header's target
    action: str  # Creating, Created, Started, ...; build: the step text; build-state: DONE/CACHED/ERROR
    vertex: int = 0  # BuildKit vertex number (#N) of build lines
    step: tuple[int, int] | None = None  # build: (step, of steps) from "[web 2/9]"
    detail: str = ""  # build-state ERROR: the message; build-output: the line


_V2_RESOURCE = re.compile(r"^\s*(Container|Network|Volume|Image)\s+\"?([^\s\"]+)\"?\s+(\S.*?)\s*$")
_V2_PULL = re.compile(r"^\s*([A-Za-z0-9][\w.-]*)\s+(Pulling|Pulled|Skipped.*|Error|Interrupted)\s*$")
_V1_RESOURCE = re.compile(
    r"^(Creating|Recreating|Starting|Stopping|Removing|Killing|Pulling)\s+(?:network\s+)?\"?([^\s\"]+)\"?"
    r"(?:\s+\(.*\))?(?:\s+with .*)?\s*(?:\.\.\.\s*(\S*))?\s*$"
)
_V1_BUILD = re.compile(r"^Building\s+(\S+)\s*$")
_BUILD_HEADER = re.compile(r"^#(\d+)\s+(?:\[([^\]]*)\]\s+(.*)|(exporting to image))$")
_BUILD_STATE = re.compile(r"^#(\d+)\s+(DONE\b.*|CACHED\s*$|ERROR:?\s*(.*)$|CANCELED.*)")
_BUILD_OUTPUT = re.compile(r"^#(\d+)\s+\d+\.\d+\s(.*)$")
_STEP = re.compile(r"^(\d+)/(\d+)$")

_V1_DONE = {
    "Creating": "Created",
    "Recreating": "Recreated",
    "Starting": "Started",
    "Stopping": "Stopped",
    "Removing": "Removed",
    "Killing": "Killed",
    "Pulling": "Pulled",
}


def progress_line(line: str) -> ProgressLine | None:
    """Understand one line of `compose up/down/build` output (v2 or v1); None for anything else."""
    text = line.rstrip()
    match = _BUILD_HEADER.match(text)
    if match:
        vertex, target = int(match.group(1)), (match.group(2) or "").split()
        rest = match.group(3) or match.group(4)  # v1 prints "#7 exporting to image" without a target
        step = None
        if target and _STEP.match(target[-1]):
            numbers = _STEP.match(target[-1])
            assert numbers is not None
            step = (int(numbers.group(1)), int(numbers.group(2)))
        return ProgressLine("build", target[0] if target else "", rest, vertex, step)
    match = _BUILD_STATE.match(text)
    if match:
        state = match.group(2)
        word = state.split(":")[0].split()[0]
        detail = (match.group(3) or "").strip() if word == "ERROR" else state
        return ProgressLine("build-state", "", word, int(match.group(1)), detail=detail)
    match = _BUILD_OUTPUT.match(text)
    if match:
        return ProgressLine("build-output", "", "", int(match.group(1)), detail=match.group(2))
    match = _V2_RESOURCE.match(text)
    if match:
        return ProgressLine(match.group(1).lower(), match.group(2), match.group(3))
    match = _V1_BUILD.match(text)
    if match:
        return ProgressLine("build", match.group(1), "Building")
    match = _V1_RESOURCE.match(text)
    if match:
        verb, name, outcome = match.group(1), match.group(2), match.group(3) or ""
        kind = "network" if " network " in f" {text} " else "container"
        if verb == "Pulling":
            kind = "service"
        if outcome == "done":
            return ProgressLine(kind, name, _V1_DONE[verb])
        if outcome == "error":
            return ProgressLine(kind, name, "Error")
        return ProgressLine(kind, name, verb)
    match = _V2_PULL.match(text)
    if match and not re.fullmatch(r"[0-9a-f]{12}", match.group(1)):  # a layer id: not a service
        return ProgressLine("service", match.group(1), match.group(2).split()[0])
    return None


# Compose stops `up` itself when a dependency fails its `depends_on` condition. Wordings:
#   v2: dependency failed to start: container proj-db-1 is unhealthy
#       dependency failed to start: container proj-db-1 exited (1)
#       service "migrate" didn't complete successfully: exit 1
#       dependency failed to start: container proj-db-1 has no healthcheck configured
#   v1: ERROR: for web  Container "0123456789ab" is unhealthy.
#       ERROR: for web  Container "0123456789ab" exited with code 3.
_DEPENDENCY_FAILED = (
    re.compile(
        r"container \"?/?([\w.-]+)\"? (is unhealthy|exited \(-?\d+\)|exited with code -?\d+|"
        r"has no healthcheck configured)",
        re.IGNORECASE,
    ),
    re.compile(r"service \"?([\w.-]+)\"? didn't complete successfully", re.IGNORECASE),
)


def failed_dependency(output: str) -> str | None:
    """The container (name or id) or service Compose says failed its dependency condition."""
    for line in reversed(output.splitlines()):
        for pattern in _DEPENDENCY_FAILED:
            match = pattern.search(line)
            if match:
                return match.group(1)
    return None
