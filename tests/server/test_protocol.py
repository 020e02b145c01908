"""The HTTP protocol ``imgemu serve`` runs: one write per loop step, nothing held longer."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import pytest
from starlette.types import Receive, Scope, Send

from emulator.protocol import CLOSE, CoalescingTransport
from tests.helpers import RunningServer


class Recording(asyncio.Transport):
    """A transport that records what reaches it."""

    def __init__(self) -> None:
        super().__init__()
        self.writes: list[bytes] = []
        self.closed = False
        self.aborted = False

    def write(self, data: Any) -> None:
        self.writes.append(bytes(data))

    def is_closing(self) -> bool:
        return self.closed or self.aborted

    def close(self) -> None:
        self.closed = True

    def abort(self) -> None:
        self.aborted = True

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return ("127.0.0.1", 8000) if name == "sockname" else default


@pytest.mark.anyio
async def test_writes_of_one_loop_step_leave_as_one() -> None:
    inner = Recording()
    transport = CoalescingTransport(inner, asyncio.get_running_loop())
    transport.write(b"HTTP/1.1 200 OK\r\n\r\n")
    transport.write(b"body")
    assert inner.writes == []
    await asyncio.sleep(0)
    assert inner.writes == [b"HTTP/1.1 200 OK\r\n\r\nbody"]
    transport.write(b"next")
    await asyncio.sleep(0)
    assert inner.writes == [b"HTTP/1.1 200 OK\r\n\r\nbody", b"next"]


@pytest.mark.anyio
async def test_close_writes_what_is_held_first() -> None:
    inner = Recording()
    transport = CoalescingTransport(inner, asyncio.get_running_loop())
    transport.write(b"last")
    transport.close()
    assert (inner.writes, inner.closed) == ([b"last"], True)
    await asyncio.sleep(0)  # the scheduled flush finds nothing left
    assert inner.writes == [b"last"]


@pytest.mark.anyio
async def test_nothing_is_written_to_a_closing_or_aborted_connection() -> None:
    inner = Recording()
    transport = CoalescingTransport(inner, asyncio.get_running_loop())
    transport.write(b"held")
    transport.abort()
    await asyncio.sleep(0)
    assert (inner.writes, inner.aborted) == ([], True)
    closing = Recording()
    other = CoalescingTransport(closing, asyncio.get_running_loop())
    other.write(b"held")
    closing.closed = True  # the peer went away before the loop step ended
    await asyncio.sleep(0)
    assert closing.writes == []


def test_everything_else_is_the_wrapped_transport() -> None:
    inner = Recording()
    loop = asyncio.new_event_loop()
    try:
        transport = CoalescingTransport(inner, loop)
        assert transport.get_extra_info("sockname") == ("127.0.0.1", 8000)
        assert transport.is_closing() is False
    finally:
        loop.close()


@pytest.mark.server
def test_a_streams_headers_leave_before_its_first_event(
    serve: Callable[[Any], RunningServer],
) -> None:
    """Headers sent alone are written one loop step later, not held until the body."""
    release = threading.Event()

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        headers = [(b"content-type", b"text/event-stream")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await asyncio.get_running_loop().run_in_executor(None, release.wait, 10)
        await send({"type": "http.response.body", "body": b"data: 1\n\n", "more_body": False})

    server = serve(app)
    address = urlsplit(server.base_url)
    with socket.create_connection((address.hostname, address.port), timeout=5) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nhost: x\r\n\r\n")
        head = b""
        while b"\r\n\r\n" not in head:
            head += sock.recv(4096)
        assert head.startswith(b"HTTP/1.1 200 OK\r\n")
        assert b"data: 1" not in head  # the event is not sent yet
        release.set()
        rest = head.split(b"\r\n\r\n", 1)[1]
        while b"0\r\n\r\n" not in rest:
            rest += sock.recv(4096)
        assert b"data: 1\n\n" in rest


@pytest.mark.server
def test_the_close_extension_hangs_up_after_what_was_written(
    serve: Callable[[Any], RunningServer],
) -> None:
    """``scope["extensions"][CLOSE]["close"]()``: what was sent leaves, then the connection
    closes, and the server adds nothing of its own (no 500) once the app saw the disconnect."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        close = scope["extensions"][CLOSE]["close"]
        if scope["path"] == "/partial":
            headers = [(b"content-length", b"100")]
            await send({"type": "http.response.start", "status": 200, "headers": headers})
            await send({"type": "http.response.body", "body": b"half", "more_body": True})
        close()
        while (await receive())["type"] != "http.disconnect":
            pass

    server = serve(app)
    address = urlsplit(server.base_url)
    for path, expected in (("/", b""), ("/partial", b"half")):
        with socket.create_connection((address.hostname, address.port), timeout=5) as sock:
            sock.sendall(f"GET {path} HTTP/1.1\r\nhost: x\r\n\r\n".encode())
            data = b""
            while chunk := sock.recv(4096):
                data += chunk
        assert data.split(b"\r\n\r\n", 1)[-1] == expected
        if not expected:
            assert data == b""
