"""How a request ends and how long it runs: the block list, the seeded failure rate, and the
service time (drawn, or steered) that every protocol's job or generation occupies."""

from __future__ import annotations

from emulator.domain.latency import LatencyModel, unit_draw
from emulator.domain.records import ErrorType
from emulator.settings import Settings


def blocked(prompt: str, settings: Settings) -> bool:
    """The prompt contains one of ``blocked_terms`` (any case)."""
    text = prompt.lower()
    return any(term.lower() in text for term in settings.blocked_terms)


def drawn_outcome(request_id: str, settings: Settings) -> ErrorType | None:
    """``INFERENCE_FAILURE`` for a seeded ``failure_rate`` share of requests, else None."""
    rate = settings.failure_rate
    if rate and unit_draw(f"{settings.seed}:fail:{request_id}") < rate:
        return ErrorType.INFERENCE_FAILURE
    return None


# How much longer than its service time a job runs before it ends INFERENCE_TIMEOUT.
TIMEOUT_FACTOR = 2.0


def service_seconds(
    latency: LatencyModel,
    settings: Settings,
    size: tuple[str, str, int, int, int],
    request_id: str,
    steered: float | None,
    outcome: ErrorType | None,
) -> float:
    """Emulator seconds of work: ``steered`` (before the time scale) or the seeded draw for
    ``size`` = (family, quality, width, height, n); doubled for a job that will time out."""
    if steered is not None:
        seconds = steered * settings.time_scale
    else:
        family, quality, width, height, n = size
        seconds = latency.service_time(family, quality, width, height, n, settings.seed, request_id)
    return seconds * (TIMEOUT_FACTOR if outcome is ErrorType.INFERENCE_TIMEOUT else 1.0)
