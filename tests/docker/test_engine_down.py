"""The engine goes away: a second, private dockerd is started and stopped under devstack's feet.

Using a daemon of its own keeps the shared engine (and the other tests) untouched.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import textwrap
import threading
import time
import uuid
from pathlib import Path

import pytest

DEVSTACK = [sys.executable, "-m", "devstack"]


@pytest.fixture
def private_engine(test_images):
    if os.geteuid() != 0 or not shutil.which("dockerd") or not shutil.which("unshare"):
        pytest.skip("starting a second dockerd needs root, dockerd and unshare")
    base = Path(f"/tmp/ds-engine-{uuid.uuid4().hex[:8]}")  # short: unix socket paths are limited
    base.mkdir()
    sock = f"unix://{base}/docker.sock"
    log = open(base / "dockerd.log", "w")
    daemon = subprocess.Popen(
        # Its own network namespace: a second dockerd with --bridge none would otherwise delete
        # the shared engine's docker0 bridge.
        [
            "unshare",
            "--net",
            "--",
            "dockerd",
            "--host",
            sock,
            "--data-root",
            str(base / "root"),
            "--exec-root",
            str(base / "exec"),
            "--pidfile",
            str(base / "docker.pid"),
            "--bridge",
            "none",
            "--iptables=false",
            "--ip-masq=false",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    env = dict(os.environ, DOCKER_HOST=sock)
    try:
        for _ in range(100):
            if subprocess.run(["docker", "info"], env=env, capture_output=True, check=False).returncode == 0:
                break
            time.sleep(0.2)
        else:
            pytest.fail("private dockerd did not start: " + (base / "dockerd.log").read_text()[-2000:])
        saved = subprocess.run(["docker", "save", "devstack-test/busybox"], capture_output=True, check=True)
        subprocess.run(["docker", "load", "-q"], input=saved.stdout, env=env, capture_output=True, check=True)
        yield daemon, env
    finally:
        if daemon.poll() is None:
            daemon.send_signal(signal.SIGTERM)
            try:
                daemon.wait(30)
            except subprocess.TimeoutExpired:
                daemon.kill()
        log.close()
        subprocess.run(["umount", "-R", str(base / "exec")], capture_output=True, check=False)
        shutil.rmtree(base, ignore_errors=True)


def test_engine_stopped_mid_up_exits_3_without_traceback(private_engine, tmp_path):
    daemon, env = private_engine
    app = tmp_path / "app"
    app.mkdir()
    (app / "compose.yaml").write_text(
        textwrap.dedent("""
        services:
          slow:
            image: devstack-test/busybox
            command: ["sleep", "600"]
            healthcheck:
              test: ["CMD", "false"]
              interval: 1s
              retries: 1000
    """)
    )
    env = dict(env, COMPOSE_PROJECT_NAME=f"dstest-{uuid.uuid4().hex[:8]}")
    env.pop("DEVSTACK_COMPOSE", None)
    proc = subprocess.Popen(
        [*DEVSTACK, "up", "--timeout", "120"],
        cwd=app,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )

    def stop_engine_when_started() -> None:
        for _ in range(200):
            ps = subprocess.run(["docker", "ps", "-q"], env=env, capture_output=True, text=True, check=False)
            if ps.stdout.strip():
                break
            time.sleep(0.1)
        time.sleep(1)
        daemon.send_signal(signal.SIGTERM)

    stopper = threading.Thread(target=stop_engine_when_started)
    stopper.start()
    out, err = proc.communicate(timeout=180)
    stopper.join()
    assert proc.returncode == 3, out + err
    assert "Traceback" not in err
    assert "engine" in err.lower()

    status = subprocess.run(
        [*DEVSTACK, "status"], cwd=app, env=env, capture_output=True, text=True, check=False
    )
    assert status.returncode == 3 and "not running" in status.stderr, status.stderr
    doctor = subprocess.run(
        [*DEVSTACK, "doctor"], cwd=app, env=env, capture_output=True, text=True, check=False
    )
    assert doctor.returncode == 3 and "DS701" in doctor.stdout  # no engine: exit 3
