"""Shared fixtures: an emulator app on a virtual clock, an in-process client, a real server."""

from __future__ import annotations

import asyncio
import contextlib
import io
import os
import socket
import subprocess
import threading
import time
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import uvicorn
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings
from PIL import Image
from starlette.applications import Starlette

from emulator.app import create_app
from emulator.domain.clock import VirtualClock
from emulator.settings import Settings

hypothesis_settings.register_profile(
    "ci",
    deadline=None,
    max_examples=60,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
hypothesis_settings.register_profile(
    "dev", deadline=None, max_examples=30, suppress_health_check=[HealthCheck.too_slow]
)
hypothesis_settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev"))

START = 1_790_000_000.0  # the virtual clock's start in every test
KEY = "test-key"
AUTH = {"Authorization": f"Key {KEY}"}


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def make_app(**overrides: Any) -> Starlette:
    """An emulator on a virtual clock at ``START`` with real-time latencies (time_scale 1)."""
    # Request logs are tested on their own (tests/server/test_serve.py); elsewhere they would
    # only bury a failure's output under every refusal the test provoked on purpose.
    values: dict[str, Any] = {
        "clock": "virtual",
        "clock_start": START,
        "time_scale": 1.0,
        "log_requests": "off",
    }
    values.update(overrides)
    return create_app(Settings(**values))


def fast_app(**overrides: Any) -> Starlette:
    """An emulator whose generations finish at once (a real clock, a vanishing time scale)."""
    values: dict[str, Any] = {"clock": "real", "clock_start": None, "time_scale": 1e-9}
    values.update(overrides)
    return make_app(**values)


def png_bytes(size: tuple[int, int], mode: str = "RGB", color: Any = (40, 90, 160)) -> bytes:
    out = io.BytesIO()
    Image.new(mode, size, color).save(out, "PNG")
    return out.getvalue()


def mask_bytes(size: tuple[int, int], box: tuple[int, int, int, int]) -> bytes:
    """An RGBA mask, opaque except a transparent ``box`` (the area to edit)."""
    mask = Image.new("RGBA", size, (0, 0, 0, 255))
    mask.paste((0, 0, 0, 0), box)
    out = io.BytesIO()
    mask.save(out, "PNG")
    return out.getvalue()


async def on_virtual_clock(
    app: Starlette,
    request: Coroutine[Any, Any, httpx.Response],
    step: float = 1000.0,
    max_steps: int = 10_000,
    wall_seconds: float = 30.0,
) -> httpx.Response:
    """Run ``request`` while moving the virtual clock each time something waits on it.

    Bounded: a request still unfinished after ``max_steps`` moves of the clock or ``wall_seconds``
    seconds of wall time is cancelled and the call fails saying so, rather than hanging."""
    task = asyncio.ensure_future(request)
    clock = clock_of(app)
    deadline = time.monotonic() + wall_seconds
    steps = 0
    while not task.done():
        await asyncio.sleep(0)
        if clock.sleepers:
            clock.advance(step)
            steps += 1
        if steps >= max_steps or time.monotonic() > deadline:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            raise AssertionError(
                f"the request did not finish on the virtual clock: {steps} step(s) of {step} s, "
                f"bounds {max_steps} steps and {wall_seconds} s of wall time"
            )
    return task.result()


def clock_of(app: Starlette) -> VirtualClock:
    clock = app.state.emulator.clock
    assert isinstance(clock, VirtualClock)
    return clock


@pytest.fixture
def app() -> Starlette:
    return make_app()


@pytest.fixture
async def client(app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(
        transport=transport, base_url="http://emulator.test", headers=AUTH
    ) as c:
        yield c


def wait_healthy(
    base_url: str,
    process: subprocess.Popen[Any],
    output: Callable[[], str] = lambda: "",
    timeout: float = 30.0,
) -> None:
    """Wait until the server ``process`` answers ``/_emulator/health``; fail with its
    ``output`` if it exits or does not answer in time."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            if httpx.get(f"{base_url}/_emulator/health", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        assert process.poll() is None, f"the server exited:\n{output()}"
        assert time.monotonic() < deadline, f"the server did not answer in {timeout}s:\n{output()}"
        time.sleep(0.1)


def follow_job(client: httpx.Client, status_url: str, timeout: float = 20.0) -> dict[str, Any]:
    """Poll a queue job's status until COMPLETED; its states must only move forward."""
    deadline = time.monotonic() + timeout
    seen: list[str] = []
    while time.monotonic() < deadline:
        body: dict[str, Any] = client.get(status_url).json()
        seen.append(body["status"])
        if body["status"] == "COMPLETED":
            assert seen == sorted(seen, key=["IN_QUEUE", "IN_PROGRESS", "COMPLETED"].index)
            return body
        time.sleep(0.05)
    raise AssertionError(f"not completed in {timeout}s: {seen[-3:]}")


class _Server(uvicorn.Server):
    """uvicorn's server polling every 10 ms where uvicorn waits 100 ms (its tick, its pause
    before and between its checks of open connections when it stops): stopping a test's server
    took two tenths of a second, some 25 s over the suite. The steps are uvicorn 0.54's."""

    async def main_loop(self) -> None:
        counter = 0
        should_exit = await self.on_tick(counter)
        while not should_exit:
            counter = (counter + 1) % 864000
            await asyncio.sleep(0.01)
            should_exit = await self.on_tick(counter)

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        for server in self.servers:
            server.close()
        for sock in sockets or []:
            sock.close()
        for connection in list(self.server_state.connections):
            connection.shutdown()
        deadline = time.monotonic() + 10
        while self.server_state.connections or self.server_state.tasks:
            if time.monotonic() > deadline:
                for task in self.server_state.tasks:
                    task.cancel()
                break
            await asyncio.sleep(0.01)
        for server in self.servers:
            await server.wait_closed()
        await self.lifespan.shutdown()


@dataclass
class RunningServer:
    app: Starlette
    base_url: str


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture
def serve() -> Iterator[Callable[[Starlette], RunningServer]]:
    """Start apps on real uvicorn servers on free loopback ports; stop them afterwards."""
    started: list[tuple[uvicorn.Server, threading.Thread]] = []

    def start(app: Starlette) -> RunningServer:
        port = free_port()
        config = uvicorn.Config(
            app, host="127.0.0.1", port=port, log_level="warning", lifespan="on"
        )
        server = _Server(config)
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        deadline = time.monotonic() + 10
        while not server.started:
            if time.monotonic() > deadline or not thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.01)
        started.append((server, thread))
        return RunningServer(app, f"http://127.0.0.1:{port}")

    yield start
    for server, _ in started:
        server.should_exit = True
    for _, thread in started:
        thread.join(timeout=10)
