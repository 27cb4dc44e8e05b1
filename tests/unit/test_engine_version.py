"""engine.version() reads the Server header of /_ping, else asks /version (fake local engines;
the real engine: tests/docker/test_static_engine.py)."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from devstack import engine


def _serve(sock_path: Path, answers: dict[str, bytes], asked: list[str]) -> Iterator[None]:
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(str(sock_path))
    server.listen()

    def loop() -> None:
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            with conn:
                path = conn.recv(4096).split(b" ")[1].decode()
                asked.append(path)
                conn.sendall(answers.get(path, b"HTTP/1.0 404 Not Found\r\n\r\n"))

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    yield
    server.close()


Fake = tuple[dict[str, bytes], list[str]]  # answers by path, paths asked


@pytest.fixture
def fake_engine(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[dict[str, bytes], list[str]]]:
    answers: dict[str, bytes] = {}
    asked: list[str] = []
    sock_path = tmp_path / "docker.sock"
    monkeypatch.setenv("DOCKER_HOST", f"unix://{sock_path}")
    serving = _serve(sock_path, answers, asked)
    next(serving)
    yield answers, asked
    next(serving, None)


VERSION = b'HTTP/1.0 200 OK\r\nContent-Type: application/json\r\n\r\n{"Version": "24.0.7"}'


def test_the_server_header_of_ping(fake_engine: Fake) -> None:
    answers, asked = fake_engine
    answers["/_ping"] = b"HTTP/1.0 200 OK\r\nApi-Version: 1.43\r\nServer: Docker/24.0.7 (linux)\r\n\r\nOK"
    answers["/version"] = VERSION
    assert engine.version() == "24.0.7"
    assert asked == ["/_ping"]


def test_another_server_is_asked_for_its_version(fake_engine: Fake) -> None:
    answers, asked = fake_engine
    answers["/_ping"] = b"HTTP/1.0 200 OK\r\nServer: Libpod/4.9.3 (linux)\r\n\r\nOK"
    answers["/version"] = VERSION
    assert engine.version() == "24.0.7"
    assert asked == ["/_ping", "/version"]


def test_no_answer_is_no_version(fake_engine: Fake) -> None:
    assert engine.version() is None
