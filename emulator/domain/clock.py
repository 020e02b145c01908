"""The emulator's one clock: real time, or a virtual clock that only moves when told to."""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time
from typing import Protocol


class Clock(Protocol):
    """Seconds since the Unix epoch, as the emulator sees them."""

    def now(self) -> float: ...

    async def sleep_until(self, when: float) -> None:
        """Return once the clock reads ``when`` or later."""
        ...


class RealClock:
    """Wall-clock time."""

    def now(self) -> float:
        return time.time()

    async def sleep_until(self, when: float) -> None:
        # The event loop times sleeps on its monotonic clock, uvloop in whole milliseconds, so
        # a sleep can end just before the wall clock reaches ``when`` (and a state read then
        # would still be unfinished). What is left is slept again, a millisecond longer.
        extra = 0.0
        for _ in range(10):
            delay = when - time.time()
            if delay <= 0:
                return
            await asyncio.sleep(delay + extra)
            extra = 0.001


class VirtualClock:
    """A clock that stands still until advanced; tests and the control plane move it.

    It never goes backwards, so a job's state (a function of the clock) only moves forward.
    A synchronous request that must wait for its generation time waits until someone moves the
    clock past it (``sleep_until``).
    """

    def __init__(self, start: float) -> None:
        self._now = start
        self._waiters: list[tuple[float, int, asyncio.Future[None]]] = []
        self._order = itertools.count()

    def now(self) -> float:
        return self._now

    def advance(self, seconds: float) -> float:
        """Move forward by ``seconds`` (>= 0) and return the new time."""
        if seconds < 0:
            raise ValueError("the clock cannot go backwards")
        return self.set(self._now + seconds)

    def set(self, when: float) -> float:
        """Jump to ``when``, which must not be in the clock's past."""
        if when < self._now:
            raise ValueError("the clock cannot go backwards")
        self._now = when
        while self._waiters and self._waiters[0][0] <= when:
            _, _, waiter = heapq.heappop(self._waiters)
            if not waiter.done():
                waiter.set_result(None)
        return self._now

    async def sleep_until(self, when: float) -> None:
        if when <= self._now:
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._waiters, (when, next(self._order), waiter))
        await waiter

    @property
    def sleepers(self) -> int:
        """How many waits are pending (a test can wait for a request to start waiting)."""
        return sum(not waiter.done() for _, _, waiter in self._waiters)
