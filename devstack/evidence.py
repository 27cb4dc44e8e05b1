"""Why a service failed, in the engine's own words: its healthcheck's last outputs and its log.

Used on every path where `up` finds a failed service: devstack's own wait, and Compose stopping
`up` itself because a dependency became unhealthy or exited (`dependency failed to start`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from devstack.engine import ContainerInfo, HealthProbe

LOG_LINES = 15
PROBES_SHOWN = 3
PROBE_LINES = 4  # lines of one healthcheck output


def culprit(
    containers: Sequence[ContainerInfo], wanted: Iterable[str], named: str | None
) -> ContainerInfo | None:
    """The container that failed: the one Compose named (container name, id prefix or service),
    else a wanted one that is unhealthy, exited with an error or keeps restarting."""
    if named:
        for info in containers:
            if named in (info.name, info.service) or (len(named) >= 12 and info.id.startswith(named)):
                return info
    wanted = set(wanted)
    for info in containers:
        if info.service not in wanted:
            continue
        if (
            info.health == "unhealthy"
            or info.state == "restarting"
            or (info.state in ("exited", "dead") and info.exit_code != 0)
        ):
            return info
    return None


def problem(info: ContainerInfo) -> str:
    """What is wrong with a failed container, in a few words ("is unhealthy", "exited with code 1")."""
    if info.state in ("exited", "dead"):
        if info.oom_killed:
            return "ran out of memory (killed by the kernel)"
        return f"exited with code {info.exit_code}"
    if info.state == "restarting":
        return f"keeps crashing ({info.restart_count} restarts)"
    if info.health == "unhealthy":
        failing = _failing_streak(info.health_log)
        return "is unhealthy" + (f": its healthcheck failed {failing} times in a row" if failing > 1 else "")
    return f"is {info.health or info.state}"


def _failing_streak(log: Sequence[HealthProbe]) -> int:
    count = 0
    for probe in reversed(log):
        if probe.exit_code == 0:
            break
        count += 1
    return count


def healthcheck_text(info: ContainerInfo) -> str | None:
    """The healthcheck's last outputs, newest last (None when there is nothing to show)."""
    if not info.health_log:
        return None
    test = _command(info.healthcheck)
    lines = [f"healthcheck{f' `{test}`' if test else ''}, last results (newest last):"]
    shown: list[tuple[HealthProbe, int]] = []  # (probe, how many times in a row)
    for probe in info.health_log:
        if shown and (shown[-1][0].exit_code, shown[-1][0].output.strip()) == (
            probe.exit_code,
            probe.output.strip(),
        ):
            shown[-1] = (probe, shown[-1][1] + 1)
        else:
            shown.append((probe, 1))
    for probe, times in shown[-PROBES_SHOWN:]:
        when = _clock(probe.end)
        output = [line for line in probe.output.strip().splitlines() if line.strip()]
        head = f"  {when + ' ' if when else ''}exit {probe.exit_code}" + (
            f" ({times} times)" if times > 1 else ""
        )
        if not output:
            lines.append(head + ": no output")
        elif len(output) == 1:
            lines.append(f"{head}: {output[0]}")
        else:
            lines.append(head + ":")
            lines += [f"    {line}" for line in output[-PROBE_LINES:]]
    return "\n".join(lines)


def _command(test: Sequence[str]) -> str:
    if not test or test[0] == "NONE":
        return ""
    if test[0] == "CMD-SHELL":
        return " ".join(test[1:])
    if test[0] == "CMD":
        import shlex

        return shlex.join(test[1:])
    return " ".join(test)


def _clock(stamp: str) -> str:
    """HH:MM:SS in local time from an engine timestamp ("" when it cannot be read)."""
    from datetime import datetime, timezone

    text = stamp.rstrip("Z")
    if "." in text:
        head, frac = text.split(".", 1)
        text = f"{head}.{frac[:6]}"
    try:
        when = datetime.fromisoformat(text).replace(tzinfo=timezone.utc)
    except ValueError:
        return ""
    return when.astimezone().strftime("%H:%M:%S")


def report(info: ContainerInfo, log_tail: Callable[[str, int], str] | None = None) -> str:
    """The evidence for a failed container: healthcheck outputs, then the tail of its log."""
    if log_tail is None:
        from devstack.engine import log_tail as engine_log_tail

        log_tail = engine_log_tail
    parts = []
    health = healthcheck_text(info)
    if health:
        parts.append(health)
    log = [line.rstrip() for line in log_tail(info.id, LOG_LINES).splitlines()]
    while log and not log[-1]:
        log.pop()
    if log:
        parts.append(f"last {len(log)} log lines of {info.name or info.service}:")
        parts.append("\n".join(f"  {line}" for line in log))
    else:
        parts.append(f"{info.name or info.service} wrote nothing to its log")
    return "\n".join(parts)
