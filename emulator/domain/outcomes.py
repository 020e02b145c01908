"""How a request ends and how long it runs: the block list, the seeded failure rate, and the
service time (drawn, or steered) that every protocol's job or generation occupies."""

from __future__ import annotations

from dataclasses import dataclass

from emulator.domain.latency import LatencyModel, unit_draw
from emulator.domain.records import ErrorType

# How much longer than its service time a job runs before it ends INFERENCE_TIMEOUT.
TIMEOUT_FACTOR = 2.0


@dataclass(frozen=True, slots=True)
class Outcomes:
    """The settings every protocol's service shares to decide a request's end and duration."""

    seed: int
    blocked_terms: tuple[str, ...]
    failure_rate: float  # share of requests that end INFERENCE_FAILURE, drawn from the seed
    time_scale: float  # multiplies every service time
    latency: LatencyModel

    def blocked(self, prompt: str) -> bool:
        """The prompt contains one of ``blocked_terms`` (any case)."""
        text = prompt.lower()
        return any(term.lower() in text for term in self.blocked_terms)

    def drawn(self, request_id: str) -> ErrorType | None:
        """``INFERENCE_FAILURE`` for a seeded ``failure_rate`` share of requests, else None."""
        rate = self.failure_rate
        if rate and unit_draw(f"{self.seed}:fail:{request_id}") < rate:
            return ErrorType.INFERENCE_FAILURE
        return None

    def service_seconds(
        self,
        size: tuple[str, str, int, int, int],
        request_id: str,
        steered: float | None,
        outcome: ErrorType | None,
    ) -> float:
        """Emulator seconds of work: ``steered`` (before the time scale) or the seeded draw for
        ``size`` = (family, quality, width, height, n); doubled for a job that will time out."""
        if steered is not None:
            seconds = steered * self.time_scale
        else:
            family, quality, width, height, n = size
            seconds = self.latency.service_time(
                family, quality, width, height, n, self.seed, request_id
            )
        return seconds * (TIMEOUT_FACTOR if outcome is ErrorType.INFERENCE_TIMEOUT else 1.0)
