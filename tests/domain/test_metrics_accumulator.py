"""The local accumulator: what a count becomes in the store's fields, flushes (scheduled, on
close, failed and given back), the totals read back, and jobs by state from the pools."""

from __future__ import annotations

import asyncio
import math
from collections.abc import Mapping

import pytest

from emulator.domain.metrics import BUCKETS, Metrics, Totals, jobs_by_state
from emulator.domain.records import Status
from emulator.store import MemoryStore
from emulator.store.base import PoolStats

pytestmark = pytest.mark.anyio


def test_a_request_counts_its_status_bucket_and_seconds() -> None:
    metrics = Metrics(MemoryStore())
    meter = metrics.meter("seacloud", "status")
    assert metrics.meter("seacloud", "status") is meter  # one per operation
    meter.observe(200, 0.001)  # on a bound: in that bucket (le: at most)
    meter.observe(200, 0.0011)
    meter.observe(404, 1000.0)  # beyond the last finite bound
    metrics.charged("seacloud", 0.5)
    metrics.submitted("seacloud")
    metrics.rendered()
    metrics.served("file", 1234)
    deltas = metrics.take()
    assert deltas == {
        "req|seacloud|status|200": 2,
        "req|seacloud|status|404": 1,
        "le|seacloud|status|0.001": 1,
        "le|seacloud|status|0.0025": 1,
        "le|seacloud|status|inf": 1,
        "sec|seacloud|status": pytest.approx(1000.0021),
        "usd|seacloud": 0.5,
        "jobs|seacloud": 1,
        "rendered": 1,
        "served|file": 1,
        "bytes|file": 1234,
    }
    assert metrics.take() == {}  # counting starts again from zero


def test_totals_read_back_with_cumulative_buckets() -> None:
    totals = Totals.parse(
        {
            "req|openai|images.generate|200": 3,
            "le|openai|images.generate|0.5": 1,
            "le|openai|images.generate|10.0": 2,
            "sec|openai|images.generate": 12.5,
            "usd|openai": 0.25,
            "served|b64": 3,
            "bytes|b64": 300,
            "from|a|newer|version": 1,  # a field of another shape is skipped
        }
    )
    assert totals.requests == {("openai", "images.generate", "200"): 3}
    assert totals.usd == {"openai": 0.25}
    assert (totals.served, totals.served_bytes) == ({"b64": 3}, {"b64": 300})
    buckets, seconds = totals.histogram("openai", "images.generate")
    assert seconds == 12.5
    assert [bound for bound, _ in buckets] == list(BUCKETS)
    cumulative = dict(buckets)
    assert (cumulative[0.25], cumulative[0.5], cumulative[5.0], cumulative[10.0]) == (0, 1, 1, 3)
    assert cumulative[math.inf] == 3


class FailingStore(MemoryStore):
    def __init__(self) -> None:
        super().__init__()
        self.failing = True
        self.attempts = 0

    async def add_metrics(self, deltas: Mapping[str, float]) -> None:
        self.attempts += 1
        if self.failing:
            raise ConnectionError("the store is down")
        await super().add_metrics(deltas)


async def test_a_failed_flush_loses_nothing() -> None:
    store = FailingStore()
    metrics = Metrics(store)
    metrics.rendered()
    with pytest.raises(ConnectionError):
        await metrics.flush()
    metrics.rendered()
    store.failing = False
    await metrics.flush()
    assert await store.metric_totals() == {"rendered": 2}


async def test_counts_reach_the_store_by_themselves_and_on_close() -> None:
    store = MemoryStore()
    metrics = Metrics(store, flush_seconds=0.01)
    metrics.meter("aa", "aa.task").observe(200, 0.0001)
    assert metrics.flush_due
    for _ in range(200):
        if await store.metric_totals():
            break
        await asyncio.sleep(0.005)
    assert (await store.metric_totals())["req|aa|aa.task|200"] == 1
    assert not metrics.flush_due
    # On close the scheduled flush is called off and what is left goes at once.
    metrics.flush_seconds = 3600.0
    metrics.rendered()
    await metrics.close()
    assert (await store.metric_totals())["rendered"] == 1
    assert not metrics.flush_due


async def test_a_flush_that_fails_in_the_background_tries_again(
    caplog: pytest.LogCaptureFixture,
) -> None:
    store = FailingStore()
    metrics = Metrics(store, flush_seconds=0.01)
    metrics.rendered()
    for _ in range(400):  # failed, given back, scheduled again: tried again and again
        if store.attempts >= 3:
            break
        await asyncio.sleep(0.005)
    assert store.attempts >= 3
    assert caplog.text.count("cannot flush to the store") == 1  # said once
    store.failing = False
    for _ in range(200):
        if await store.metric_totals():
            break
        await asyncio.sleep(0.005)
    assert await store.metric_totals() == {"rendered": 1}
    await metrics.close()


def test_jobs_by_state_come_from_the_pools_and_the_jobs_submitted() -> None:
    pools = [
        PoolStats("seacloud:gpt_image_1", slots=2, busy=2, waiting=3),
        PoolStats("seacloud:gpt_image_2", slots=4, busy=1, waiting=0),
        PoolStats("odirouter:gpt_image_1", slots=2, busy=1, waiting=0),
    ]
    states = jobs_by_state(("seacloud", "odirouter"), {"seacloud": 10}, pools)
    assert states["seacloud"] == {Status.IN_QUEUE: 3, Status.IN_PROGRESS: 3, Status.COMPLETED: 4}
    # Another process's submits not flushed yet: never below zero.
    assert states["odirouter"] == {Status.IN_QUEUE: 0, Status.IN_PROGRESS: 1, Status.COMPLETED: 0}
