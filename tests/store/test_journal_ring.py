"""The request journal's ring in both stores (``store`` fixture: memory and Redis): newest
first, bounded, cleared whole or by test id, forgotten by a reset; filters against a plain
model over both stores; in Redis, shared by processes and kept the store's time to live."""

from __future__ import annotations

import asyncio
import fnmatch
from typing import Any

import pytest
import redis
from hypothesis import given, settings
from hypothesis import strategies as st

from emulator.domain.journal import Filter, key_digest
from emulator.domain.records import JournalEntry
from emulator.store import MemoryStore, Store, open_store
from emulator.store.redis import GRACE, RedisStore
from emulator.store.url import RedisTarget
from tests.helpers import examples
from tests.support.store import RESULT_TTL

pytestmark = pytest.mark.anyio

EVERYTHING = Filter()


def entry(n: int, **values: Any) -> JournalEntry:
    """The ``n``-th entry of a run (its time is ``n``)."""
    base: dict[str, Any] = {
        "time": float(n), "provider": "seacloud", "operation": "submit", "method": "POST",
        "path": "/model/v1/queue/gpt_image_1", "query": None, "key": key_digest("k"),
        "test_id": None, "status": 200, "seconds": 0.001, "request_id": f"r{n}",
        "fields": {"prompt": f"apple {n}", "n": 1},
    }  # fmt: skip
    base.update(values)
    return JournalEntry(**base)


async def read(store: Store, where: Filter = EVERYTHING, limit: int = 1000) -> list[float]:
    """The times of the entries ``where`` matches, as the store lists them."""
    found, total = await store.journal_entries(where.matches, limit)
    assert len(found) == min(total, limit)
    return [e.time for e in found]


async def test_entries_read_back_newest_first_with_the_total(store: Store) -> None:
    assert await store.journal_entries(EVERYTHING.matches, 10) == ([], 0)
    store.journal_append([entry(1), entry(2)], 100)
    store.journal_append([entry(3)], 100)
    found, total = await store.journal_entries(EVERYTHING.matches, 2)
    assert (found, total) == ([entry(3), entry(2)], 3)
    assert await read(store) == [3.0, 2.0, 1.0]
    store.journal_append([], 100)
    assert await read(store) == [3.0, 2.0, 1.0]


async def test_the_ring_keeps_the_newest(store: Store) -> None:
    store.journal_append([entry(n) for n in range(1, 8)], 5)
    store.journal_append([entry(n) for n in range(8, 11)], 5)
    assert await read(store) == [10.0, 9.0, 8.0, 7.0, 6.0]
    store.journal_append([entry(11)], 3)  # a smaller ring keeps the newest of what it held
    assert await read(store) == [11.0, 10.0, 9.0]


async def test_clearing_all_or_one_test_id(store: Store) -> None:
    store.journal_append(
        [entry(1, test_id="a"), entry(2, test_id="b"), entry(3), entry(4, test_id="a")], 10
    )
    await store.journal_clear("a")
    assert await read(store) == [3.0, 2.0]
    await store.journal_clear("nobody")
    assert await read(store) == [3.0, 2.0]
    store.journal_append([entry(5, test_id="a")], 10)
    assert await read(store) == [5.0, 3.0, 2.0]
    await store.journal_clear()
    assert await read(store) == []
    store.journal_append([entry(6)], 10)
    assert await read(store) == [6.0]


async def test_a_reset_forgets_the_journal(store: Store) -> None:
    store.journal_append([entry(1), entry(2)], 10)
    await store.reset()
    assert await read(store) == []


async def test_entries_keep_every_field(store: Store) -> None:
    odd = entry(
        7,
        query="logs=1",
        key=None,
        test_id="tests/test_x.py::test_y[ü]",
        status=422,
        request_id=None,
        fields={"images": [{"sha256": "ab", "bytes": 3, "width": None}], "big": 2**70},
        error="literal_error",
        message="body.quality: Input should be 'low'",
        fault={"kind": "steering", "outcome": "INFERENCE_FAILURE"},
    )
    store.journal_append([odd], 10)
    assert await store.journal_entries(EVERYTHING.matches, 10) == ([odd], 1)


# -- Redis: shared, sent in the background, its key's time to live ------------------------------


def redis_store(url: str, namespace: str = "default") -> RedisStore:
    return RedisStore(RedisTarget(url, namespace), RESULT_TTL + GRACE)


async def test_entries_one_process_appends_are_read_by_another(redis_url: str) -> None:
    one, two = redis_store(redis_url), redis_store(redis_url)
    try:
        one.journal_append([entry(1)], 10)
        two.journal_append([entry(2)], 10)
        await asyncio.sleep(0.05)  # each sends what it queued in the background
        assert await read(one) == await read(two)
        assert sorted(await read(one)) == [1.0, 2.0]
        one.journal_append([entry(3)], 10)
        assert (await read(one))[0] == 3.0  # a read sends its own store's queue first
    finally:
        await one.close()
        await two.close()


async def test_close_sends_what_is_queued_and_drops_later_appends(redis_url: str) -> None:
    one = redis_store(redis_url)
    one.journal_append([entry(1), entry(2)], 10)
    await one.close()
    one.journal_append([entry(3)], 10)  # after close: dropped, no connection opened again
    other = redis_store(redis_url)
    try:
        assert await read(other) == [2.0, 1.0]
    finally:
        await other.close()


async def test_the_journal_lives_the_time_to_live_from_the_last_write(redis_url: str) -> None:
    store = redis_store(redis_url)
    client = redis.Redis.from_url(redis_url)
    try:
        store.journal_append([entry(1)], 10)
        await read(store)
        client.pexpire("imgemu:{default}:journal", 1000)
        store.journal_append([entry(2)], 10)
        await read(store)
        pttl = client.pttl("imgemu:{default}:journal")
        assert (RESULT_TTL + GRACE - 60) * 1000 < pttl <= (RESULT_TTL + GRACE) * 1000
        await store.journal_clear("nobody")  # rewriting the list keeps its time to live
        assert client.pttl("imgemu:{default}:journal") > (RESULT_TTL + GRACE - 60) * 1000
    finally:
        client.close()
        await store.close()


async def test_namespaces_keep_their_journals_apart(redis_url: str) -> None:
    one, two = redis_store(redis_url, "one"), redis_store(redis_url, "two")
    try:
        one.journal_append([entry(1)], 10)
        assert await read(one) == [1.0]
        assert await read(two) == []
    finally:
        await one.close()
        await two.close()


# -- filters, against a plain model, over both stores ------------------------------------------

PROVIDERS = ["seacloud", "openai", "aa"]
OPERATIONS = ["submit", "status", "images.edit"]
PATHS = ["/model/v1/queue/gpt_image_1", "/v1/images/edits", "/api/v1/files"]
STATUSES = [200, 202, 400, 401, 422, 429, 500]
KEYS = ["k1", "k2"]
TEST_IDS = [None, "t1", "t2"]

entries = st.lists(
    st.builds(
        lambda provider, operation, path, status, key, test_id, time: entry(
            0,
            provider=provider,
            operation=operation,
            path=path,
            status=status,
            key=None if key is None else key_digest(key),
            test_id=test_id,
            time=time,
        ),
        st.sampled_from(PROVIDERS),
        st.sampled_from(OPERATIONS),
        st.sampled_from(PATHS),
        st.sampled_from(STATUSES),
        st.sampled_from([None, *KEYS]),
        st.sampled_from(TEST_IDS),
        st.integers(0, 20).map(float),
    ),
    max_size=40,
)
# Each condition given or not: a filter as the query string names it.
queries = st.fixed_dictionaries(
    {},
    optional={
        "provider": st.sampled_from([*PROVIDERS, "agcloud"]),
        "operation": st.sampled_from(OPERATIONS),
        "path": st.sampled_from(["*", "/v1/*", "*/edits", "/model/*", "/api/v1/files", "/x*"]),
        "status": st.sampled_from([*map(str, STATUSES), "2xx", "4xx", "5xx"]),
        "key": st.sampled_from([*KEYS, "k3"]),
        "test_id": st.sampled_from(["t1", "t2", "t3"]),
        "since": st.integers(0, 21).map(float),
    },
)


def model(kept: list[JournalEntry], query: dict[str, Any]) -> list[JournalEntry]:
    """The filter in plain Python: newest first (by time, ties newest added first), every
    condition given holds."""

    def holds(e: JournalEntry) -> bool:
        status = query.get("status")
        return (
            e.provider == query.get("provider", e.provider)
            and e.operation == query.get("operation", e.operation)
            and fnmatch.fnmatchcase(e.path, query.get("path", "*"))
            and (
                status is None
                or (str(e.status) == status if status.isdigit() else str(e.status)[0] == status[0])
            )
            and ("key" not in query or e.key == key_digest(query["key"]))
            and e.test_id == query.get("test_id", e.test_id)
            and e.time >= query.get("since", e.time)
        )

    return [e for e in sorted(reversed(kept), key=lambda e: -e.time) if holds(e)]


def as_filter(query: dict[str, Any]) -> Filter:
    status = query.get("status")
    return Filter(
        provider=query.get("provider"),
        operation=query.get("operation"),
        path=query.get("path"),
        status=int(status) if status is not None and status.isdigit() else None,
        status_class=int(status[0]) if status is not None and not status.isdigit() else None,
        key=key_digest(query["key"]) if "key" in query else None,
        test_id=query.get("test_id"),
        since=query.get("since"),
    )


@settings(max_examples=examples(0.5))
@given(entries, queries, st.integers(1, 50), st.integers(1, 60))
def test_filters_match_the_model_in_both_stores(
    redis_server: str,
    appended: list[JournalEntry],
    query: dict[str, Any],
    limit: int,
    keep: int,
) -> None:
    kept = appended[-keep:]
    expected = model(kept, query)

    async def run(store: Store) -> tuple[list[JournalEntry], int]:
        try:
            await store.journal_clear()
            for start in range(0, len(appended), 7):  # in batches, as flushes hand them over
                store.journal_append(appended[start : start + 7], keep)
            return await store.journal_entries(as_filter(query).matches, limit)
        finally:
            await store.close()

    for store in (MemoryStore(), open_store(redis_server + "?namespace=filters", RESULT_TTL)):
        assert asyncio.run(run(store)) == (expected[:limit], len(expected))
