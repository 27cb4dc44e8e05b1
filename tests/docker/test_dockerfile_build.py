"""The generated Dockerfile builds cleanly on its own (no warnings that matter)."""

from __future__ import annotations

import os
import subprocess

from devstack import scaffold


def test_generated_dockerfile_builds_without_warnings(tmp_path, test_images, project_name):
    site = tmp_path / "site"
    scaffold.create("drupal", site, name=project_name)
    tag = f"{project_name}-build:test"
    env = dict(os.environ, DOCKER_BUILDKIT="1")
    try:
        proc = subprocess.run(
            ["docker", "build", "--progress", "plain", "-t", tag, str(site)],
            capture_output=True,
            text=True,
            env=env,
            timeout=900,
            check=False,
        )
        assert proc.returncode == 0, proc.stderr[-3000:]
        log = proc.stderr + proc.stdout
        # BuildKit reports Dockerfile lint problems as "WARN:" lines; apt's own chatter is fine.
        warnings = [line for line in log.splitlines() if " WARN" in line or "WARNING:" in line]
        assert warnings == [], warnings
        inspect = subprocess.run(
            ["docker", "image", "inspect", "-f", "{{.Config.Cmd}}", tag],
            capture_output=True,
            text=True,
            check=True,
        )
        assert "apache-foreground" in inspect.stdout
        php = subprocess.run(
            ["docker", "run", "--rm", "--network", "none", tag, "php", "-m"],
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        ).stdout.lower()
        for ext in ("pdo_mysql", "gd", "xml", "mbstring", "curl", "zip", "zend opcache", "intl"):
            assert ext in php, ext
        lint = subprocess.run(
            ["docker", "run", "--rm", "-i", "--network", "none", tag, "php", "-l", "/dev/stdin"],
            input=(site / "src/web/index.php").read_text(),
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert lint.returncode == 0, lint.stdout
    finally:
        subprocess.run(["docker", "image", "rm", "--force", tag], capture_output=True, check=False)
