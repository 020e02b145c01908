"""How a request ends when nobody steers it: the block list and the seeded failure rate."""

from __future__ import annotations

from emulator.domain.jobs import ErrorType
from emulator.domain.latency import unit_draw
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
