"""Clients against the emulator: in-process transports on its virtual clock, and real servers."""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any

import httpx
from PIL import Image
from starlette.applications import Starlette

from tests.conftest import clock_of

KEY = "test-key"
HOST = "http://emulator.test"


class VirtualTime:
    """The client's clock and sleep on the emulator's virtual clock: sleeping moves it."""

    def __init__(self, app: Starlette) -> None:
        self.clock = clock_of(app)
        self.sleeps: list[float] = []

    def now(self) -> float:
        return self.clock.now()

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.clock.advance(seconds)

    async def asleep(self, seconds: float) -> None:
        self.sleep(seconds)


def client_options(app: Starlette, time: VirtualTime | None = None, **kw: Any) -> dict[str, Any]:
    """Keyword arguments for an async client on ``app`` in-process (and on its virtual clock)."""
    options: dict[str, Any] = {
        "api_key": KEY,
        "transport": httpx.ASGITransport(app=app),
        "seed": 0,
    }
    if time is not None:
        options.update(clock=time.now, sleep=time.asleep)
    options.update(kw)
    return options


def decode(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def png(size: tuple[int, int], mode: str = "RGB") -> bytes:
    out = io.BytesIO()
    Image.new(mode, size, (40, 90, 160) if mode == "RGB" else (40, 90, 160, 255)).save(out, "PNG")
    return out.getvalue()


def mask(size: tuple[int, int]) -> bytes:
    image = Image.new("RGBA", size, (0, 0, 0, 255))
    image.paste((0, 0, 0, 0), (0, 0, size[0] // 2, size[1] // 2))
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


class Flaky(httpx.AsyncBaseTransport):
    """A network that answers ``failures`` first (a response or an exception), then passes."""

    def __init__(
        self, inner: httpx.AsyncBaseTransport, failures: list[Callable[[], httpx.Response]]
    ) -> None:
        self.inner = inner
        self.failures = list(failures)
        self.seen: list[httpx.Request] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.seen.append(request)
        if self.failures:
            return self.failures.pop(0)()
        return await self.inner.handle_async_request(request)
