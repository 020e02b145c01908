"""A remote host for the fetching tests: a small Starlette app serving the answers a fetch must
survive (a good PNG, redirects, huge, slow, compressed and missing bodies), which counts what it
was asked and what it sent. Serve it with the ``serve`` fixture (a real loopback port)."""

from __future__ import annotations

import asyncio
import gzip
import threading
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response, StreamingResponse
from starlette.routing import Route

from tests.helpers import png_bytes

GOOD = png_bytes((96, 64), color=(250, 10, 10))
MB = 1024 * 1024
HUGE = 120 * MB
CHUNK = 64 * 1024


@dataclass
class Tally:
    """What the origin saw: requests (path and ``Host``), body bytes sent, fetches at once."""

    requests: list[tuple[str, str]] = field(default_factory=list)
    ports: list[int] = field(default_factory=list)
    sent: int = 0
    active: int = 0
    most_active: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def hosts(self, path: str) -> list[str]:
        """The ``Host`` headers of the requests of ``path``."""
        return [host for seen, host in self.requests if seen == path]


def origin_app(tally: Tally) -> Starlette:
    """The origin's routes:

    - ``/good.png``: a small PNG;
    - ``/slow.png?seconds=S``: the PNG after ``S`` seconds (1 by default);
    - ``/redirect?to=URL``: a 302 to ``URL``;
    - ``/hop/N``: a 302 to ``/hop/N-1``, and ``/hop/0`` the PNG (N redirects in all);
    - ``/bytes?size=N&declared=0|1``: ``N`` bytes in 64 KB chunks, with ``Content-Length``
      when declared, made as they are sent (never held whole); ``/huge.png`` is 120 MB of it;
    - ``/gzip.png``: the PNG gzipped (``Content-Encoding: gzip``);
    - anything else: 404.
    """

    def note(request: Request) -> None:
        with tally.lock:
            tally.requests.append((request.url.path, request.headers.get("host", "")))
            if request.client is not None:
                tally.ports.append(request.client.port)

    async def good(request: Request) -> Response:
        note(request)
        return Response(GOOD, media_type="image/png")

    async def slow(request: Request) -> Response:
        note(request)
        with tally.lock:
            tally.active += 1
            tally.most_active = max(tally.most_active, tally.active)
        try:  # a fetcher that gives up leaves; the origin stops waiting then too
            until = time.monotonic() + float(request.query_params.get("seconds", "1"))
            while time.monotonic() < until:
                if await request.is_disconnected():
                    break
                await asyncio.sleep(min(0.02, max(0.0, until - time.monotonic())))
        finally:
            with tally.lock:
                tally.active -= 1
        return Response(GOOD, media_type="image/png")

    async def redirect(request: Request) -> Response:
        note(request)
        return RedirectResponse(request.query_params["to"], 302)

    async def hop(request: Request) -> Response:
        note(request)
        left = int(request.path_params["left"])
        if left == 0:
            return Response(GOOD, media_type="image/png")
        return RedirectResponse(f"/hop/{left - 1}", 302)

    def stream(request: Request, size: int, declared: bool) -> StreamingResponse:
        async def body() -> AsyncIterator[bytes]:
            chunk = b"\x89PNG" + bytes(CHUNK - 4)
            left = size
            # Counted as sent when handed on; a client gone stops the count (uvicorn drops
            # what is sent to a closed connection without a word).
            while left > 0 and not await request.is_disconnected():
                piece = chunk[: min(CHUNK, left)]
                left -= len(piece)
                with tally.lock:
                    tally.sent += len(piece)
                yield piece
                chunk = bytes(CHUNK)

        headers = {"content-length": str(size)} if declared else None
        return StreamingResponse(body(), media_type="image/png", headers=headers)

    async def sized(request: Request) -> Response:
        note(request)
        size = int(request.query_params["size"])
        return stream(request, size, request.query_params.get("declared") == "1")

    async def huge(request: Request) -> Response:
        note(request)
        return stream(request, HUGE, request.query_params.get("declared") == "1")

    async def gzipped(request: Request) -> Response:
        note(request)
        headers = {"content-encoding": "gzip"}
        return Response(gzip.compress(GOOD), media_type="image/png", headers=headers)

    return Starlette(
        routes=[
            Route("/good.png", good),
            Route("/slow.png", slow),
            Route("/redirect", redirect),
            Route("/hop/{left:int}", hop),
            Route("/bytes", sized),
            Route("/huge.png", huge),
            Route("/gzip.png", gzipped),
        ]
    )
