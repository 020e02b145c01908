"""Each provider operation's requests counted: status and seconds, into its ``Meter``.

``MetricsMiddleware`` wraps one operation's route, outermost, so gateway refusals count too;
its ``Meter`` (provider, operation) is chosen once when the app is assembled. When the journal
is on, the journal's middleware (``middleware/journal.py``) takes its place and counts into the
same meter: one watch of the answer for both. The status is
read from the answer's start message as it passes; the seconds run from the call to the end
of the answer's body (a stream's included). An answer that never started counts as 500, as
the server then answers. Counting is a few dictionary and list updates in this process; the
totals of all processes are the store's (``emulator.domain.metrics``).
"""

from __future__ import annotations

from time import perf_counter

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from emulator.domain.metrics import Meter


class MetricsMiddleware:
    """Count one provider operation's requests by status, with their latency."""

    def __init__(self, app: ASGIApp, meter: Meter) -> None:
        self.app = app
        self.meter = meter

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        status = 500

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        start = perf_counter()
        try:
            await self.app(scope, receive, send_status)
        finally:
            self.meter.observe(status, perf_counter() - start)
