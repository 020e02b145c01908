"""The clocks: a real sleep never ends early; a virtual one ends when the clock is moved."""

from __future__ import annotations

import asyncio
import time

import pytest
import uvloop

from emulator.domain.clock import RealClock, VirtualClock


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
