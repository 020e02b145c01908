"""The end of a request body's read when the server begins to stop.

Around the operations that read a body (``emulator/app.py:READS_A_BODY``): a read still
waiting for the body when the server begins to stop raises ``ServerStopping``, which the
handler answers in its dialect (a 503) rather than the shutdown timeout cutting the call. Once
the body is in, reads pass straight through: a response listening for the client to leave (a
stream) ends its own way, with the provider's error event.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from emulator.http.shutdown import Drain


class DrainMiddleware:
    """Reads of the body end with ``ServerStopping`` when the server begins to stop.

    On the queue's hot path (a submit): one closure per request, and per read of the body a
    set's add and discard (no task, no lookup)."""

    def __init__(self, app: ASGIApp, drain: Drain) -> None:
        self.app = app
        self.drain = drain

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        drain = self.drain
        body_read = False

        async def receive_or_stop() -> Message:
            nonlocal body_read
            if body_read:
                return await receive()
            message = await drain.receive(receive)
            body_read = message["type"] != "http.request" or not message.get("more_body", False)
            return message

        await self.app(scope, receive_or_stop, send)
