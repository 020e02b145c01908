"""Bounded shutdown: when the server stops, waits that would outlive it end at once.

A synchronous call waiting out its generation time answers the provider's 503, and an open
stream sends the provider's error event and ends, instead of holding the process until the
shutdown timeout cuts the connection (or forever, on a virtual clock that nobody moves). So do
a call whose body is still arriving (``DrainMiddleware``) and a call waiting for its input
images from the network (the fetcher is told through ``on_begin``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable
from typing import TypeVar

from starlette.types import ASGIApp, Message, Receive, Scope, Send

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


class DrainMiddleware:
    """Route middleware of the operations that read a body: a read still waiting for the body
    when the server begins to stop raises ``ServerStopping``, which the handler answers in its
    dialect (a 503) rather than the shutdown timeout cutting the call.

    On the queue's hot path (a submit): one closure per request, and per read of the body a
    set's add and discard (no task, no lookup)."""

    def __init__(self, app: ASGIApp, drain: Drain) -> None:
        self.app = app
        self.drain = drain

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        drain = self.drain
        body_read = False

        async def receive_or_stop() -> Message:
            # Only the body's reads end: a response listening for the client to leave (a
            # stream) ends its own way, with the provider's error event.
            nonlocal body_read
            if body_read:
                return await receive()
            message = await drain.receive(receive)
            body_read = message["type"] != "http.request" or not message.get("more_body", False)
            return message

        await self.app(scope, receive_or_stop, send)
