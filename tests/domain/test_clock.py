"""The clocks: a real sleep never ends early; a virtual one ends when the clock is moved."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest
import uvloop

from emulator.domain.clock import RealClock, VirtualClock
from tests.helpers import clock_of, make_app, on_virtual_clock


def test_a_real_sleep_never_returns_before_its_instant() -> None:
    # uvloop, as imgemu serve runs: its timers tick in whole milliseconds and may fire before
    # the wall clock reaches the instant.
    clock = RealClock()

    async def sleeps() -> list[float]:
        early = []
        for i in range(150):
            when = time.time() + 0.0011 + (i % 7) * 0.00037  # every sub-millisecond phase
            await clock.sleep_until(when)
            if clock.now() < when:
                early.append(when - clock.now())
        return early

    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        early = runner.run(sleeps())
    # Without the fix sleeps end up to a millisecond early; the wall clock itself may be
    # stepped back by a microsecond or so between two readings, which is not the sleep's doing.
    assert [e for e in early if e > 2e-5] == []


@pytest.mark.anyio
async def test_a_virtual_sleep_returns_once_the_clock_passes_its_instant() -> None:
    clock = VirtualClock(100.0)
    done: list[float] = []

    async def sleeper(when: float) -> None:
        await clock.sleep_until(when)
        done.append(when)

    tasks = [asyncio.ensure_future(sleeper(w)) for w in (130.0, 110.0, 120.0)]
    await asyncio.sleep(0)
    assert clock.sleepers == 3
    clock.advance(15.0)
    await asyncio.sleep(0)
    assert done == [110.0]
    clock.set(130.0)
    await asyncio.gather(*tasks)
    assert done == [110.0, 120.0, 130.0]
    await clock.sleep_until(50.0)  # the past: no wait
    with pytest.raises(ValueError, match="backwards"):
        clock.advance(-1.0)


@pytest.mark.anyio
async def test_the_virtual_clock_driver_fails_instead_of_hanging() -> None:
    """``on_virtual_clock`` gives up on a request that never finishes: one that keeps waiting on
    the clock hits the step bound, one that waits on nothing the clock moves hits the wall-time
    bound; both are cancelled and the failure says why."""
    app = make_app()
    clock = clock_of(app)

    async def forever_on_the_clock() -> httpx.Response:
        while True:
            await clock.sleep_until(clock.now() + 1)

    async def forever_off_the_clock() -> httpx.Response:
        await asyncio.Event().wait()
        raise AssertionError("unreachable")

    with pytest.raises(AssertionError, match="did not finish on the virtual clock: 50 step"):
        await on_virtual_clock(app, forever_on_the_clock(), max_steps=50)
    assert clock.sleepers == 0
    started = time.monotonic()
    with pytest.raises(AssertionError, match=r"0 step.*0.2 s of wall time"):
        await on_virtual_clock(app, forever_off_the_clock(), wall_seconds=0.2)
    assert time.monotonic() - started < 5
