"""`devstack doctor`: is this machine ready to run stacks? Returns findings, prints nothing."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from devstack.checks import Finding
from devstack.checks.codes import finding
from devstack.errors import ComposeNotFound, DevstackError, EngineUnavailable

MIN_FREE_BYTES = 5 * 1024**3


def run(project_dir: Path | None = None) -> list[Finding]:
    from devstack import compose, engine
    from devstack.checks.capabilities import START_INTERVAL_SINCE, ignores_start_interval

    findings: list[Finding] = []
    docker_root: str | None = None
    try:
        engine.ping()
        details = engine.info()
        docker_root = str(details.get("DockerRootDir") or "")
        version = engine.server_version()
        findings.append(
            finding(
                "DS700",
                f"Docker engine {version} answers "
                f"({details.get('OperatingSystem', '?')}, storage {details.get('Driver', '?')})",
            )
        )
        if ignores_start_interval(version):
            findings.append(
                finding(
                    "DS710",
                    f"Docker Engine {version} ignores healthcheck `start_interval` (Engine "
                    f"{START_INTERVAL_SINCE}+): a starting service's first health check waits a whole "
                    "`interval` (30 s in devstack's stacks)",
                    f"upgrade Docker Engine to {START_INTERVAL_SINCE} or newer",
                )
            )
    except EngineUnavailable as exc:
        findings.append(finding("DS701", exc.message, exc.hint))
    if not shutil.which("docker"):
        findings.append(
            finding(
                "DS702",
                "the docker CLI is not on PATH",
                "install the Docker CLI (docker-ce-cli or docker.io)",
            )
        )
    try:
        binary = compose.probe()
        if binary.v1:
            findings.append(
                finding(
                    "DS704",
                    f"Compose v1 ({binary.version}) is end of life; devstack uses it with fewer features, "
                    "and projects devstack generates need Compose v2",
                    "install the Compose v2 plugin so `docker compose version` answers",
                )
            )
        else:
            findings.append(finding("DS700", f"Compose {compose.version_of(binary)} ({binary.name})"))
    except ComposeNotFound as exc:
        findings.append(finding("DS703", exc.message, exc.hint))
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
                finding(
                    "DS705",
                    f"only {gib:.1f} GiB free on {place}",
                    "free some space: `docker system prune` removes unused images and containers",
                )
            )
        else:
            out.append(finding("DS700", f"{gib:.0f} GiB free on {place}"))
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
