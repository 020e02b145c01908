"""Bounded state: every record expires ``ttl`` (``result_ttl`` plus ``GRACE``) after it is done.

Both stores forget jobs, tasks, uploads and balances once their time is up (Redis by its keys'
times to live, so that case runs on the wall clock with a short ``ttl``). The memory store's
own cases run on a clock the test moves: reads answer as for an unknown record from the very
instant of expiry, dropping is spread over calls, the pools' bookkeeping lets go of dropped
jobs, and a store that forgets answers every live record as one that never forgets.
"""

from __future__ import annotations

import asyncio
import math
import time
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from emulator.domain.records import GRACE, Generation, Task, Usage
from emulator.store import MemoryStore, Store, open_store
from emulator.store.memory import SWEEP
from emulator.store.redis import RedisStore
from emulator.store.url import RedisTarget
from tests.support.store import make_job

pytestmark = pytest.mark.anyio

TTL = 100.0


class Clock:
    """A clock the test moves: the store's ``now`` where a call brings none."""

    def __init__(self, now: float = 0.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def a_task(task_id: str, started: float, seconds: float) -> Task:
    generation = Generation(
        request_id="req_" + task_id, provider="aa", kind="aa.generate", model="gpt-image-2",
        params={"prompt": "a lighthouse"}, created=int(started), started_at=started,
        finishes_at=started + seconds, width=1024, height=1024, quality="low",
        background="opaque", output_format="png", n=1, stream=False, partial_images=0,
        usage=Usage(1, 0, 1), seed=7,
    )  # fmt: skip
    return Task(task_id=task_id, owner="o", generation=generation)


def bounded(now: float = 0.0, **options: Any) -> tuple[MemoryStore, Clock]:
    clock = Clock(now)
    return MemoryStore(TTL, clock, **options), clock


# -- both stores, on the wall clock ---------------------------------------------------------------


@pytest.fixture(params=["memory", "redis"])
async def short_lived(request: pytest.FixtureRequest) -> Any:
    """A store of each kind whose records live 0.3 s after they are done (real time)."""
    if request.param == "memory":
        yield MemoryStore(0.3, time.time)
        return
    store = RedisStore(RedisTarget(request.getfixturevalue("redis_url"), "bounds"), 0.3)
    try:
        yield store
    finally:
        await store.close()


async def test_every_record_expires_in_both_stores(short_lived: Store) -> None:
    store = short_lived
    now = time.time()
    jobs = [await store.schedule(make_job(i, 0.01, submitted_at=now), 2, now) for i in (1, 2)]
    refused = make_job(3, 0.0, submitted_at=now, finished_at=now + 0.01)
    await store.put_job(refused)
    await store.put_task(a_task("task_1", now, 0.01))
    await store.put_upload("owner", "file-1", b"bytes")
    await store.set_balance("owner", 5.0)
    assert await store.charge("other", 1.0, 3.0)
    assert await store.get_job("r1") == jobs[0]
    assert await store.job_count() == 3
    assert await store.balance("other") == 2.0
    await asyncio.sleep(0.5)
    now = time.time()
    assert await store.get_job("r1") is None
    assert await store.get_job("r3") is None
    assert await store.job_status("r2", now) is None
    assert await store.get_task("task_1") is None
    assert await store.get_upload("owner", "file-1") is None
    assert await store.balance("owner") is None
    assert await store.balance("other") is None
    assert await store.jobs() == []
    assert await store.job_count() == 0
    # A forgotten balance opens again at the default, as a key never seen does.
    assert await store.charge("other", 1.0, 3.0)
    assert await store.balance("other") == 2.0


def test_both_stores_keep_records_result_ttl_plus_the_grace() -> None:
    store = open_store("memory", 3600.0, Clock())
    assert isinstance(store, MemoryStore)
    assert store.ttl == 3600.0 + GRACE
    assert GRACE == 60.0
    assert open_store("memory", 3600.0).ttl == math.inf  # type: ignore[attr-defined]


# -- the memory store on a clock the test moves ------------------------------------------------


def test_a_store_that_forgets_needs_the_clock() -> None:
    with pytest.raises(ValueError, match="needs the clock"):
        MemoryStore(TTL)


async def test_a_job_is_found_until_the_instant_it_expires() -> None:
    store, clock = bounded()
    job = await store.schedule(make_job(1, 10.0), 1, 0.0)
    clock.now = 10.0 + TTL - 1e-6
    assert await store.get_job("r1") == job
    assert await store.job_status("r1", clock.now) == (job, 0)
    clock.now = 10.0 + TTL
    # Not yet dropped (nothing has swept), but no read finds it.
    assert "r1" in store._jobs
    assert await store.get_job("r1") is None
    assert await store.job_status("r1", clock.now) is None
    assert await store.jobs() == []
    assert await store.job_count() == 0
    assert store._jobs == {}


async def test_a_job_a_cancel_moved_earlier_keeps_its_first_expiry_as_in_redis() -> None:
    store, clock = bounded()
    await store.schedule(make_job(1, 10.0), 1, 0.0)
    await store.schedule(make_job(2, 10.0), 1, 0.0)  # waits: 10 to 20
    await store.cancel("r1", 1.0, 1)  # r2 now runs 1 to 11
    clock.now = 15.0 + TTL
    moved = await store.get_job("r2")
    assert moved is not None
    assert moved.finished_at == 11.0
    assert await store.job_status("r2", clock.now) == (moved, 0)
    assert await store.job_count() == 1  # r1 (canceled, due at 10 + TTL) is dropped
    clock.now = 20.0 + TTL
    assert await store.get_job("r2") is None
    assert await store.job_count() == 0
    assert store._moved == {}


async def test_the_pool_lets_go_of_finished_jobs_when_it_schedules() -> None:
    store, _ = bounded()
    for i in (1, 2, 3):
        await store.schedule(make_job(i, 1.0), 1, 0.0)
    await store.schedule(make_job(4, 1.0), 1, 5.0)
    assert list(store._pools["seacloud:gpt_image_1"].active) == ["r4"]


async def test_dropping_is_spread_over_calls() -> None:
    store, clock = bounded()
    for i in range(1, 101):
        await store.schedule(make_job(i, 1.0), 100, 0.0)
    clock.now = 1.0 + TTL
    await store.schedule(make_job(101, 1.0), 100, clock.now)
    assert len(store._jobs) == 101 - SWEEP  # one call drops at most SWEEP records
    for _ in range(10):
        await store.job_status("r101", clock.now)  # reads that bring ``now`` sweep too
    assert set(store._jobs) == {"r101"}
    pool = store._pools["seacloud:gpt_image_1"]
    assert list(pool.active) == ["r101"]
    assert pool.starts == []


async def test_a_pool_whose_jobs_were_dropped_schedules_and_cancels_as_before() -> None:
    store, clock = bounded()
    # One slot: r1 runs, r2 and r3 wait; all expire, then the pool takes new work.
    for i, seconds in ((1, 5.0), (2, 5.0), (3, 5.0)):
        await store.schedule(make_job(i, seconds), 1, 0.0)
    clock.now = 15.0 + TTL
    assert await store.job_count() == 0
    pool = store._pools["seacloud:gpt_image_1"]
    assert not pool.active
    assert not pool.starts
    now = clock.now
    a, b, c = [await store.schedule(make_job(i, 10.0), 1, now) for i in (4, 5, 6)]
    assert (a.started_at, b.started_at, c.started_at) == (now, now + 10.0, now + 20.0)
    assert await store.queue_position(c, now) == 1
    await store.cancel("r4", now + 1.0, 1)
    moved = [await store.get_job(request_id) for request_id in ("r5", "r6")]
    assert [job and job.started_at for job in moved] == [now + 1.0, now + 11.0]


async def test_tasks_uploads_and_balances_expire_on_the_clock() -> None:
    store, clock = bounded(1000.0)
    await store.put_task(a_task("task_1", 1000.0, 30.0))
    await store.put_upload("owner", "file-1", b"x" * 10)
    await store.set_balance("owner", 5.0)
    clock.now = 1000.0 + TTL - 1.0
    assert await store.get_upload("owner", "file-1") == b"x" * 10
    assert not await store.charge("owner", 9.0, None)  # refused, but it renews the balance
    assert await store.get_task("task_1") is not None
    clock.now = 1000.0 + TTL
    assert await store.get_upload("owner", "file-1") is None
    assert await store.balance("owner") == 5.0
    assert await store.get_task("task_1") is not None  # it finished 30 s after it started
    clock.now = 1030.0 + TTL
    assert await store.get_task("task_1") is None
    await store.put_upload("owner", "file-2", b"y")  # a write drops what is due
    assert set(store._tasks) == set()
    assert list(store._uploads) == [("owner", "file-2")]
    clock.now = 1000.0 + 2 * TTL - 1.0
    assert await store.balance("owner") is None
    await store.set_balance("another", 1.0)
    assert set(store._balances) == {"another"}


async def test_uploads_are_bounded_in_bytes_oldest_first() -> None:
    store, _clock = bounded(upload_bytes=100)
    for i in range(5):
        await store.put_upload("owner", f"file-{i}", bytes(30))
    assert [name for _, name in store._uploads] == ["file-2", "file-3", "file-4"]
    assert await store.get_upload("owner", "file-1") is None
    assert await store.get_upload("owner", "file-4") == bytes(30)
    await store.put_upload("owner", "big", bytes(500))  # the newest is kept whatever its size
    assert list(store._uploads) == [("owner", "big")]
    assert await store.get_upload("owner", "big") == bytes(500)


async def test_idle_rate_windows_are_dropped() -> None:
    store, _ = bounded()
    for i in range(50):
        assert await store.take_rate_slot(f"key-{i}", 2, 10.0, 0.0) is None
    assert await store.take_rate_slot("busy", 1, 10.0, 5.0) is None
    assert await store.take_rate_slot("busy", 1, 10.0, 6.0) == pytest.approx(9.0)
    for _ in range(4):  # each call drops up to SWEEP idle windows
        assert await store.take_rate_slot("busy", 1, 10.0, 14.0) == pytest.approx(1.0)
    assert list(store._windows) == ["busy"]
    assert await store.take_rate_slot("key-0", 2, 10.0, 15.0) is None  # a fresh window


async def test_a_reset_keeps_the_bounds() -> None:
    store, clock = bounded(upload_bytes=10)
    await store.reset()
    await store.put_job(make_job(1, 0.0, finished_at=1.0))
    clock.now = 1.0 + TTL
    assert await store.get_job("r1") is None
    assert store.upload_bytes == 10


# -- a store that forgets answers as one that never does, for every live record -----------------

operations = st.lists(
    st.one_of(
        st.tuples(st.just("submit"), st.floats(0.5, 60.0), st.sampled_from(["m1", "m2"])),
        st.tuples(st.just("cancel"), st.integers(0, 40), st.just("")),
        st.tuples(st.just("advance"), st.floats(0.0, 3 * TTL), st.just("")),
    ),
    max_size=60,
)


@given(ops=operations)
def test_live_records_answer_as_in_a_store_that_never_forgets(
    ops: list[tuple[str, Any, str]],
) -> None:
    asyncio.run(_replay(ops))


async def _replay(ops: list[tuple[str, Any, str]]) -> None:
    forgetting, clock = bounded()
    keeping = MemoryStore()
    slots = 2
    expiry: dict[str, float] = {}  # ttl after the finish each job was first given
    for kind, value, model in ops:
        now = clock.now
        if kind == "submit":
            job = make_job(len(expiry) + 1, value, model, submitted_at=now)
            a = await forgetting.schedule(job, slots, now)
            assert a == await keeping.schedule(job, slots, now)
            expiry[a.request_id] = a.finished_at + TTL
        elif kind == "cancel" and expiry:
            request_id = list(expiry)[value % len(expiry)]
            found = await forgetting.get_job(request_id)
            if found is not None and found.canceled_at is None and found.finished_at > now:
                canceled = await keeping.cancel(request_id, now, slots)
                assert await forgetting.cancel(request_id, now, slots) == canceled
        elif kind == "advance":
            clock.now += value
        now = clock.now
        for request_id, until in expiry.items():
            kept = await keeping.job_status(request_id, now)
            assert kept is not None
            status = kept if until > now else None
            assert await forgetting.job_status(request_id, now) == status, (request_id, now)
            assert await forgetting.get_job(request_id) == (status and status[0])
    live = [job for job in await keeping.jobs() if expiry[job.request_id] > clock.now]
    assert await forgetting.jobs() == live
    assert await forgetting.job_count() == len(live)
    assert len(forgetting._jobs) == len(live)
