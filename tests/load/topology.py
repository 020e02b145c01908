"""Local processes in the load-test topology: ``imgemu serve`` replicas sharing a Redis (the
tests' ``redis_url``), HAProxy in front.

The same shape as docker/compose.yaml's ``load`` profile, with processes on free loopback ports
instead of containers, so a test can start it, drive it and kill a replica with SIGKILL. The
replicas' control plane is locked with ``CONTROL_TOKEN`` (as a deployment reachable from
elsewhere would be): the health checks, HAProxy's among them, send it (``CONTROL``).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from tests.helpers import free_port

CONTROL_TOKEN = "load-control-7d41"
CONTROL = {"X-Imgemu-Control-Token": CONTROL_TOKEN}  # headers of a control-plane call


@dataclass
class Process:
    """A child process with its log file."""

    name: str
    process: subprocess.Popen[bytes]
    log: Path
    url: str = ""

    def output(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")

    def kill(self) -> None:
        """SIGKILL: the process gets no chance to finish anything."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill()


def _start(
    name: str, argv: Sequence[str], workdir: Path, env: dict[str, str] | None = None
) -> Process:
    log = workdir / f"{name}.log"
    with log.open("wb") as sink:
        process = subprocess.Popen(
            list(argv), cwd=workdir, env=env, stdout=sink, stderr=subprocess.STDOUT
        )
    return Process(name, process, log)


def _wait(check: Process, ready: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not ready():
        assert check.process.poll() is None, f"{check.name} exited:\n{check.output()}"
        assert time.monotonic() < deadline, (
            f"{check.name} not ready in {timeout}s:\n{check.output()}"
        )
        time.sleep(0.05)


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, headers=CONTROL, timeout=2).status_code == 200
    except httpx.TransportError:
        return False


def start_replica(workdir: Path, name: str, *flags: str) -> Process:
    """``imgemu serve`` as users run it, with ``flags`` and the control token, until it
    answers its health check."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("IMGEMU_")}
    env["IMGEMU_CONTROL_TOKEN"] = CONTROL_TOKEN
    replica = _start(
        name, [sys.executable, "-m", "imgemu", "serve", "--port", str(port), *flags], workdir, env
    )
    replica.url = f"http://127.0.0.1:{port}"
    _wait(replica, lambda: _answers(f"{replica.url}/_emulator/health"))
    return replica


def start_haproxy(workdir: Path, backends: Sequence[Process]) -> Process:
    """HAProxy round-robin over ``backends``, health-checking each on ``/_emulator/health``."""
    executable = shutil.which("haproxy")
    assert executable, "haproxy is not installed (scripts/ci-system-deps installs it)"
    port = free_port()
    servers = "\n".join(
        f"  server {b.name} {b.url.removeprefix('http://')} check inter 300ms fall 2 rise 2"
        for b in backends
    )
    config = workdir / "haproxy.cfg"
    config.write_text(
        f"""global
  maxconn 4096
defaults
  mode http
  timeout connect 2s
  timeout client 120s
  timeout server 120s
  retries 2
  option redispatch
frontend imgemu
  bind 127.0.0.1:{port}
  default_backend replicas
backend replicas
  balance roundrobin
  option httpchk GET /_emulator/health
  http-check send hdr X-Imgemu-Control-Token {CONTROL_TOKEN}
{servers}
""",
        encoding="utf-8",
    )
    balancer = _start("haproxy", [executable, "-db", "-f", str(config)], workdir)
    balancer.url = f"http://127.0.0.1:{port}"
    _wait(balancer, lambda: _answers(f"{balancer.url}/_emulator/health"))
    return balancer


@dataclass
class Topology:
    """The replicas sharing one Redis, and the load balancer in front of them."""

    redis_url: str
    replicas: list[Process]
    balancer: Process

    @property
    def url(self) -> str:
        return self.balancer.url


@contextmanager
def topology(workdir: Path, redis_url: str, replicas: int = 2, *flags: str) -> Iterator[Topology]:
    """``replicas`` ``imgemu serve --store <redis_url>`` processes and HAProxy in front; all
    stopped (and their logs kept in ``workdir``) at the end."""
    with ExitStack() as stack:
        started: list[Process] = []
        for index in range(replicas):
            replica = start_replica(workdir, f"imgemu-{index}", "--store", redis_url, *flags)
            stack.callback(replica.stop)
            started.append(replica)
        balancer = start_haproxy(workdir, started)
        stack.callback(balancer.stop)
        yield Topology(redis_url, started, balancer)
