"""exec, logs, --json progress and Ctrl-C during `up`, as separate processes (real terminals aside)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

DEVSTACK = [sys.executable, "-m", "devstack"]
BUSYBOX = "devstack-test/busybox"


@pytest.fixture
def app(tmp_path, project_name, test_images, monkeypatch):
    monkeypatch.setenv("COMPOSE_PROJECT_NAME", project_name)
    root = tmp_path / "app"
    root.mkdir()
    return root


def devstack(root, *args, timeout=120):
    return subprocess.run(
        [*DEVSTACK, *args], cwd=root, capture_output=True, text=True, timeout=timeout, check=False
    )


def test_exec_logs_and_json(compose_variant, app):
    (app / "compose.yaml").write_text(
        textwrap.dedent(f"""
        services:
          app:
            image: {BUSYBOX}
            command: ["sh", "-c", "echo started-ok; trap 'exit 0' TERM; sleep 600 & wait"]
    """)
    )
    up = devstack(app, "up", "--json")
    assert up.returncode == 0, up.stderr
    result = json.loads(up.stdout)
    assert result["schema_version"] == 1 and result["services"][0]["service"] == "app"
    events = [json.loads(line) for line in up.stderr.splitlines() if line.startswith("{")]
    assert events and all("event" in e for e in events)

    out = devstack(app, "exec", "app", "--", "sh", "-c", "echo from-inside; exit 7")
    assert out.returncode == 7 and "from-inside" in out.stdout

    logs = devstack(app, "logs", "app")
    assert logs.returncode == 0 and "started-ok" in logs.stdout

    missing = devstack(app, "exec", "nope", "--", "true")
    assert missing.returncode != 0
    assert devstack(app, "down").returncode == 0


def test_ctrl_c_during_up_exits_130_and_says_what_runs(app):
    (app / "compose.yaml").write_text(
        textwrap.dedent(f"""
        services:
          slow:
            image: {BUSYBOX}
            command: ["sh", "-c", "trap 'exit 0' TERM; sleep 600 & wait"]
            healthcheck:
              test: ["CMD", "false"]
              interval: 1s
              retries: 1000
    """)
    )
    proc = subprocess.Popen(
        [*DEVSTACK, "up"], cwd=app, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    project = os.environ["COMPOSE_PROJECT_NAME"]
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        ps = subprocess.run(
            ["docker", "ps", "-q", "--filter", f"label=com.docker.compose.project={project}"],
            capture_output=True,
            text=True,
            check=False,
        )
        if ps.stdout.strip():
            break
        time.sleep(0.2)
    time.sleep(1.0)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "interrupted" in err and "running now: slow" in err
    assert "Traceback" not in err
    assert devstack(app, "down").returncode == 0
