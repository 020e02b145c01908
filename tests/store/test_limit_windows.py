"""Rate limits in the store, held to the same tests in memory and in Redis.

Sliding windows (``take_windows``): a request takes its amount from every window or from none,
each answer says how full each window is and when its oldest unit leaves, a refusal says how
long until there is room. A property checks both stores against a plain-Python model of the
windows over random request times and amounts. Concurrency places (``take_concurrency``): a
place lasts as long as its job, as the job's own stored times say, a cancel included.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from emulator.store import MemoryStore, Store
from emulator.store.base import Busy, Taken, Window, WindowState
from tests.helpers import examples
from tests.store.test_redis_store import redis_store
from tests.support.store import make_job

pytestmark = pytest.mark.anyio

MINUTE = 60.0


def rpm(key: str, limit: int, amount: int = 1) -> Window:
    return Window(key, limit, MINUTE, amount)


# -- windows ------------------------------------------------------------------------------------


async def test_a_request_takes_its_amount_and_says_when_the_oldest_unit_leaves(
    store: Store,
) -> None:
    assert await store.take_windows([rpm("ipm", 5, 2)], 100.0) == Taken((WindowState(2, 60.0),))
    assert await store.take_windows([rpm("ipm", 5, 2)], 110.0) == Taken((WindowState(4, 50.0),))
    # 4 + 2 > 5: refused until the two units counted at 100 leave, at 160.
    refused = await store.take_windows([rpm("ipm", 5, 2)], 120.0)
    assert refused == Taken((WindowState(4, 40.0),), refused=0, wait=pytest.approx(40.0))
    assert await store.take_windows([rpm("ipm", 5, 1)], 120.0) == Taken((WindowState(5, 40.0),))
    # At 160 the units of 100 have left: three are in the window, two fit.
    assert await store.take_windows([rpm("ipm", 5, 2)], 160.0) == Taken((WindowState(5, 10.0),))


async def test_a_request_for_several_units_waits_until_enough_have_left(store: Store) -> None:
    for now in (0.0, 10.0, 20.0):
        await store.take_windows([rpm("ipm", 3)], now)
    refused = await store.take_windows([rpm("ipm", 3, 2)], 30.0)
    assert (refused.refused, refused.wait) == (0, pytest.approx(40.0))  # the unit of 10 leaves
    assert (await store.take_windows([rpm("ipm", 3, 2)], 70.0)).refused is None


async def test_a_refused_request_takes_nothing_from_any_window(store: Store) -> None:
    requests, images = rpm("rpm", 10), rpm("ipm", 4, 3)
    assert (await store.take_windows([requests, images], 0.0)).refused is None
    refused = await store.take_windows([requests, images], 1.0)
    assert (refused.refused, refused.wait) == (1, pytest.approx(59.0))
    assert refused.states == (WindowState(1, 59.0), WindowState(3, 59.0))
    # The requests window did not count the refused request.
    taken = await store.take_windows([requests, rpm("ipm", 4, 1)], 2.0)
    assert taken == Taken((WindowState(2, 58.0), WindowState(4, 58.0)))


async def test_the_first_full_window_is_the_one_named(store: Store) -> None:
    await store.take_windows([rpm("a", 1), rpm("b", 1)], 0.0)
    refused = await store.take_windows([rpm("a", 1), rpm("b", 1)], 30.0)
    assert (refused.refused, refused.wait) == (0, pytest.approx(30.0))
    refused = await store.take_windows([rpm("c", 1), rpm("b", 1)], 45.0)
    assert (refused.refused, refused.wait) == (1, pytest.approx(15.0))
    assert refused.states == (WindowState(0, 0.0), WindowState(1, 15.0))


async def test_a_request_larger_than_the_limit_waits_for_an_empty_window(store: Store) -> None:
    empty = await store.take_windows([rpm("ipm", 3, 4)], 0.0)
    assert (empty.refused, empty.wait) == (0, pytest.approx(60.0))
    await store.take_windows([rpm("ipm", 3, 1)], 0.0)
    await store.take_windows([rpm("ipm", 3, 1)], 20.0)
    refused = await store.take_windows([rpm("ipm", 3, 4)], 30.0)
    assert (refused.refused, refused.wait) == (0, pytest.approx(50.0))  # the unit of 20 leaves


async def test_windows_are_per_key_and_units_at_one_instant_count_each(store: Store) -> None:
    for _ in range(3):
        assert (await store.take_windows([rpm("k", 3)], 7.0)).refused is None
    assert (await store.take_windows([rpm("k", 3)], 7.0)).refused == 0
    assert (await store.take_windows([rpm("other", 3)], 7.0)).refused is None


# -- the property: both stores count as a plain-Python model of the windows -----------------------


@dataclass(frozen=True)
class Hit:
    after: float  # seconds after the previous request
    window: int  # which of the test's windows: 0, 1 or both (2)
    amount: int


WINDOWS = (Window("w0", 5, MINUTE), Window("w1", 3, 10.0))


def _model_take(
    hits: list[list[float]], windows: list[Window], which: list[int], now: float
) -> Taken:
    """What a sliding window answers, written as plainly as possible."""
    live = [[t for t in hits[i] if t > now - windows[i].seconds] for i in which]
    refused, wait = None, 0.0
    for position, (i, units) in enumerate(zip(which, live, strict=True)):
        window = windows[i]
        if len(units) + window.amount > window.limit:
            ordered = sorted(units)
            excess = len(units) + window.amount - window.limit
            if excess > len(units):
                leaves = (ordered[-1] if ordered else now) + window.seconds
            else:
                leaves = ordered[excess - 1] + window.seconds
            refused, wait = position, max(leaves - now, 0.001)
            break
    if refused is None:
        for i, units in zip(which, live, strict=True):
            units.extend([now] * windows[i].amount)
    for i, units in zip(which, live, strict=True):
        hits[i] = units
    states = tuple(
        WindowState(len(units), min(units) + windows[i].seconds - now if units else 0.0)
        for i, units in zip(which, live, strict=True)
    )
    return Taken(states, refused, wait)


async def _replay(store: Store, hits: list[Hit]) -> tuple[list[Taken], list[Taken]]:
    model: list[list[float]] = [[], []]
    now = 1_790_000_000.0
    got, expected = [], []
    for hit in hits:
        now += hit.after
        which = [0, 1] if hit.window == 2 else [hit.window]
        windows = [
            Window(w.key, w.limit, w.seconds, hit.amount if i == which[-1] else 1)
            for i, w in enumerate(WINDOWS)
        ]
        got.append(await store.take_windows([windows[i] for i in which], now))
        expected.append(_model_take(model, windows, which, now))
    return got, expected


# Mostly short steps, so windows fill and requests for several units meet units of several
# instants; now and then a window's length exactly, or a long gap.
hits = st.lists(
    st.builds(
        Hit,
        st.sampled_from([0.0, 0.5, 1.0, 2.0, 3.0, 10.0, 59.999, 60.0]) | st.floats(0, 70),
        st.integers(0, 2),
        st.integers(1, 4),
    ),
    min_size=4,
    max_size=40,
)


@settings(max_examples=examples(), deadline=None)
@given(hits)
def test_both_stores_count_as_a_sliding_window(redis_server: str, hits: list[Hit]) -> None:
    async def run() -> list[tuple[list[Taken], list[Taken]]]:
        redis = redis_store(redis_server, "windows")
        try:
            await redis.reset()
            return [await _replay(MemoryStore(), hits), await _replay(redis, hits)]
        finally:
            await redis.close()

    for got, expected in asyncio.run(run()):
        assert len(got) == len(expected)
        for one, model in zip(got, expected, strict=True):
            assert one.refused == model.refused
            assert one.wait == pytest.approx(model.wait, abs=1e-6)
            assert [s.used for s in one.states] == [s.used for s in model.states]
            for state, want in zip(one.states, model.states, strict=True):
                assert state.reset == pytest.approx(want.reset, abs=1e-6)


# -- concurrency ---------------------------------------------------------------------------------


async def test_a_place_lasts_as_long_as_its_job(store: Store) -> None:
    assert await store.take_concurrency("k", "r1", 2, 0.0) == Busy(1)
    await store.schedule(make_job(1, 10.0), 4, 0.0)  # r1 runs 0 -> 10
    assert await store.take_concurrency("k", "r2", 2, 0.0) == Busy(2)
    await store.schedule(make_job(2, 30.0), 4, 0.0)  # r2 runs 0 -> 30
    assert await store.take_concurrency("k", "r3", 2, 4.0) == Busy(2, pytest.approx(6.0))
    assert await store.take_concurrency("other", "r3", 2, 4.0) == Busy(1)  # places are per key
    assert await store.take_concurrency("k", "r3", 2, 10.0) == Busy(2)  # r1 ended at 10


async def test_a_waiting_job_holds_its_place_until_it_finishes(store: Store) -> None:
    await store.take_concurrency("k", "r1", 2, 0.0)
    await store.schedule(make_job(1, 10.0), 1, 0.0)
    await store.take_concurrency("k", "r2", 2, 0.0)
    await store.schedule(make_job(2, 5.0), 1, 0.0)  # waits for r1: runs 10 -> 15
    assert await store.take_concurrency("k", "r3", 2, 5.0) == Busy(2, pytest.approx(5.0))
    assert await store.take_concurrency("k", "r3", 2, 12.0) == Busy(2)  # r2 runs; r1 is done


async def test_a_cancel_ends_the_place_at_once(store: Store) -> None:
    await store.take_concurrency("k", "r1", 1, 0.0)
    await store.schedule(make_job(1, 100.0), 1, 0.0)
    assert (await store.take_concurrency("k", "r2", 1, 5.0)).wait == pytest.approx(95.0)
    await store.cancel("r1", 5.0, 1)
    assert (await store.take_concurrency("k", "r2", 1, 5.0)).wait is None


async def test_a_job_refused_after_submit_holds_its_place_until_it_is_done(store: Store) -> None:
    await store.take_concurrency("k", "r1", 1, 0.0)
    await store.put_job(make_job(1, 0.0, finished_at=0.5))
    assert (await store.take_concurrency("k", "r2", 1, 0.25)).wait == pytest.approx(0.25)
    assert (await store.take_concurrency("k", "r2", 1, 0.5)).wait is None


async def test_a_place_held_for_a_job_never_stored_is_given_back_or_lapses(store: Store) -> None:
    await store.take_concurrency("k", "r1", 1, 0.0)
    held = await store.take_concurrency("k", "r2", 1, 1.0)
    assert held == Busy(1, 1.0)  # no stored job says when the place ends: try again in 1 s
    await store.release_concurrency("k", "r1")
    assert await store.take_concurrency("k", "r2", 1, 1.0) == Busy(1)
    # A place whose submit never stored its job lapses after a minute.
    assert (await store.take_concurrency("k", "r3", 1, 60.5)).wait == 1.0
    assert (await store.take_concurrency("k", "r3", 1, 61.5)).wait is None


async def test_a_reset_forgets_windows_and_places(store: Store) -> None:
    await store.take_windows([rpm("k", 1)], 0.0)
    await store.take_concurrency("k", "r1", 1, 0.0)
    await store.reset()
    assert (await store.take_windows([rpm("k", 1)], 0.0)).refused is None
    assert (await store.take_concurrency("k", "r2", 1, 0.0)).wait is None


async def test_idle_places_are_let_go_in_memory() -> None:
    store = MemoryStore()
    for i in range(5):
        await store.take_concurrency(f"key-{i}", f"r{i}", 1, 0.0)
        await store.put_job(make_job(i, 0.0, request_id=f"r{i}", finished_at=1.0))
    # Until its end comes, a place is not looked at (its end is its hold's lapse: 60 s).
    await store.take_concurrency("busy", "b0", 5, 2.0)
    assert len(store._holders) == 6
    for i in range(1, 6):  # each call looks at the least recently used key
        await store.take_concurrency("busy", f"b{i}", 10, 62.0)
    assert list(store._holders) == ["busy"]
    assert len(store._holders["busy"].ends) == 5  # b0's hold lapsed unstored


# -- the property: both stores hold places as a plain model of unfinished jobs ------------------


@dataclass(frozen=True)
class Take:
    seconds: float  # the job's service time
    stored: bool  # the submit stores its job (else it never does: the hold lapses)


@dataclass(frozen=True)
class CancelJob:
    index: int


@dataclass(frozen=True)
class Wait:
    seconds: float


async def _play(store: Store, limit: int, ops: list[Take | CancelJob | Wait]) -> list[Busy]:
    """Every answer of ``take_concurrency``, each checked against the plain model: a place is
    held while its stored job is unfinished (its own times say so, as the store keeps them),
    or, for a job never stored, for a minute; a request gets one when fewer than ``limit`` are
    held, and a refusal counts them exactly."""
    now = 0.0
    held: dict[str, float] = {}  # request id -> when its place was taken
    stored: list[str] = []
    answers = []
    for seq, op in enumerate(ops, start=1):
        if isinstance(op, Wait):
            now += op.seconds
            continue
        if isinstance(op, CancelJob):
            if stored:
                request_id = stored[op.index % len(stored)]
                job = await store.get_job(request_id)
                assert job is not None
                if job.canceled_at is None and job.finished_at > now:
                    await store.cancel(request_id, now, 1)
            continue
        ends: list[float] = []
        unstored = 0
        for request_id, taken in list(held.items()):
            job = await store.get_job(request_id)
            if job is None:
                if taken + 60.0 > now:
                    unstored += 1
                else:
                    del held[request_id]
                continue
            end = (
                job.finished_at
                if job.canceled_at is None
                else min(job.finished_at, job.canceled_at)
            )
            if end > now:
                ends.append(end)
            else:
                del held[request_id]
        active = len(ends) + unstored
        request_id = f"r{seq}"
        busy = await store.take_concurrency("k", request_id, limit, now)
        answers.append(busy)
        if active >= limit:
            wait = max(min(ends) - now, 0.001) if ends else 1.0
            assert busy == Busy(active, pytest.approx(wait)), (op, now, held)
            continue
        # Taken: places not yet due are not looked at, so the count may include ended jobs.
        assert busy.wait is None, (op, now, held)
        assert busy.active >= active + 1, (op, now, held)
        held[request_id] = now
        if op.stored:
            await store.schedule(make_job(seq, op.seconds, request_id=request_id), 1, now)
            stored.append(request_id)
    return answers


concurrency_ops = st.lists(
    st.one_of(
        st.builds(Take, st.sampled_from([1.0, 5.0, 30.0, 90.0]), st.booleans()),
        st.builds(CancelJob, st.integers(0, 20)),
        st.builds(Wait, st.sampled_from([0.0, 1.0, 5.0, 30.0, 60.0]) | st.floats(0, 100)),
    ),
    min_size=3,
    max_size=30,
)


@settings(max_examples=examples(), deadline=None)
@given(st.integers(1, 3), concurrency_ops)
def test_both_stores_hold_places_for_unfinished_jobs(
    redis_server: str, limit: int, ops: list[Take | CancelJob | Wait]
) -> None:
    async def run() -> list[list[Busy]]:
        redis = redis_store(redis_server, "places")
        try:
            await redis.reset()
            return [await _play(MemoryStore(), limit, ops), await _play(redis, limit, ops)]
        finally:
            await redis.close()

    in_memory, in_redis = asyncio.run(run())
    assert in_memory == in_redis
