"""The emulator's one clock: real time, or a virtual clock that only moves when told to."""

from __future__ import annotations

import time
from typing import Protocol


class Clock(Protocol):
    """Seconds since the Unix epoch, as the emulator sees them."""

    def now(self) -> float: ...


class RealClock:
    """Wall-clock time."""

    def now(self) -> float:
        return time.time()


class VirtualClock:
    """A clock that stands still until advanced; tests and the control plane move it.

    It never goes backwards, so a job's state (a function of the clock) only moves forward.
    """

    def __init__(self, start: float) -> None:
        self._now = start

    def now(self) -> float:
        return self._now

    def advance(self, seconds: float) -> float:
        """Move forward by ``seconds`` (>= 0) and return the new time."""
        if seconds < 0:
            raise ValueError("the clock cannot go backwards")
        self._now += seconds
        return self._now

    def set(self, when: float) -> float:
        """Jump to ``when``, which must not be in the clock's past."""
        if when < self._now:
            raise ValueError("the clock cannot go backwards")
        self._now = when
        return self._now
