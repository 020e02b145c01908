"""The stores' metric totals and pool gauges, in memory and in Redis (``store`` fixture).

Totals add up field by field and a reset forgets them; in Redis they live the store's time to
live from the last write. ``pool_stats`` agrees, at every instant, with the jobs' own states:
busy slots are the jobs ``IN_PROGRESS``, the waiting jobs those ``IN_QUEUE``.
"""

from __future__ import annotations

import random

import pytest
import redis

from emulator.domain.jobs import state_at
from emulator.domain.records import Job, Status
from emulator.store import Store
from emulator.store.base import PoolStats
from emulator.store.redis import GRACE, RedisStore
from emulator.store.url import RedisTarget
from tests.support.store import RESULT_TTL, make_job

pytestmark = pytest.mark.anyio

POOLS = ["seacloud:gpt_image_1", "seacloud:gpt_image_2", "odirouter:gpt_image_1"]


async def test_metric_totals_add_up_field_by_field(store: Store) -> None:
    assert await store.metric_totals() == {}
    await store.add_metrics({})
    await store.add_metrics({"req|seacloud|submit|200": 3, "usd|seacloud": 0.125})
    await store.add_metrics({"req|seacloud|submit|200": 2, "sec|seacloud|submit": 0.0004})
    await store.add_metrics({"usd|seacloud": 0.25, "rendered": 1})
    assert await store.metric_totals() == {
        "req|seacloud|submit|200": 5,
        "usd|seacloud": 0.375,
        "sec|seacloud|submit": pytest.approx(0.0004),
        "rendered": 1,
    }


async def test_a_reset_forgets_the_metric_totals(store: Store) -> None:
    await store.add_metrics({"rendered": 4})
    await store.schedule(make_job(1, 5.0), 2, 0.0)
    await store.reset()
    assert await store.metric_totals() == {}
    assert await store.pool_stats(POOLS, 0.0) == []


async def test_the_totals_live_the_time_to_live_from_the_last_write(redis_url: str) -> None:
    store = RedisStore(RedisTarget(redis_url, "default"), RESULT_TTL + GRACE)
    try:
        await store.add_metrics({"rendered": 1})
        client = redis.Redis.from_url(redis_url)
        try:
            client.pexpire("imgemu:{default}:metrics", 1000)
            await store.add_metrics({"rendered": 1})
            pttl = client.pttl("imgemu:{default}:metrics")
        finally:
            client.close()
        assert (RESULT_TTL + GRACE - 60) * 1000 < pttl <= (RESULT_TTL + GRACE) * 1000
        assert await store.metric_totals() == {"rendered": 2}
    finally:
        await store.close()


async def test_pool_stats_of_pools_never_used_are_left_out(store: Store) -> None:
    assert await store.pool_stats(POOLS, 0.0) == []
    await store.schedule(make_job(1, 5.0, model="gpt_image_2"), 3, 0.0)
    assert await store.pool_stats(POOLS, 1.0) == [
        PoolStats("seacloud:gpt_image_2", slots=3, busy=1, waiting=0)
    ]
    assert await store.pool_stats([], 1.0) == []


def expected_stats(
    jobs: dict[str, Job], pools: list[str], now: float
) -> dict[str, tuple[int, int]]:
    """(busy, waiting) per pool from the jobs' own states at ``now``."""
    found = {pool: (0, 0) for pool in pools}
    for job in jobs.values():
        if job.started_at is None:  # never takes a slot
            continue
        status = state_at(job, now).status
        busy, waiting = found[job.pool]
        found[job.pool] = (
            busy + (status is Status.IN_PROGRESS),
            waiting + (status is Status.IN_QUEUE),
        )
    return found


async def test_pool_stats_agree_with_the_jobs_states_at_every_instant(store: Store) -> None:
    """A busy, seeded run over two pools: submits, cancels, a refused job, the clock moving;
    after every step, and at a few later instants, the gauges match the jobs' states."""
    rng = random.Random(7)
    slots = 2
    now = 1_790_000_000.0
    jobs: dict[str, Job] = {}
    models = ["gpt_image_1", "gpt_image_2"]
    pools = [f"seacloud:{m}" for m in models]
    checked = 0
    for step in range(150):
        roll = rng.random()
        if roll < 0.55:
            seq = await store.next_seq()
            job = make_job(seq, rng.choice([0.5, 1.0, 2.5]), rng.choice(models), submitted_at=now)
            scheduled = await store.schedule(job, slots, now)
            jobs[scheduled.request_id] = scheduled
        elif roll < 0.65 and jobs:
            request_id = rng.choice(sorted(jobs))
            if not state_at(jobs[request_id], now).terminal:
                await store.cancel(request_id, now, slots)
        elif roll < 0.7:
            seq = await store.next_seq()
            refused = make_job(seq, 0.0, submitted_at=now, finished_at=now + 0.5)
            await store.put_job(refused)
            jobs[refused.request_id] = refused
        else:
            now += rng.choice([0.0, 0.25, 0.5, 1.0])
        # Cancels move other jobs: read every job back as the store has it now.
        for request_id in jobs:
            found = await store.get_job(request_id)
            assert found is not None
            jobs[request_id] = found
        for later in (now, now + 0.5) if step % 10 else (now, now + 0.5, now + 3.0, now + 100.0):
            stats = {s.pool: (s.busy, s.waiting) for s in await store.pool_stats(pools, later)}
            assert set(stats) == {j.pool for j in jobs.values() if j.started_at is not None}
            expected = expected_stats(jobs, pools, later)
            assert stats == {pool: expected[pool] for pool in stats}, (step, later)
            assert all(busy <= slots for busy, _ in stats.values())
            checked += 1
    assert checked > 300
    assert all(s.slots == slots for s in await store.pool_stats(pools, now))
