"""uvicorn's HTTP protocol with one socket write per answer instead of one per ASGI message.

uvicorn writes an answer's status line and headers when the app sends ``http.response.start``
and its body when the app sends ``http.response.body``: two ``send`` system calls, two TCP
segments on a ``TCP_NODELAY`` socket, and on loopback two wake-ups of the client. Here the
writes an app makes in one step of the event loop are joined and written once, just after that
step (``loop.call_soon``): an answer sent in one go (every JSON answer, every image) leaves in
one segment, and a stream's headers and events still leave as soon as each is sent, one loop
step later. Measured in ``benchmarks/README.md`` (the queue's submit: about a fifth more
answers per second from the same CPU).

It offers the app one ASGI extension, ``CLOSE``: ``scope["extensions"][CLOSE]["close"]()``
closes the request's connection once what was written has left, with no answer of the
server's own (a fault plan's ``drop`` and ``truncate``; the app then waits for
``http.disconnect``).
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

CLOSE = "imgemu.close"


class CoalescingTransport:
    """A transport that holds what is written during one loop step and writes it once after.

    Everything but writing and closing is the wrapped transport's own (flow control included:
    the wrapped transport still pauses and resumes the protocol).
    """

    __slots__ = ("_held", "_loop", "_transport")

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._held: list[bytes] = []

    def write(self, data: bytes) -> None:
        """Hold ``data`` until the end of this loop step (the first write schedules the flush)."""
        held = self._held
        if not held:
            self._loop.call_soon(self.flush)
        held.append(data)

    def writelines(self, lines: list[bytes]) -> None:
        for data in lines:
            self.write(data)

    def flush(self) -> None:
        """Write what is held, in one call, unless the connection is closing."""
        held = self._held
        if not held:
            return
        data = held[0] if len(held) == 1 else b"".join(held)
        held.clear()
        if not self._transport.is_closing():
            self._transport.write(data)

    def close(self) -> None:
        """Write what is held, then close (as a transport's ``close`` flushes its buffer)."""
        self.flush()
        self._transport.close()

    def abort(self) -> None:
        self._held.clear()
        self._transport.abort()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


class CoalescingProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol (``uvicorn[standard]``) writing through a
    ``CoalescingTransport``; give it to ``uvicorn.Config(http=CoalescingProtocol)``."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        coalescing = CoalescingTransport(transport, asyncio.get_running_loop())
        super().connection_made(coalescing)  # type: ignore[arg-type]
        # One per connection: each request's scope names the same (nothing writes to it).
        self._extensions: dict[str, dict[object, object]] = {CLOSE: {"close": coalescing.close}}

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self.scope["extensions"] = self._extensions
