"""Bounded shutdown: when the server stops, waits that would outlive it end at once.

A synchronous call waiting out its generation time answers the provider's 503, and an open
stream sends the provider's error event and ends, instead of holding the process until the
shutdown timeout cuts the connection (or forever, on a virtual clock that nobody moves). So do
a call whose body is still arriving (``middleware/drain.py``) and a call waiting for its input
images from the network (the fetcher is told through ``on_begin``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable
from typing import TypeVar

from starlette.types import Message, Receive

from emulator.domain.errors import ServerStopping

T = TypeVar("T")
# The message of the cancellation that ends a body's read when the server begins to stop.
_STOPPING = "imgemu: the server is stopping"


class Drain:
    """Set once when the server begins to stop; shared by every request of one app.

    ``on_begin`` is called when it begins (the fetcher stops its fetches there)."""

    def __init__(self, on_begin: Iterable[Callable[[], None]] = ()) -> None:
        self._event = asyncio.Event()
        self._on_begin = tuple(on_begin)
        self._reading: set[asyncio.Task[object]] = set()

    def begin(self) -> None:
        """The server is stopping: every ``wait`` and body read in progress or to come ends
        now."""
        if self._event.is_set():
            return
        self._event.set()
        for callback in self._on_begin:
            callback()
        for task in self._reading:
            task.cancel(_STOPPING)

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

    async def receive(self, receive: Receive) -> Message:
        """``receive()``'s message, or ``ServerStopping`` if the server stops while it waits.

        Cheap enough for every request: the waiting task is noted in a set, and ``begin``
        cancels the tasks found there (no task is made per read)."""
        if self._event.is_set():
            raise ServerStopping()
        task = asyncio.current_task()
        if task is None:  # not in a task: nothing to cancel it by
            return await receive()
        self._reading.add(task)
        try:
            return await receive()
        except asyncio.CancelledError as exc:
            if exc.args != (_STOPPING,):
                raise
            task.uncancel()
            raise ServerStopping() from None
        finally:
            self._reading.discard(task)
