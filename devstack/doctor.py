"""`devstack doctor`: is this machine ready to run stacks? Returns findings, prints nothing."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from devstack.checks import Finding, Severity
from devstack.errors import ComposeNotFound, DevstackError, EngineUnavailable

MIN_FREE_BYTES = 5 * 1024**3


def run(project_dir: Path | None = None) -> list[Finding]:
    from devstack import compose, engine

    findings: list[Finding] = []
    docker_root: str | None = None
    try:
        engine.ping()
        details = engine.info()
        docker_root = str(details.get("DockerRootDir") or "")
        findings.append(
            Finding(
                "DS700",
                Severity.INFO,
                f"Docker engine {engine.server_version()} answers "
                f"({details.get('OperatingSystem', '?')}, "
                f"storage {details.get('Driver', '?')})",
            )
        )
    except EngineUnavailable as exc:
        findings.append(Finding("DS701", Severity.ERROR, exc.message, hint=exc.hint))
    if not shutil.which("docker"):
        findings.append(
            Finding(
                "DS702",
                Severity.WARNING,
                "the docker CLI is not on PATH",
                hint="install the Docker CLI (docker-ce-cli or docker.io)",
            )
        )
    try:
        binary = compose.probe()
        if binary.v1:
            findings.append(
                Finding(
                    "DS704",
                    Severity.WARNING,
                    f"Compose v1 ({binary.version}) is end of life; devstack uses it with fewer features",
                    hint="install the Compose v2 plugin so `docker compose version` answers",
                )
            )
        else:
            findings.append(
                Finding(
                    "DS700", Severity.INFO, f"Compose {compose.version_of(binary)} ({binary.name})"
                )
            )
    except ComposeNotFound as exc:
        findings.append(Finding("DS703", Severity.ERROR, exc.message, hint=exc.hint))
    findings += _disk(docker_root, project_dir)
    if project_dir is not None:
        findings += _project_ports(project_dir)
    return findings


def _disk(docker_root: str | None, project_dir: Path | None) -> list[Finding]:
    out = []
    places = {p for p in (docker_root, str(project_dir) if project_dir else None) if p}
    for place in sorted(places):
        if not os.path.exists(place):
            continue
        free = shutil.disk_usage(place).free
        gib = free / 1024**3
        if free < MIN_FREE_BYTES:
            out.append(
                Finding(
                    "DS705",
                    Severity.WARNING,
                    f"only {gib:.1f} GiB free on {place}",
                    hint="free some space: `docker system prune` removes unused images and containers",
                )
            )
        else:
            out.append(Finding("DS700", Severity.INFO, f"{gib:.0f} GiB free on {place}"))
    return out


def _project_ports(project_dir: Path) -> list[Finding]:
    from devstack.lifecycle import check
    from devstack.project import Project

    try:
        project = Project.load(project_dir)
        result = check(project)
    except DevstackError:
        return []
    return [f for f in result.findings if f.code.startswith("DS4")]
