"""Rate limits in each provider's own terms, counted in the store's sliding windows.

Every limit is per API key and counts in a sliding window of one minute of emulator time
(``WINDOW_SECONDS``): a request counted at ``t`` takes its units until ``t + 60``, and a
refusal says how long until the window has room (``RateLimited.retry_after``). The windows live
in the store, so every worker and replica sharing a Redis store counts against the same ones;
each admission is one atomic store call (``Store.take_windows``).

- OpenAI and AGCloud: requests per minute and images per minute, per key and model (a request
  for ``n`` images takes ``n`` from the images window, and one from the requests window).
  ``Quota`` is both, as every answer's ``x-ratelimit-*`` headers show them.
- The queue providers: submissions per minute per key, counted at the gateway; and unfinished
  jobs (IN_QUEUE and IN_PROGRESS) per key, held by ``QueueService.submit``
  (``Store.take_concurrency``).
- 典名词元: requests per minute per key, counted at the gateway.
- The generic ``rate_limit`` setting: one more window per provider and key, of any length, at
  the gateway, for every provider.

A limit of 0 is off and costs nothing: no store call. Where the headers still show it, they
show ``NOMINAL`` with all of it remaining and a reset of ``0s``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from emulator.store.base import Window, WindowState

# Seconds of every provider's window: their limits are per minute.
WINDOW_SECONDS = 60.0
# The limit the headers show for a limit that is off: high enough that a client pacing itself
# by the headers never slows down for it.
NOMINAL = 10_000


@dataclass(frozen=True, slots=True)
class Allowance:
    """One limit as a client sees it: the units per window, those left, and the seconds until
    the window's oldest unit leaves it (when one more is left again; 0 when none is taken)."""

    limit: int
    remaining: int
    reset: float

    @classmethod
    def of(cls, window: Window, state: WindowState) -> Allowance:
        return cls(window.limit, max(0, window.limit - state.used), state.reset)


NOMINAL_ALLOWANCE = Allowance(NOMINAL, NOMINAL, 0.0)


@dataclass(frozen=True, slots=True)
class Quota:
    """A key's requests and images per minute for one model, as the answer's headers show."""

    requests: Allowance = NOMINAL_ALLOWANCE
    images: Allowance = NOMINAL_ALLOWANCE


NOMINAL_QUOTA = Quota()


@dataclass(frozen=True, slots=True)
class LimitPolicy:
    """The limits of each provider, per key; 0 (or absent) is off."""

    requests: Mapping[str, int] = field(default_factory=dict)  # per minute (and model: images)
    images: Mapping[str, int] = field(default_factory=dict)  # images per minute per model
    concurrency: int = 0  # the queue providers' unfinished jobs
    # The providers that count per model, once the body is read (OpenAI's and AGCloud's),
    # rather than per key at the gateway.
    per_model: frozenset[str] = frozenset()


def requests_window(provider: str, owner: str, limit: int, model: str | None = None) -> Window:
    """The window of ``provider``'s requests per minute of one key (``owner``), per model
    where the provider counts per model."""
    key = f"{provider}:rpm:{owner}" if model is None else f"{provider}:rpm:{owner}:{model}"
    return Window(key, limit, WINDOW_SECONDS)


def images_window(provider: str, owner: str, model: str, limit: int, n: int) -> Window:
    """The window of ``provider``'s images per minute of one key and model; the request takes
    ``n`` images."""
    return Window(f"{provider}:ipm:{owner}:{model}", limit, WINDOW_SECONDS, n)


def concurrency_key(provider: str, owner: str) -> str:
    """Where a key's unfinished jobs at one queue provider are held."""
    return f"{provider}:{owner}"
