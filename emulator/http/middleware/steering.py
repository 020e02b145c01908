"""``X-Imgemu-*`` steering headers: a chosen outcome or service time for one request.

``SteeringMiddleware`` (installed only when ``settings.steering`` is on, around the operations
that make a generation) parses ``X-Imgemu-Outcome`` and ``X-Imgemu-Latency`` once into the
scope. A bad value is kept as a ``BadSteering`` and raised where the handler asks for the
steering (``steering_of``), so each operation keeps its order of checks (the queue's submit
reads its body first, the Images endpoints after the gateway). These are imgemu's own words,
not a provider's: ``steering_text`` writes them, and each dialect's renderer puts them in its
error shape.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send

from emulator.domain.errors import BadSteering
from emulator.domain.queue import Steering
from emulator.domain.records import OUTCOMES, ErrorType

KEY = "imgemu.steering"
OUTCOME = "x-imgemu-outcome"
LATENCY = "x-imgemu-latency"
_OUTCOME, _LATENCY = OUTCOME.encode(), LATENCY.encode()


def parse(outcome_text: str | None, latency_text: str | None) -> Steering | BadSteering:
    """The steering two header values ask for, or why they cannot be followed."""
    outcome: ErrorType | None = None
    latency: float | None = None
    if outcome_text and outcome_text.lower() != "success":
        try:
            outcome = ErrorType(outcome_text.upper())
        except ValueError:
            return BadSteering(OUTCOME, outcome_text)
    if latency_text:
        try:
            latency = float(latency_text)
        except ValueError:
            latency = -1.0
        if not latency >= 0:
            return BadSteering(LATENCY, latency_text)
    return Steering(outcome=outcome, latency=latency)


def steering_text(exc: BadSteering) -> str:
    """What is wrong with a steering header, in imgemu's words."""
    if exc.header == OUTCOME:
        choices = ", ".join(["success", *(e.value for e in OUTCOMES)])
        return f"X-Imgemu-Outcome must be one of {choices}"
    return "X-Imgemu-Latency must be a number of seconds >= 0"


def steering_of(scope: Scope) -> Steering | None:
    """The request's steering (None when steering is off); a bad header raises ``BadSteering``."""
    found: Steering | BadSteering | None = scope.get(KEY)
    if isinstance(found, BadSteering):
        raise found
    return found


class SteeringMiddleware:
    """Parse the steering headers once into the scope."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        outcome: str | None = None
        latency: str | None = None
        for name, value in scope["headers"]:  # the first of each, as Starlette's Headers.get
            if name == _OUTCOME and outcome is None:
                outcome = value.decode("latin-1")
            elif name == _LATENCY and latency is None:
                latency = value.decode("latin-1")
        scope[KEY] = parse(outcome, latency)
        await self.app(scope, receive, send)
