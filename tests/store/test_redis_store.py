"""What only the Redis store has to show: it computes what the memory store computes, stays
right when several processes (connection pools) race on it, keeps its keys in a namespace
with a time to live, and says clearly when it cannot be reached."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
import redis
from hypothesis import given, settings
from hypothesis import strategies as st

from emulator.domain.records import Job
from emulator.store import MemoryStore, Store, StoreUnavailable, open_store
from emulator.store.base import Window
from emulator.store.redis import GRACE, RedisStore
from emulator.store.url import RedisTarget, parse
from tests.helpers import examples
from tests.store.test_store import a_task
from tests.support.store import RESULT_TTL, make_job


def redis_store(
    url: str,
    namespace: str = "default",
    ttl: float = RESULT_TTL + GRACE,
    upload_bytes: int | None = None,
) -> RedisStore:
    store = RedisStore(RedisTarget(url, namespace), ttl, upload_bytes)
    store.check()
    return store


def keys_of(url: str) -> dict[str, int]:
    """Every key in the server's database and its time to live in milliseconds."""
    client = redis.Redis.from_url(url, decode_responses=True)
    try:
        return {key: client.pttl(key) for key in client.scan_iter(count=1000)}
    finally:
        client.close()


@pytest.fixture
async def store(redis_url: str) -> AsyncIterator[RedisStore]:
    opened = redis_store(redis_url)
    try:
        yield opened
    finally:
        await opened.close()


# -- keys: namespaced, every one with a time to live ----------------------------------------------


@pytest.mark.anyio
async def test_every_key_written_has_a_time_to_live(store: RedisStore, redis_url: str) -> None:
    await store.next_seq()
    await store.put_job(make_job(1, 0, request_id="refused", finished_at=0.5))
    for seq, seconds in enumerate([10.0, 20.0, 30.0], start=2):
        await store.schedule(make_job(seq, seconds), 1, 0.0)
    await store.cancel("r3", 1.0, 1)
    await store.take_rate_slot("key", 5, 60.0, 0.0)
    await store.take_windows([Window("rpm", 5, 60.0), Window("ipm", 5, 60.0, 3)], 0.0)
    await store.take_concurrency("owner", "r2", 5, 0.0)
    await store.charge("owner", 0.5, 2.0)
    await store.set_balance("other", 1.0)
    await store.put_upload("owner", "file", b"data")
    await store.put_task(a_task())
    found = keys_of(redis_url)
    kinds = {key.split(":", 2)[2].split(":")[0] for key in found}
    assert kinds == {
        "seq",
        "jobs",
        "job",
        "free",
        "starts",
        "active",
        "rate",
        "held",
        "bal",
        "upload",
        "uploads",
        "task",
    }
    ttl_ms = (RESULT_TTL + GRACE) * 1000
    for key, pttl in found.items():
        assert key.startswith("imgemu:{default}:"), key
        # At least the store's time to live, at most that plus the longest job's own time.
        assert ttl_ms - 60_000 < pttl <= ttl_ms + 61_000, (key, pttl)


@pytest.mark.anyio
async def test_a_job_lives_its_time_to_finish_beyond_the_time_to_live(
    store: RedisStore, redis_url: str
) -> None:
    await store.schedule(make_job(1, 5000.0), 1, 0.0)
    pttl = keys_of(redis_url)["imgemu:{default}:job:r1"]
    assert (RESULT_TTL + GRACE + 4990) * 1000 < pttl <= (RESULT_TTL + GRACE + 5000) * 1000 + 1


@pytest.mark.anyio
async def test_uploads_share_a_byte_budget_oldest_first(redis_url: str) -> None:
    """What the memory store keeps (tests/store/test_memory_bounds.py), across processes."""
    first, second = (redis_store(redis_url, upload_bytes=100) for _ in range(2))
    try:
        for i in range(5):  # two processes take turns: one budget for the namespace
            await (first, second)[i % 2].put_upload("owner", f"file-{i}", bytes(30))
        kept = [i for i in range(5) if await first.get_upload("owner", f"file-{i}") is not None]
        assert kept == [2, 3, 4]
        await second.put_upload("owner", "file-4", bytes(10))  # replaced: counted once
        await first.put_upload("other", "file-5", bytes(60))
        assert await first.get_upload("owner", "file-2") is None  # 30 + 10 + 60 = 100
        assert await second.get_upload("owner", "file-3") == bytes(30)
        await first.put_upload("owner", "big", bytes(500))  # the newest, whatever its size
        assert await first.get_upload("owner", "big") == bytes(500)
        assert await first.get_upload("owner", "file-3") is None
        assert await first.get_upload("other", "file-5") is None
        client = redis.Redis.from_url(redis_url)
        try:
            assert int(client.get("imgemu:{default}:uploads:total") or 0) == 500
        finally:
            client.close()
    finally:
        await first.close()
        await second.close()


@pytest.mark.anyio
async def test_expired_uploads_leave_the_budget(redis_url: str) -> None:
    store = redis_store(redis_url, ttl=0.2, upload_bytes=100)
    try:
        await store.put_upload("owner", "old", bytes(90))
        await asyncio.sleep(0.3)
        await store.put_upload("owner", "new", bytes(90))  # 90, not 180: nothing to drop
        assert await store.get_upload("owner", "new") == bytes(90)
        client = redis.Redis.from_url(redis_url)
        try:
            assert int(client.get("imgemu:{default}:uploads:total") or 0) == 90
            assert client.zcard("imgemu:{default}:uploads:index") == 1
        finally:
            client.close()
    finally:
        await store.close()


@pytest.mark.anyio
async def test_records_expire_and_leave_the_listing(redis_url: str) -> None:
    store = redis_store(redis_url, ttl=0.3)
    try:
        jobs = [await store.schedule(make_job(i, 0.01), 2, 0.0) for i in (1, 2, 3)]
        await store.put_upload("owner", "file", b"x")
        assert await store.jobs() == jobs
        await asyncio.sleep(0.5)
        assert await store.get_job("r1") is None
        assert await store.get_upload("owner", "file") is None
        assert await store.jobs() == []
        assert keys_of(redis_url) == {}
        assert await store.next_seq() == 1
    finally:
        await store.close()


@pytest.mark.anyio
async def test_the_sequence_goes_on_from_the_newest_job_when_its_counter_expired(
    redis_url: str,
) -> None:
    store = redis_store(redis_url)
    try:
        await store.schedule(make_job(41, 1.0), 1, 0.0)
        client = redis.Redis.from_url(redis_url)
        client.delete("imgemu:{default}:seq")
        client.close()
        assert await store.next_seq() == 42
    finally:
        await store.close()


@pytest.mark.anyio
async def test_namespaces_keep_emulators_apart(redis_url: str) -> None:
    first, second = redis_store(redis_url, "first"), redis_store(redis_url, "second")
    try:
        await first.schedule(make_job(1, 10.0), 1, 0.0)
        assert await second.get_job("r1") is None
        alone = await second.schedule(make_job(1, 5.0), 1, 0.0)  # its own pool, free
        assert alone.started_at == 0.0
        await second.reset()
        assert await first.get_job("r1") is not None
        assert all(key.startswith("imgemu:{first}:") for key in keys_of(redis_url))
    finally:
        await first.close()
        await second.close()


@pytest.mark.anyio
async def test_scripts_lost_by_the_server_are_loaded_again(
    store: RedisStore, redis_url: str
) -> None:
    await store.schedule(make_job(1, 10.0), 1, 0.0)
    client = redis.Redis.from_url(redis_url)
    client.script_flush()
    client.close()
    second = await store.schedule(make_job(2, 10.0), 1, 0.0)
    assert second.started_at == 10.0


# -- the store URL --------------------------------------------------------------------------------


def test_an_unreachable_server_is_one_line_naming_the_url() -> None:
    with pytest.raises(StoreUnavailable) as caught:
        open_store("redis://:secret@127.0.0.1:1/0", RESULT_TTL)
    message = str(caught.value)
    assert message.startswith("cannot reach the store redis://:***@127.0.0.1:1/0: ")
    assert "\n" not in message
    assert "secret" not in message


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("memory", None),
        ("redis://h:7/2", RedisTarget("redis://h:7/2", "default")),
        ("redis://h/0?namespace=ci-7&socket_timeout=2",
         RedisTarget("redis://h/0?socket_timeout=2", "ci-7")),
        ("unix:///run/redis.sock?namespace=a.b", RedisTarget("unix:///run/redis.sock", "a.b")),
    ],
)  # fmt: skip
def test_store_urls(url: str, expected: RedisTarget | None) -> None:
    assert parse(url) == expected


@pytest.mark.parametrize(
    "url", ["redis", "http://h:1/0", "redis://h/0?namespace=", "redis://h/0?namespace=a*b"]
)
def test_bad_store_urls(url: str) -> None:
    with pytest.raises(ValueError, match="must be"):
        parse(url)


# -- the same answers as the memory store, operation by operation ---------------------------------


@dataclass(frozen=True)
class Submit:
    model: str
    seconds: float
    slots: int | None = None  # this job's pool has so many slots (a slow_queue plan)


@dataclass(frozen=True)
class Cancel:
    index: int


@dataclass(frozen=True)
class Advance:
    seconds: float


@dataclass(frozen=True)
class Resize:
    slots: int  # every pool has so many slots from now on (PATCH /_emulator/config)


service_times = st.sampled_from([0.5, 1.0, 2.0, 3.0]) | st.floats(0.001, 10.0)
Op = Submit | Cancel | Advance | Resize
operations = st.lists(
    st.one_of(
        st.builds(
            Submit,
            st.sampled_from(["gpt_image_1", "gpt_image_2"]),
            service_times,
            st.none() | st.none() | st.integers(1, 4),
        ),
        st.builds(Cancel, st.integers(0, 50)),
        st.builds(Advance, st.sampled_from([0.0, 0.5, 1.0, 2.5]) | st.floats(0, 5)),
        st.builds(Resize, st.integers(1, 4)),
    ),
    max_size=40,
)


async def _replay(store: Store, slots: int, ops: list[Op]) -> list[object]:
    """Every answer the store gives to ``ops``, then every job's status at a few instants."""
    answers: list[object] = []
    now = 1_790_000_000.0
    ids: list[str] = []
    for op in ops:
        if isinstance(op, Advance):
            now += op.seconds
        elif isinstance(op, Resize):
            slots = op.slots
        elif isinstance(op, Submit):
            seq = await store.next_seq()
            job = make_job(seq, op.seconds, op.model, submitted_at=now)
            scheduled = await store.schedule(job, op.slots or slots, now)
            ids.append(job.request_id)
            answers.append((scheduled, await store.queue_position(scheduled, now)))
        elif ids:
            request_id = ids[op.index % len(ids)]
            answers.append(await store.cancel(request_id, now, slots))
        answers.append([await store.job_status(request_id, now) for request_id in ids])
    for later in (now, now + 1.0, now + 7.5, now + 1000.0):
        answers.append([await store.job_status(request_id, later) for request_id in ids])
    answers.append(await store.jobs())
    return answers


@pytest.mark.slow
@settings(max_examples=examples(0.5))
@given(st.integers(1, 3), operations)
def test_redis_answers_as_the_memory_store_does(
    redis_server: str, slots: int, ops: list[Op]
) -> None:
    async def run() -> tuple[list[object], list[object]]:
        store = redis_store(redis_server, "differential")
        try:
            await store.reset()
            return await _replay(MemoryStore(), slots, ops), await _replay(store, slots, ops)
        finally:
            await store.close()

    expected, got = asyncio.run(run())
    assert got == expected


def test_a_sample_of_operations_answers_as_the_memory_store_does(redis_url: str) -> None:
    """The everyday counterpart of the property above: one fixed, busy sequence."""
    rng = random.Random(11)
    ops: list[Op] = []
    for _ in range(160):
        roll = rng.random()
        if roll < 0.5:
            ops.append(Submit(rng.choice(["gpt_image_1", "gpt_image_2"]), rng.choice([1.0, 2.5])))
        elif roll < 0.6:
            ops.append(Submit("gpt_image_1", rng.choice([1.0, 2.5]), rng.choice([1, 3])))
        elif roll < 0.75:
            ops.append(Cancel(rng.randrange(100)))
        elif roll < 0.9:
            ops.append(Advance(rng.choice([0.0, 0.5, 1.0, 3.0])))
        else:
            ops.append(Resize(rng.choice([1, 2, 4])))

    async def run() -> tuple[list[object], list[object]]:
        store = redis_store(redis_url)
        try:
            return await _replay(MemoryStore(), 2, ops), await _replay(store, 2, ops)
        finally:
            await store.close()

    expected, got = asyncio.run(run())
    assert got == expected


# -- two processes' worth of connections racing -------------------------------------------------


SLOTS = 3


async def _submit(store: Store, name: str, seconds: float) -> Job:
    seq = await store.next_seq()
    return await store.schedule(make_job(seq, seconds, request_id=name), SLOTS, 0.0)


@pytest.mark.anyio
async def test_two_stores_racing_keep_the_pool_fifo_and_within_its_slots(redis_url: str) -> None:
    a, b = redis_store(redis_url), redis_store(redis_url)  # two connection pools, as two workers
    try:
        rng = random.Random(5)
        first = await asyncio.gather(
            *(_submit((a, b)[i % 2], f"j{i}", rng.choice([1.0, 2.0, 3.0])) for i in range(150))
        )
        doomed = rng.sample([job.request_id for job in first], 40)
        racing = [
            *(((a, b)[i % 2]).cancel(name, 0.0, SLOTS) for i, name in enumerate(doomed)),
            *(_submit((b, a)[i % 2], f"k{i}", rng.choice([1.0, 2.0])) for i in range(100)),
        ]
        rng.shuffle(racing)
        await asyncio.gather(*racing)

        jobs = await a.jobs()
        assert len(jobs) == 250
        assert sorted(job.seq for job in jobs) == list(range(1, 251))  # one counter for both
        canceled = [job for job in jobs if job.canceled_at is not None]
        assert sorted(job.request_id for job in canceled) == sorted(doomed)
        # The pool's FIFO order is the order the schedules ran in (its active list); the
        # survivors hold exactly the times one process would give them in that order.
        client = redis.Redis.from_url(redis_url, decode_responses=True)
        order = client.lrange("imgemu:{default}:active:seacloud:gpt_image_1", 0, -1)
        client.close()
        by_id = {job.request_id: job for job in jobs}
        survivors = [by_id[name] for name in order]
        assert len(survivors) == 210
        replay = MemoryStore()
        for job in survivors:
            expected = await replay.schedule(make_job(job.seq, job.service_seconds), SLOTS, 0.0)
            assert (job.started_at, job.finished_at) == (expected.started_at, expected.finished_at)
        # No instant has more jobs running than the pool has slots.
        edges = sorted(
            [(j.started_at, 1) for j in survivors] + [(j.finished_at, -1) for j in survivors],
            key=lambda edge: (edge[0], edge[1]),
        )
        running = 0
        for _, step in edges:
            running += step
            assert running <= SLOTS
        # Queue positions agree with the times: the waiting jobs ahead, by (start, seq).
        waiting = sorted(
            (j.started_at or 0.0, j.seq) for j in survivors if (j.started_at or 0.0) > 0.0
        )
        for job in survivors:
            status = await b.job_status(job.request_id, 0.0)
            assert status is not None
            assert status[1] == (waiting.index((job.started_at, job.seq)) if job.started_at else 0)
    finally:
        await a.close()
        await b.close()


def test_every_script_ships_with_the_package() -> None:
    """Each script is a ``.lua`` file of ``emulator.store.redis``, which the wheel declares."""
    import tomllib
    from pathlib import Path

    from emulator.store import redis as redis_package
    from emulator.store.redis import SCRIPTS

    folder = Path(redis_package.__file__).parent
    assert {path.stem for path in folder.glob("*.lua")} == {*SCRIPTS, "common"}
    root = Path(__file__).resolve().parents[2]
    tool = tomllib.loads((root / "pyproject.toml").read_text())["tool"]["setuptools"]
    assert "emulator.store.redis" in tool["packages"]
    assert tool["package-data"]["emulator.store.redis"] == ["*.lua"]
