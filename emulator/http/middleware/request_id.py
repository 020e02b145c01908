"""Request ids: each request's id drawn once from the run's id factory and kept in its scope.

Handlers and renderers read it with ``request_id(scope, dialect)``. The Images dialect and
典名词元 send it as ``x-request-id`` on every answer: ``RequestIdMiddleware`` draws it when the
request arrives and adds the header to the answer, whoever wrote it (handler or gateway). The
queue's providers send no such header; only its gateway's refusals carry an id (a UUID in the
body), so a queue request draws one only when first asked for, and a status read, the hot
path, never formats a UUID. Answers made outside any route (an unknown path, a method not
allowed) take the id the same way and add the header themselves (``SENT_BY``, ``HEADER``).
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from emulator.providers import Dialect
from emulator.state import Emulator

KEY = "imgemu.request_id"
HEADER = "x-request-id"
# The dialects whose answers carry the request's id in ``HEADER``.
SENT_BY: frozenset[Dialect] = frozenset({"images", "aa"})
_HEADER = HEADER.encode()


def request_id(scope: Scope, dialect: Dialect) -> str:
    """The request's id: the one drawn already, else one drawn now (and kept in the scope)."""
    found: str | None = scope.get(KEY)
    if found is None:
        emulator: Emulator = scope["app"].state.emulator
        found = scope[KEY] = emulator.ids.request(dialect)
    return found


class RequestIdMiddleware:
    """Draw the request's id into the scope; add ``x-request-id`` to the answer."""

    def __init__(self, app: ASGIApp, dialect: Dialect) -> None:
        self.app = app
        self.dialect = dialect

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        emulator: Emulator = scope["app"].state.emulator
        scope[KEY] = found = emulator.ids.request(self.dialect)
        header = (_HEADER, found.encode())

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", ()), header]}
            await send(message)

        await self.app(scope, receive, send_with_id)
