"""A real ``redis-server`` for the tests: one per session on a free loopback port.

``redis_server`` starts it (no persistence: ``--save '' --appendonly no``), waits until it
answers PING and stops it by its PID at the end of the session; ``redis_url`` empties it
(FLUSHALL) before each test and gives its URL. ``scripts/ci-system-deps`` installs
``redis-server``; without it the fixtures fail saying so.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator

import pytest
import redis


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _answers(url: str) -> bool:
    client = redis.Redis.from_url(url, socket_connect_timeout=0.5, socket_timeout=0.5)
    try:
        return bool(client.ping())
    except redis.exceptions.ConnectionError:
        return False
    finally:
        client.close()


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The URL of a ``redis-server`` this session started (database 0)."""
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.fail("redis-server is not installed: run scripts/ci-system-deps")
    workdir = tmp_path_factory.mktemp("redis")
    log = workdir / "redis.log"
    for _attempt in range(3):  # another process may take the free port first
        port = _free_port()
        url = f"redis://127.0.0.1:{port}/0"
        command = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                   "--appendonly", "no", "--dir", str(workdir), "--logfile", str(log)]  # fmt: skip
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 10
        while process.poll() is None and not _answers(url):
            if time.monotonic() > deadline:
                process.kill()
                process.wait()
                pytest.fail(f"redis-server did not answer on port {port} in 10 s")
            time.sleep(0.02)
        if process.poll() is None:
            break
        process.wait()
    else:
        detail = log.read_text() if log.exists() else ""
        pytest.fail(f"redis-server did not start:\n{detail}")
    try:
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if process.stderr is not None:
            process.stderr.close()


@pytest.fixture
def redis_url(redis_server: str) -> str:
    """The session's Redis, emptied for this test."""
    client = redis.Redis.from_url(redis_server)
    try:
        client.flushall()
    finally:
        client.close()
    return redis_server
