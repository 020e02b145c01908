"""An ASGI app run in-process on its own event loop, with sync and async httpx transports.

httpx has no sync ASGI transport (``httpx.Client(transport=httpx.ASGITransport(app))`` fails with
``'ASGITransport' object has no attribute 'handle_request'``), and the async one runs the app on
the caller's event loop without its lifespan. ``AppRunner`` runs the app, lifespan included, on an
event loop of its own in a background thread; ``SyncTransport`` and ``AsyncTransport`` hand each
request to that loop and read the answer back as it is written, so one app serves sync clients,
async clients on any asyncio event loop, and both at once (the app's locks, events and tasks
belong to its own loop only).

Answers stream (an event stream arrives event by event, not at the end) and honour the client's
read timeout. The runner offers the app the server protocol's ``CLOSE`` extension, as
``imgemu serve`` does: a fault plan's ``drop`` or ``truncate`` closes the "connection", and the
client gets the ``httpx.RemoteProtocolError`` a real socket would give it. An exception the app
raises is raised in the caller, as ``httpx.ASGITransport`` does.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import threading
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from typing import Any, TypeVar

import httpx
from starlette.types import ASGIApp, Message, Scope

from emulator.protocol import CLOSE

T = TypeVar("T")

# Seconds the runner waits for the app's start-up and shut-down.
LIFESPAN_SECONDS = 30.0
# The client address the app sees.
CLIENT = ("127.0.0.1", 50000)

_END = object()  # the answer's body is complete


class AppRunner:
    """``app`` on an event loop in a daemon thread, started and stopped with its lifespan."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, name="imgemu-app", daemon=True)
        self._lifespan: asyncio.Queue[Message] | None = None
        self._lifespan_task: asyncio.Task[None] | None = None
        self._lifespan_events: asyncio.Queue[Message] | None = None
        self.running = False
        self._tasks: set[asyncio.Task[None]] = set()  # the requests being answered

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()
        # Whatever is still pending (a request the client abandoned) ends with the loop.
        pending = asyncio.all_tasks(self.loop)
        for task in pending:
            task.cancel()
        if pending:
            self.loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
        self.loop.close()

    def call(self, work: Coroutine[Any, Any, T], timeout: float | None = None) -> T:
        """Run ``work`` on the app's loop and wait for its result (from another thread)."""
        return asyncio.run_coroutine_threadsafe(work, self.loop).result(timeout)

    def submit(self, exchange: _Exchange) -> None:
        """Answer ``exchange`` on the app's loop (from any thread; returns at once)."""
        self.loop.call_soon_threadsafe(self._spawn, exchange)

    def _spawn(self, exchange: _Exchange) -> None:
        task = self.loop.create_task(exchange.run(self.app))
        self._tasks.add(task)  # the loop keeps only a weak reference
        task.add_done_callback(self._tasks.discard)

    def start(self) -> None:
        """Start the loop and the app's lifespan; raise if its start-up fails."""
        self._thread.start()
        self.call(self._startup(), LIFESPAN_SECONDS)
        self.running = True

    def stop(self) -> None:
        """Shut the app down (its lifespan's end), then stop the loop and its thread."""
        if not self._thread.is_alive():
            return
        if self.running:
            self.running = False
            with contextlib.suppress(Exception):  # stopping goes on whatever the app says
                self.call(self._shutdown(), LIFESPAN_SECONDS)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(LIFESPAN_SECONDS)

    async def _startup(self) -> None:
        to_app: asyncio.Queue[Message] = asyncio.Queue()
        from_app: asyncio.Queue[Message] = asyncio.Queue()
        self._lifespan, self._lifespan_events = to_app, from_app
        scope = {"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}}

        async def send(message: Message) -> None:
            await from_app.put(message)

        async def lifespan() -> None:
            try:
                await self.app(scope, to_app.get, send)
            except Exception as exc:  # reported to whoever waits for the start or the stop
                await from_app.put({"type": "lifespan.crashed", "error": exc})

        self._lifespan_task = asyncio.get_running_loop().create_task(lifespan())
        await to_app.put({"type": "lifespan.startup"})
        message = await from_app.get()
        if message["type"] != "lifespan.startup.complete":
            raise RuntimeError(f"the app did not start: {_lifespan_failure(message)}")

    async def _shutdown(self) -> None:
        assert self._lifespan is not None
        assert self._lifespan_events is not None
        await self._lifespan.put({"type": "lifespan.shutdown"})
        message = await self._lifespan_events.get()
        if self._lifespan_task is not None:
            await self._lifespan_task
        if message["type"] != "lifespan.shutdown.complete":
            raise RuntimeError(f"the app did not stop cleanly: {_lifespan_failure(message)}")


def _lifespan_failure(message: Message) -> str:
    if "error" in message:
        return repr(message["error"])
    return str(message.get("message") or message["type"])


class _Exchange:
    """One request to the app, on the app's loop: its ASGI ``receive`` and ``send``, and the
    answer handed to ``deliver`` (called on the app's loop) as ``("start", status, headers)``,
    then body chunks, then ``_END``, or an exception."""

    def __init__(
        self, request: httpx.Request, body: bytes, deliver: Callable[[object], None]
    ) -> None:
        self.request = request
        self.body = body
        self.deliver = deliver
        self.started = False
        self.length: int | None = None  # the answer's Content-Length, if it has one
        self.sent = 0  # bytes of its body delivered
        self.finished = False
        self.closed = False  # by the app (``CLOSE``) or by the client
        self.gone: asyncio.Event | None = None  # made on the app's loop

    def scope(self) -> Scope:
        url = self.request.url
        return {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": self.request.method,
            "headers": [(k.lower(), v) for k, v in self.request.headers.raw],
            "scheme": url.scheme,
            "path": url.path,
            "raw_path": url.raw_path.split(b"?")[0],
            "query_string": url.query,
            "server": (url.host, url.port or (443 if url.scheme == "https" else 80)),
            "client": CLIENT,
            "root_path": "",
            "extensions": {CLOSE: {"close": self.close}},
        }

    def close(self) -> None:
        """The app's ``CLOSE``: the connection closes after what was written."""
        if not self.closed:
            self.closed = True
            if not self.finished:
                self.finished = True
                self.deliver(_cut(self))
            if self.gone is not None:
                self.gone.set()

    def hang_up(self) -> None:
        """The client stopped reading (on the app's loop): the app sees a disconnect."""
        self.closed = True
        if self.gone is not None:
            self.gone.set()

    async def run(self, app: ASGIApp) -> None:
        self.gone = asyncio.Event()
        if self.closed:
            self.gone.set()
        sent_body = False

        async def receive() -> Message:
            nonlocal sent_body
            if not sent_body and not self.closed:
                sent_body = True
                return {"type": "http.request", "body": self.body, "more_body": False}
            assert self.gone is not None
            await self.gone.wait()
            return {"type": "http.disconnect"}

        async def send(message: Message) -> None:
            if self.closed or self.finished:
                return
            if message["type"] == "http.response.start":
                self.started = True
                headers = [(bytes(k), bytes(v)) for k, v in message.get("headers", [])]
                for name, value in headers:
                    if name.lower() == b"content-length" and value.isdigit():
                        self.length = int(value)
                self.deliver(("start", int(message["status"]), headers))
            elif message["type"] == "http.response.body":
                chunk = bytes(message.get("body", b""))
                if chunk and self.request.method != "HEAD":
                    self.sent += len(chunk)
                    self.deliver(chunk)
                if not message.get("more_body", False):
                    self.finished = True
                    self.deliver(_END)
                    assert self.gone is not None
                    self.gone.set()

        try:
            await app(self.scope(), receive, send)
        except asyncio.CancelledError:  # the runner stopped with the request unanswered
            if not self.finished:
                self.finished = True
                self.deliver(_cut(self))
            raise
        except Exception as exc:
            if not self.finished:
                self.finished = True
                self.deliver(exc)
            return
        if not self.finished:
            self.finished = True
            self.deliver(_cut(self))


def _cut(exchange: _Exchange) -> httpx.RemoteProtocolError:
    """What httpx says, in its words, of a connection that closed before the answer or in its
    body."""
    if not exchange.started:
        return httpx.RemoteProtocolError("Server disconnected without sending a response.")
    if exchange.length is None:
        how = "incomplete chunked read"
    else:
        how = f"received {exchange.sent} bytes, expected {exchange.length}"
    return httpx.RemoteProtocolError(
        f"peer closed connection without sending complete message body ({how})"
    )


def _read_timeout(request: httpx.Request) -> float | None:
    timeout = request.extensions.get("timeout", {})
    read: float | None = timeout.get("read")
    return read


def _start_of(item: object) -> tuple[int, list[tuple[bytes, bytes]]]:
    if isinstance(item, BaseException):
        raise item
    assert isinstance(item, tuple), item
    return item[1], item[2]


class SyncTransport(httpx.BaseTransport):
    """An ``httpx.Client`` transport that calls the app of ``runner`` (see the module's
    docstring). Closing a client does not stop the app: its runner's owner does."""

    def __init__(self, runner: AppRunner) -> None:
        self.runner = runner

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        body = request.read()
        answers: queue.SimpleQueue[object] = queue.SimpleQueue()
        exchange = _Exchange(request, body, answers.put)
        self.runner.submit(exchange)
        timeout = _read_timeout(request)
        try:
            first = _take(answers, timeout, request)
        except httpx.ReadTimeout:
            self.runner.loop.call_soon_threadsafe(exchange.hang_up)  # the client gave up
            raise
        status, headers = _start_of(first)
        stream = _SyncStream(answers, timeout, request, exchange, self.runner.loop)
        return httpx.Response(status, headers=headers, stream=stream, request=request)


def _take(
    answers: queue.SimpleQueue[object], timeout: float | None, request: httpx.Request
) -> object:
    try:
        return answers.get(timeout=timeout)
    except queue.Empty:
        raise httpx.ReadTimeout("timed out", request=request) from None


class _SyncStream(httpx.SyncByteStream):
    def __init__(
        self,
        answers: queue.SimpleQueue[object],
        timeout: float | None,
        request: httpx.Request,
        exchange: _Exchange,
        loop: asyncio.AbstractEventLoop,
    ) -> None:
        self.answers = answers
        self.timeout = timeout
        self.request = request
        self.exchange = exchange
        self.loop = loop
        self.done = False

    def __iter__(self) -> Iterator[bytes]:
        while not self.done:
            try:
                item = _take(self.answers, self.timeout, self.request)
            except httpx.ReadTimeout:
                self.close()
                raise
            if item is _END:
                self.done = True
            elif isinstance(item, BaseException):
                self.done = True
                raise item
            else:
                assert isinstance(item, bytes)
                yield item

    def close(self) -> None:
        if not self.done:
            self.done = True
            with contextlib.suppress(RuntimeError):  # the app's loop has stopped already
                self.loop.call_soon_threadsafe(self.exchange.hang_up)


class AsyncTransport(httpx.AsyncBaseTransport):
    """An ``httpx.AsyncClient`` transport that calls the app of ``runner`` from any asyncio
    event loop (see the module's docstring). Closing a client does not stop the app."""

    def __init__(self, runner: AppRunner) -> None:
        self.runner = runner

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        body = await request.aread()
        answers: asyncio.Queue[object] = asyncio.Queue()
        here = asyncio.get_running_loop()

        def deliver(item: object) -> None:
            with contextlib.suppress(RuntimeError):  # the caller's loop has closed
                here.call_soon_threadsafe(answers.put_nowait, item)

        exchange = _Exchange(request, body, deliver)
        self.runner.submit(exchange)
        timeout = _read_timeout(request)
        try:
            first = await _atake(answers, timeout, request)
        except (httpx.ReadTimeout, asyncio.CancelledError):
            self.runner.loop.call_soon_threadsafe(exchange.hang_up)  # the client gave up
            raise
        status, headers = _start_of(first)
        stream = _AsyncStream(answers, timeout, request, exchange, self.runner.loop)
        return httpx.Response(status, headers=headers, stream=stream, request=request)


async def _atake(
    answers: asyncio.Queue[object], seconds: float | None, request: httpx.Request
) -> object:
    try:
        async with asyncio.timeout(seconds):
            return await answers.get()
    except TimeoutError:
        raise httpx.ReadTimeout("timed out", request=request) from None


class _AsyncStream(httpx.AsyncByteStream):
    def __init__(
        self,
        answers: asyncio.Queue[object],
        timeout: float | None,
        request: httpx.Request,
        exchange: _Exchange,
        loop: asyncio.AbstractEventLoop,
    ) -> None:
        self.answers = answers
        self.timeout = timeout
        self.request = request
        self.exchange = exchange
        self.loop = loop
        self.done = False

    async def __aiter__(self) -> AsyncIterator[bytes]:
        while not self.done:
            try:
                item = await _atake(self.answers, self.timeout, self.request)
            except (httpx.ReadTimeout, asyncio.CancelledError):
                await self.aclose()
                raise
            if item is _END:
                self.done = True
            elif isinstance(item, BaseException):
                self.done = True
                raise item
            else:
                assert isinstance(item, bytes)
                yield item

    async def aclose(self) -> None:
        if not self.done:
            self.done = True
            with contextlib.suppress(RuntimeError):  # the app's loop has stopped already
                self.loop.call_soon_threadsafe(self.exchange.hang_up)
