"""Request bodies bounded as they arrive, as pure ASGI middleware around each operation that
reads one.

A body longer than its operation takes is refused with 413 in the provider's dialect before
it is read whole: at once when its ``Content-Length`` says so (nothing of it is read), else as
soon as the chunks received pass the limit (a chunked body). A body whose ``Content-Length``
is within the limit is passed on untouched: the server frames the body by that length, so it
cannot grow past it, and the operation pays for one look at the headers.

The limit is the operation's own (``settings.max_request_mb`` for those that take input
images, ``max_text_request_kb`` for the others); a queue submit's depends on its model, read
from the path parameters the router or the queue's front set.
"""

from __future__ import annotations

from collections.abc import Callable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from emulator.domain.errors import BodyTooLarge
from emulator.http.middleware.gateway import Refusal

_CONTENT_LENGTH = b"content-length"
# A length with more digits than this is over any limit (and Python's int() is never asked to
# read thousands of digits).
_MAX_DIGITS = 15

Limit = int | Callable[[Scope], int]


class BodyLimit:
    """Refuse (``refuse``: the dialect's answer) a body longer than ``limit`` bytes, or than
    ``limit(scope)`` for a limit that depends on the request."""

    def __init__(self, app: ASGIApp, limit: Limit, refuse: Refusal) -> None:
        self.app = app
        self.limit = limit
        self.refuse = refuse

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit if isinstance(self.limit, int) else self.limit(scope)
        for name, value in scope["headers"]:
            if name == _CONTENT_LENGTH:
                if not value.isdigit():
                    break  # a length the server would not frame by: count what arrives
                if len(value) <= _MAX_DIGITS and int(value) <= limit:
                    await self.app(scope, receive, send)
                    return
                await self.refuse(BodyTooLarge(limit), scope)(scope, receive, send)
                return
        received = 0

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(limit)
            return message

        try:
            await self.app(scope, counted, send)
        except BodyTooLarge as exc:
            # Handlers answer the domain errors of their reads themselves; this is for one
            # that lets it through (every handler reads its body before it answers).
            await self.refuse(exc, scope)(scope, receive, send)
