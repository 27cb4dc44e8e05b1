"""The generated Dockerfile builds cleanly (BuildKit, through Compose v2) and has what Drupal needs."""

from __future__ import annotations

import re
import subprocess

from devstack import scaffold

# BuildKit's Dockerfile checks print "WARN: <Rule>" lines and "N warning(s) found"; apt's and
# debconf's chatter about packages is not a build warning.
BUILD_WARNING = re.compile(r"(^|\s)WARN(ING)?:|\d+ warnings? found")


def test_generated_dockerfile_builds_without_warnings(tmp_path, test_images, project_name):
    site = tmp_path / "site"
    scaffold.create("drupal", site, name=project_name)
    tag = f"{project_name}-web"
    try:
        proc = subprocess.run(
            ["docker", "compose", "-p", project_name, "--progress", "plain", "build", "web"],
            cwd=site,
            capture_output=True,
            text=True,
            timeout=900,
            check=False,
        )
        log = proc.stderr + proc.stdout
        assert proc.returncode == 0, log[-3000:]
        warnings = [line for line in log.splitlines() if BUILD_WARNING.search(line)]
        assert warnings == [], warnings
        cmd = subprocess.run(
            ["docker", "image", "inspect", "-f", "{{.Config.Cmd}}", tag],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        assert "apache-foreground" in cmd
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
            ["docker", "run", "--rm", "-i", "--network", "none", tag, "php", "-l"],
            input=(site / "src/web/index.php").read_text(),
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert lint.returncode == 0, lint.stdout + lint.stderr
        conf = subprocess.run(
            ["docker", "run", "--rm", "--network", "none", tag, "apache2ctl", "-t"],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert "Syntax OK" in conf.stderr + conf.stdout
    finally:
        subprocess.run(["docker", "image", "rm", "--force", tag], capture_output=True, check=False)
