"""The reference clients against the emulator: built in-process on its transport and on its
virtual clock, and a network that fails on purpose."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
from starlette.applications import Starlette

from tests.helpers import KEY, clock_of


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
    """Keyword arguments for a client of ``clients`` on ``app`` in-process (and on its virtual
    clock): ``AsyncQueueClient(base_url=HOST + "/model", **client_options(app))``."""
    options: dict[str, Any] = {
        "api_key": KEY,
        "transport": httpx.ASGITransport(app=app),
        "seed": 0,
    }
    if time is not None:
        options.update(clock=time.now, sleep=time.asleep)
    options.update(kw)
    return options


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
