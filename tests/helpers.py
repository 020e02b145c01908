"""Plain helpers the tests import: one of each (fixtures come from ``tests/plugins``).

- apps: ``make_app`` (virtual clock at ``START``), ``fast_app`` (generations finish at once),
  ``clock_of``, ``on_virtual_clock`` (the bounded driver of a virtual clock);
- clients: ``asgi_client`` (httpx in-process against an app), ``RunningServer``;
- images: ``image_bytes``/``png_bytes``/``jpeg_bytes``/``mask_bytes`` to make them,
  ``encode`` to save one, ``decode`` to read one back, ``data_url`` to inline one;
- streams: ``events`` reads a ``text/event-stream`` body;
- processes: ``free_port``, ``wait_healthy``, ``follow_job``;
- Hypothesis: ``examples`` scales the profile's example count.

Helpers of one protocol or suite live in ``tests/support``.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import io
import json
import socket
import subprocess
import time
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass
from typing import Any

import httpx
from hypothesis import settings
from PIL import Image
from starlette.applications import Starlette

from emulator.app import create_app
from emulator.domain.clock import VirtualClock
from emulator.settings import Settings

START = 1_790_000_000.0  # the virtual clock's start in every test
KEY = "test-key"
AUTH = {"Authorization": f"Key {KEY}"}
HOST = "http://emulator.test"  # the in-process clients' base URL


def examples(scale: float = 1.0) -> int:
    """The active Hypothesis profile's ``max_examples`` (``ci`` or ``dev``,
    tests/plugins/hypothesis_profiles.py) times ``scale``, at least one: a test that needs more
    or fewer examples than the profile's default scales it rather than hard-coding a count, so
    every test follows the profile."""
    return max(1, round(settings().max_examples * scale))


# ---- apps and their clock ----


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


def clock_of(app: Starlette) -> VirtualClock:
    clock = app.state.emulator.clock
    assert isinstance(clock, VirtualClock)
    return clock


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


# ---- clients ----


def asgi_client(
    app: Any, headers: Mapping[str, str] | None = None, base_url: str = HOST, **options: Any
) -> httpx.AsyncClient:
    """An httpx client calling ``app`` in-process (no socket) at ``base_url``."""
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url=base_url, headers=headers, **options
    )


@dataclass
class RunningServer:
    """An app served by the ``serve`` fixture (tests/plugins/servers.py) on a loopback port."""

    app: Starlette
    base_url: str


# ---- images ----

BLUE = (40, 90, 160)
RED = (200, 30, 30)


def encode(image: Image.Image, fmt: str = "PNG", **options: Any) -> bytes:
    """``image`` saved as ``fmt`` (with Pillow's save ``options``)."""
    out = io.BytesIO()
    image.save(out, fmt, **options)
    return out.getvalue()


def image_bytes(
    size: tuple[int, int], mode: str = "RGB", color: Any = BLUE, fmt: str = "PNG"
) -> bytes:
    """One flat ``color`` image of ``size`` and ``mode``, encoded as ``fmt``."""
    return encode(Image.new(mode, size, color), fmt)


def png_bytes(size: tuple[int, int], mode: str = "RGB", color: Any = BLUE) -> bytes:
    return image_bytes(size, mode, color, "PNG")


def jpeg_bytes(size: tuple[int, int], color: Any = RED) -> bytes:
    return image_bytes(size, "RGB", color, "JPEG")


def mask_bytes(size: tuple[int, int], box: tuple[int, int, int, int] | None = None) -> bytes:
    """An RGBA mask, opaque except a transparent ``box`` (the area to edit; by default the
    top-left quarter)."""
    mask = Image.new("RGBA", size, (0, 0, 0, 255))
    mask.paste((0, 0, 0, 0), box or (0, 0, size[0] // 2, size[1] // 2))
    return encode(mask)


def decode(data: bytes | str) -> Image.Image:
    """The image in ``data``: its bytes, or their base64 text (a ``b64_json``), loaded."""
    raw = base64.b64decode(data) if isinstance(data, str) else data
    image = Image.open(io.BytesIO(raw))
    image.load()
    return image


def data_url(data: bytes, media_type: str = "image/png") -> str:
    return f"data:{media_type};base64,{base64.b64encode(data).decode()}"


# ---- streams ----


def events(text: str) -> list[tuple[str, dict[str, Any]]]:
    """``(event, data)`` pairs of an SSE body; comment lines are skipped."""
    found = []
    for block in text.split("\n\n"):
        lines = [line for line in block.split("\n") if line and not line.startswith(":")]
        if not lines:
            continue
        fields = dict(line.split(": ", 1) for line in lines)
        found.append((fields["event"], json.loads(fields["data"])))
    return found


# ---- processes ----


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_healthy(
    base_url: str,
    process: subprocess.Popen[Any],
    output: Callable[[], str] = lambda: "",
    timeout: float = 30.0,
) -> None:
    """Wait until the server ``process`` answers ``/_emulator/health``; fail with its
    ``output`` if it exits or does not answer in time."""
    deadline = time.monotonic() + timeout
    with httpx.Client(timeout=2) as http:  # one client: each new one loads the CA bundle
        while True:
            try:
                if http.get(f"{base_url}/_emulator/health").status_code == 200:
                    return
            except httpx.TransportError:
                pass
            assert process.poll() is None, f"the server exited:\n{output()}"
            assert time.monotonic() < deadline, (
                f"the server did not answer in {timeout}s:\n{output()}"
            )
            time.sleep(0.05)


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
