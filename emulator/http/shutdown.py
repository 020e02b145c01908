"""Bounded shutdown: when the server stops, waits that would outlive it end at once.

A synchronous call waiting out its generation time answers the provider's 503, and an open
stream sends the provider's error event and ends, instead of holding the process until the
shutdown timeout cuts the connection (or forever, on a virtual clock that nobody moves).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import TypeVar

from emulator.domain.errors import ServerStopping

T = TypeVar("T")


class Drain:
    """Set once when the server begins to stop; shared by every request of one app."""

    def __init__(self) -> None:
        self._event = asyncio.Event()

    def begin(self) -> None:
        """The server is stopping: every ``wait`` in progress or to come ends now."""
        self._event.set()

    @property
    def draining(self) -> bool:
        """Whether the server has begun to stop."""
        return self._event.is_set()

    async def wait(self, awaitable: Awaitable[T]) -> T:
        """``awaitable``'s result, or ``ServerStopping`` if the server stops first."""
        if self._event.is_set():
            if asyncio.iscoroutine(awaitable):
                awaitable.close()
            raise ServerStopping()
        task = asyncio.ensure_future(awaitable)
        stop = asyncio.ensure_future(self._event.wait())
        try:
            done, _ = await asyncio.wait({task, stop}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stop.cancel()
            if not task.done():  # the server stops, or the request itself was cancelled
                task.cancel()
        if task in done:
            return task.result()
        raise ServerStopping()
