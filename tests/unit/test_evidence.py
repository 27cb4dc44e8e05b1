"""What `up` shows about a failed service: the healthcheck's last outputs and the log tail."""

from __future__ import annotations

from devstack import evidence
from devstack.engine import ContainerInfo, HealthProbe, _demultiplex


def container(**changes) -> ContainerInfo:
    base = ContainerInfo(
        id="0123456789abcdef0123",
        name="shop-db-1",
        service="db",
        state="running",
        health="unhealthy",
        exit_code=0,
        started_at="",
        restart_count=0,
        env={},
        ports=(),
        exposed=(),
        healthcheck=("CMD-SHELL", "mysqladmin ping -h localhost"),
        health_log=(
            HealthProbe(0, "mysqld is alive\n", "2026-11-28T11:02:50.1Z"),
            HealthProbe(1, "error: 'Access denied for user'\n", "2026-11-28T11:02:51.7Z"),
            HealthProbe(1, "error: 'Access denied for user'\n", "2026-11-28T11:02:52.2Z"),
            HealthProbe(1, "error: 'Access denied for user'\n", "2026-11-28T11:02:52.7Z"),
            HealthProbe(2, "line one\nline two\n", "2026-11-28T11:02:53.2Z"),
        ),
    )
    return base._replace(**changes)


def test_healthcheck_outputs_newest_last_with_repeats_folded():
    text = evidence.healthcheck_text(container())
    assert text is not None
    lines = text.splitlines()
    assert lines[0] == "healthcheck `mysqladmin ping -h localhost`, last results (newest last):"
    assert lines[1].endswith("exit 0: mysqld is alive")
    assert lines[2].endswith("exit 1 (3 times): error: 'Access denied for user'")
    assert lines[3].endswith("exit 2:") and lines[4:] == ["    line one", "    line two"]


def test_problem_counts_the_failing_streak():
    assert evidence.problem(container()) == "is unhealthy: its healthcheck failed 4 times in a row"
    assert evidence.problem(container(state="exited", health="", exit_code=3)) == "exited with code 3"


def test_report_has_the_log_tail(mocker):
    tail = mocker.Mock(return_value="starting\nbad password for root\n\n")
    text = evidence.report(container(), log_tail=tail)
    tail.assert_called_once_with("0123456789abcdef0123", evidence.LOG_LINES)
    assert "last 2 log lines of shop-db-1:\n  starting\n  bad password for root" in text
    assert text.index("healthcheck") < text.index("log lines")
    silent = evidence.report(container(health_log=()), log_tail=lambda _id, _n: "")
    assert silent == "shop-db-1 wrote nothing to its log"


def test_culprit_by_name_id_or_state():
    db = container()
    web = container(id="fedcba9876543210fedc", name="shop-web-1", service="web", health="", health_log=())
    both = [web, db]
    assert evidence.culprit(both, ["web", "db"], "shop-db-1") is db
    assert evidence.culprit(both, ["web", "db"], "0123456789ab") is db  # v1 names the container by id
    assert evidence.culprit(both, ["web", "db"], "db") is db  # a service (didn't complete successfully)
    assert evidence.culprit(both, ["web", "db"], None) is db  # the unhealthy one
    assert evidence.culprit([web], ["web"], None) is None


def test_log_frames_are_demultiplexed():
    frames = b"\x01\x00\x00\x00\x00\x00\x00\x04out\n" + b"\x02\x00\x00\x00\x00\x00\x00\x04err\n"
    assert _demultiplex(frames) == b"out\nerr\n"
    assert _demultiplex(b"plain tty output\n") == b"plain tty output\n"
