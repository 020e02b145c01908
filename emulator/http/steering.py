"""``X-Imgemu-*`` steering headers: a chosen outcome or service time for one request."""

from __future__ import annotations

from starlette.requests import Request

from emulator.domain.errors import InvalidBody
from emulator.domain.queue import Steering
from emulator.domain.records import ErrorType


def steering_of(request: Request, enabled: bool) -> Steering | None:
    """The request's steering, None when steering is off; bad values raise ``InvalidBody``."""
    if not enabled:
        return None
    outcome_text = request.headers.get("x-imgemu-outcome")
    latency_text = request.headers.get("x-imgemu-latency")
    outcome: ErrorType | None = None
    latency: float | None = None
    if outcome_text and outcome_text.lower() != "success":
        try:
            outcome = ErrorType(outcome_text.upper())
        except ValueError:
            choices = ", ".join(["success", *(e.value for e in ErrorType)])
            raise InvalidBody(f"X-Imgemu-Outcome must be one of {choices}") from None
    if latency_text:
        try:
            latency = float(latency_text)
        except ValueError:
            latency = -1.0
        if not latency >= 0:
            raise InvalidBody("X-Imgemu-Latency must be a number of seconds >= 0") from None
    return Steering(outcome=outcome, latency=latency)
