"""The store's behaviour, held to the same tests in memory and in Redis.

FIFO pools over their slots, start times, queue positions and cancel moving jobs up; sequence
numbers, rate windows, balances, uploads, tasks, the control plane's listing, reset. The
``store`` fixture (tests/plugins/stores.py) runs each test once per store.
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from emulator.domain.jobs import state_at
from emulator.domain.records import ErrorType, Generation, Job, Status, Task, Usage
from emulator.store import Store
from tests.support.store import make_job

pytestmark = pytest.mark.anyio


async def submit_all(store: Store, seconds: list[float], slots: int, now: float = 0.0) -> list[Job]:
    return [
        await store.schedule(make_job(i, s), slots, now) for i, s in enumerate(seconds, start=1)
    ]


def a_task(task_id: str = "task-1") -> Task:
    generation = Generation(
        request_id="req_1", provider="aa", kind="aa.generate", model="gpt-image-2",
        params={"prompt": "a lighthouse", "n": 1, "size": "1024x1024"}, created=1_790_000_000,
        started_at=1_790_000_000.25, finishes_at=1_790_000_012.5, width=1024, height=1024,
        quality="medium", background="opaque", output_format="png", n=1, stream=False,
        partial_images=0, usage=Usage(10, 0, 1056), seed=7, outcome=None,
        base=b"\x89PNG base", mask=b"\x89PNG mask", inputs=1,
    )  # fmt: skip
    return Task(task_id=task_id, owner="owner-1", generation=generation)


# -- pools, slots and queue positions -----------------------------------------------------------


async def test_fifo_over_two_slots(store: Store) -> None:
    jobs = await submit_all(store, [10, 20, 5, 5], slots=2)
    assert [(j.started_at, j.finished_at) for j in jobs] == [(0, 10), (0, 20), (10, 15), (15, 20)]
    positions = [await store.queue_position(j, 0.0) for j in jobs]
    assert positions == [0, 0, 0, 1]
    assert await store.queue_position(jobs[3], 12.0) == 0  # job 3 started at 10
    assert await store.queue_position(jobs[3], 15.0) == 0


async def test_scheduled_jobs_are_kept_with_their_times(store: Store) -> None:
    jobs = await submit_all(store, [10, 20, 5], slots=1)
    for scheduled in jobs:
        assert await store.get_job(scheduled.request_id) == scheduled
    assert await store.get_job("nobody") is None


async def test_a_later_submission_waits_for_the_earliest_free_slot(store: Store) -> None:
    await submit_all(store, [10, 20], slots=2)
    late = await store.schedule(make_job(3, 4), 2, 12.0)  # slot 1 freed at 10
    assert (late.started_at, late.finished_at) == (12.0, 16.0)
    later = await store.schedule(make_job(4, 4), 2, 13.0)  # next slot frees at 16
    assert (later.started_at, later.finished_at) == (16.0, 20.0)
    assert await store.queue_position(later, 13.0) == 0


async def test_pools_are_separate(store: Store) -> None:
    a = await store.schedule(make_job(1, 10, "gpt_image_1"), 1, 0.0)
    b = await store.schedule(make_job(2, 10, "gpt_image_2"), 1, 0.0)
    assert a.started_at == b.started_at == 0.0


async def test_equal_start_times_queue_by_seq(store: Store) -> None:
    # Three slots free at 10 together: the jobs that take them start at the same instant.
    jobs = await submit_all(store, [10, 10, 10, 1, 1, 1, 1], slots=3)
    assert [j.started_at for j in jobs[3:]] == [10, 10, 10, 11]
    assert [await store.queue_position(j, 5.0) for j in jobs[3:]] == [0, 1, 2, 3]


async def test_queue_positions_count_only_jobs_still_waiting(store: Store) -> None:
    jobs = await submit_all(store, [10, 10, 10, 10], slots=1)
    assert [await store.queue_position(j, 0.0) for j in jobs] == [0, 0, 1, 2]
    assert [await store.queue_position(j, 10.0) for j in jobs] == [0, 0, 0, 1]
    assert [await store.queue_position(j, 30.0) for j in jobs] == [0, 0, 0, 0]


async def test_job_status_reads_the_job_and_its_position_at_once(store: Store) -> None:
    jobs = await submit_all(store, [10, 10, 10, 10], slots=1)
    for now in (0.0, 5.0, 10.0, 25.0, 40.0):
        for job in jobs:
            assert await store.job_status(job.request_id, now) == (
                job,
                await store.queue_position(job, now),
            )
    assert await store.job_status("nobody", 0.0) is None


# -- cancel -------------------------------------------------------------------------------------


async def test_cancel_of_a_waiting_job_moves_later_jobs_up(store: Store) -> None:
    jobs = await submit_all(store, [10, 10, 10, 10], slots=1)
    assert await store.queue_position(jobs[3], 1.0) == 2
    canceled = await store.cancel("r2", 1.0, slots=1)
    assert canceled == replace(jobs[1], canceled_at=1.0)
    moved = [await store.get_job(f"r{i}") for i in (3, 4)]
    assert [(j.started_at, j.finished_at) for j in moved if j] == [(10, 20), (20, 30)]
    assert await store.queue_position(moved[1], 1.0) == 1  # type: ignore[arg-type]
    stored = await store.get_job("r2")
    assert stored == canceled
    assert state_at(stored, 1.0).error_type == "CANCELED"


async def test_cancel_of_a_running_job_frees_its_slot_now(store: Store) -> None:
    await submit_all(store, [10, 10], slots=1)
    await store.cancel("r1", 4.0, slots=1)
    second = await store.get_job("r2")
    assert second is not None
    assert (second.started_at, second.finished_at) == (4.0, 14.0)
    assert state_at(second, 4.0).status is Status.IN_PROGRESS
    third = await store.schedule(make_job(3, 1), 1, 5.0)  # the pool goes on from the new plan
    assert (third.started_at, third.finished_at) == (14.0, 15.0)


async def test_cancel_over_several_slots_keeps_fifo(store: Store) -> None:
    await submit_all(store, [10, 20, 5, 5, 5, 5], slots=2)
    await store.cancel("r1", 2.0, slots=2)  # running: its slot is free from 2
    times = [await store.get_job(f"r{i}") for i in range(2, 7)]
    assert [(j.started_at, j.finished_at) for j in times if j] == [
        (0, 20), (2, 7), (7, 12), (12, 17), (17, 22),
    ]  # fmt: skip
    assert [await store.queue_position(j, 2.0) for j in times if j] == [0, 0, 0, 1, 2]
    later = await store.schedule(make_job(7, 1), 2, 3.0)
    assert (later.started_at, later.finished_at) == (20.0, 21.0)


async def test_cancel_of_a_job_that_never_took_a_slot(store: Store) -> None:
    refused = make_job(1, 0, finished_at=0.5, error_type=ErrorType.REQUEST_INVALID, error="bad")
    await store.put_job(refused)
    canceled = await store.cancel("r1", 0.25, slots=1)
    assert canceled.canceled_at == 0.25
    assert await store.get_job("r1") == canceled


# -- records, sequence, listing ------------------------------------------------------------------


async def test_put_job_keeps_every_field(store: Store) -> None:
    job = make_job(
        7, 0, params={"prompt": "p", "n": 2, "nested": [1, 2.5, None, {"k": True}]},
        finished_at=3.5, error_type=ErrorType.CONTENT_BLOCKED, error="blocked", n_outputs=2,
        width=1024, height=1536, output_format="webp", inputs=(b"\x00\x01image\n",),
        mask=b"mask\x00", service_seconds=0.0,
    )  # fmt: skip
    await store.put_job(job)
    assert await store.get_job("r7") == job
    assert await store.job_status("r7", 0.0) == (job, 0)


async def test_next_seq_counts_from_one(store: Store) -> None:
    assert [await store.next_seq() for _ in range(3)] == [1, 2, 3]


async def test_jobs_are_listed_in_sequence_order(store: Store) -> None:
    jobs = await submit_all(store, [1, 2, 3, 4, 5], slots=2)
    assert await store.job_count() == 5
    assert await store.jobs() == jobs
    assert await store.jobs(1, 2) == jobs[1:3]
    assert await store.jobs(4) == jobs[4:]
    assert await store.jobs(9) == []
    canceled = await store.cancel("r5", 0.0, slots=2)
    assert (await store.jobs(4, 1)) == [canceled]


# -- rate windows and balances --------------------------------------------------------------------


async def test_rate_window(store: Store) -> None:
    assert await store.take_rate_slot("k", 2, 60, 0.0) is None
    assert await store.take_rate_slot("k", 2, 60, 1.0) is None
    assert await store.take_rate_slot("k", 2, 60, 2.0) == pytest.approx(58.0)
    assert await store.take_rate_slot("other", 2, 60, 2.0) is None  # windows are per key
    assert await store.take_rate_slot("k", 2, 60, 60.0) is None  # the first hit left the window
    assert await store.take_rate_slot("k", 2, 60, 60.0) == pytest.approx(1.0)
    assert await store.take_rate_slot("k", 2, 60, 61.0) is None


async def test_a_refused_hit_waits_at_least_a_millisecond(store: Store) -> None:
    assert await store.take_rate_slot("k", 1, 1.0, 5.0) is None
    assert await store.take_rate_slot("k", 1, 1.0, 5.9999999) == pytest.approx(0.001)


async def test_hits_at_one_instant_count_one_each(store: Store) -> None:
    for _ in range(3):
        assert await store.take_rate_slot("k", 3, 10, 7.0) is None
    assert await store.take_rate_slot("k", 3, 10, 7.0) == pytest.approx(10.0)


async def test_balances(store: Store) -> None:
    assert await store.charge("a", 5.0, None) is True  # unlimited
    assert await store.balance("a") is None
    assert await store.charge("b", 0.6, 1.0) is True  # starts from the default
    assert await store.charge("b", 0.6, 1.0) is False  # short: nothing taken
    assert await store.balance("b") == pytest.approx(0.4)
    await store.set_balance("c", 0.25)
    assert await store.charge("c", 0.25, None) is True
    assert await store.balance("c") == 0.0
    assert await store.charge("c", 0.01, 100.0) is False  # a set balance wins over the default


async def test_a_short_first_charge_still_opens_the_default_balance(store: Store) -> None:
    assert await store.charge("d", 2.0, 1.0) is False
    assert await store.balance("d") == 1.0


# -- uploads and tasks ----------------------------------------------------------------------------


async def test_uploads(store: Store) -> None:
    data = bytes(range(256)) * 4
    await store.put_upload("owner", "file-1", data)
    assert await store.get_upload("owner", "file-1") == data
    assert await store.get_upload("owner", "file-2") is None


async def test_an_upload_is_its_owners_only(store: Store) -> None:
    await store.put_upload("alice", "file-1", b"alice's")
    await store.put_upload("bob", "file-1", b"bob's")  # the same id is another file for bob
    assert await store.get_upload("alice", "file-1") == b"alice's"
    assert await store.get_upload("bob", "file-1") == b"bob's"
    assert await store.get_upload("carol", "file-1") is None


# -- the signing key ------------------------------------------------------------------------------


async def test_the_first_signing_key_offered_is_everyones_and_a_reset_keeps_it(
    store: Store,
) -> None:
    first, second = b"\x00" * 31 + b"\xff", bytes(range(32))  # any bytes
    assert await store.signing_key(first) == first
    assert await store.signing_key(second) == first
    await store.reset()
    assert await store.signing_key(second) == first


async def test_tasks(store: Store) -> None:
    task = a_task()
    await store.put_task(task)
    assert await store.get_task("task-1") == task
    assert await store.get_task("task-2") is None


# -- reset ----------------------------------------------------------------------------------------


async def test_reset_forgets_everything(store: Store) -> None:
    await store.next_seq()
    await submit_all(store, [10, 10], slots=1)
    await store.take_rate_slot("k", 1, 60, 0.0)
    await store.set_balance("b", 1.0)
    await store.put_upload("owner", "f", b"x")
    await store.put_task(a_task())
    await store.reset()
    assert await store.get_job("r1") is None
    assert await store.job_count() == 0
    assert await store.jobs() == []
    assert await store.next_seq() == 1
    assert await store.take_rate_slot("k", 1, 60, 0.0) is None
    assert await store.balance("b") is None
    assert await store.get_upload("owner", "f") is None
    assert await store.get_task("task-1") is None
    fresh = await store.schedule(make_job(1, 5), 1, 0.0)  # the pool starts over, slots free
    assert (fresh.started_at, fresh.finished_at) == (0.0, 5.0)
