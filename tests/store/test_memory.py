"""The memory store's FIFO pools: start times, queue positions, and cancel moving jobs up."""

from __future__ import annotations

import pytest

from emulator.domain.jobs import state_at
from emulator.domain.records import Job, Status
from emulator.store import MemoryStore

pytestmark = pytest.mark.anyio


def job(seq: int, seconds: float, pool_model: str = "gpt_image_1") -> Job:
    return Job(
        request_id=f"r{seq}",
        provider="seacloud",
        model=pool_model,
        owner="o",
        seq=seq,
        params={},
        submitted_at=0.0,
        started_at=None,
        finished_at=0.0,
        service_seconds=seconds,
    )


async def submit_all(
    store: MemoryStore, seconds: list[float], slots: int, now: float = 0.0
) -> list[Job]:
    return [await store.schedule(job(i, s), slots, now) for i, s in enumerate(seconds, start=1)]


async def test_fifo_over_two_slots() -> None:
    store = MemoryStore()
    jobs = await submit_all(store, [10, 20, 5, 5], slots=2)
    assert [(j.started_at, j.finished_at) for j in jobs] == [(0, 10), (0, 20), (10, 15), (15, 20)]
    positions = [await store.queue_position(j, 0.0) for j in jobs]
    assert positions == [0, 0, 0, 1]
    assert await store.queue_position(jobs[3], 12.0) == 0  # job 3 started at 10
    assert await store.queue_position(jobs[3], 15.0) == 0


async def test_pools_are_separate() -> None:
    store = MemoryStore()
    a = await store.schedule(job(1, 10, "gpt_image_1"), 1, 0.0)
    b = await store.schedule(job(2, 10, "gpt_image_2"), 1, 0.0)
    assert a.started_at == b.started_at == 0.0


async def test_cancel_of_a_waiting_job_moves_later_jobs_up() -> None:
    store = MemoryStore()
    jobs = await submit_all(store, [10, 10, 10, 10], slots=1)
    assert await store.queue_position(jobs[3], 1.0) == 2
    await store.cancel("r2", 1.0, slots=1)
    moved = [await store.get_job(f"r{i}") for i in (3, 4)]
    assert [(j.started_at, j.finished_at) for j in moved if j] == [(10, 20), (20, 30)]
    assert await store.queue_position(moved[1], 1.0) == 1  # type: ignore[arg-type]
    canceled = await store.get_job("r2")
    assert canceled is not None
    assert state_at(canceled, 1.0).error_type == "CANCELED"


async def test_cancel_of_a_running_job_frees_its_slot_now() -> None:
    store = MemoryStore()
    await submit_all(store, [10, 10], slots=1)
    await store.cancel("r1", 4.0, slots=1)
    second = await store.get_job("r2")
    assert second is not None
    assert (second.started_at, second.finished_at) == (4.0, 14.0)
    assert state_at(second, 4.0).status is Status.IN_PROGRESS


async def test_rate_window_and_balances() -> None:
    store = MemoryStore()
    assert await store.take_rate_slot("k", 2, 60, 0.0) is None
    assert await store.take_rate_slot("k", 2, 60, 1.0) is None
    assert await store.take_rate_slot("k", 2, 60, 2.0) == pytest.approx(58.0)
    assert await store.take_rate_slot("k", 2, 60, 60.0) is None  # the first hit left the window
    assert await store.charge("a", 5.0, None) is True  # unlimited
    assert await store.charge("b", 0.6, 1.0) is True
    assert await store.charge("b", 0.6, 1.0) is False
    assert await store.balance("b") == pytest.approx(0.4)
