"""Fault plans and runtime settings in the store, held to the same tests in memory and in Redis:
plans kept in order under their ids, counted atomically (``after``, ``times``, a seeded
``probability``), deleted, offered once from the config file; the runtime settings; the version
that tells other processes something changed; and a pool that changes its number of slots."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from emulator.domain.records import StoredFault, fault_draw
from emulator.store import MemoryStore, Store
from emulator.store.redis import GRACE, RedisStore
from emulator.store.url import RedisTarget
from tests.helpers import examples
from tests.support.store import RESULT_TTL, make_job

pytestmark = pytest.mark.anyio


def fault(after: int = 0, times: int | None = None, probability: float = 1.0) -> StoredFault:
    return StoredFault("", '{"match": {}, "action": {"kind": "drop"}}', after, times, probability)


# -- keeping, listing, deleting -------------------------------------------------------------------


async def test_plans_are_kept_in_order_under_counted_ids(store: Store) -> None:
    kept = await store.add_faults([fault(times=2), fault(after=1)], limit=10)
    assert kept is not None
    assert [f.plan_id for f in kept] == ["plan_1", "plan_2"]
    (third,) = await store.add_faults([fault(probability=0.5)], limit=10) or []
    assert third.plan_id == "plan_3"
    listed = await store.faults()
    assert [(f.plan_id, f.after, f.times, f.probability, f.seen, f.applied) for f in listed] == [
        ("plan_1", 0, 2, 1.0, 0, 0),
        ("plan_2", 1, None, 1.0, 0, 0),
        ("plan_3", 0, None, 0.5, 0, 0),
    ]
    assert listed[0].body == fault().body


async def test_no_more_plans_than_the_limit(store: Store) -> None:
    assert await store.add_faults([fault(), fault()], limit=3) is not None
    assert await store.add_faults([fault(), fault()], limit=3) is None
    assert len(await store.faults()) == 2
    assert await store.add_faults([fault()], limit=3) is not None


async def test_plans_are_deleted_one_at_a_time_or_all(store: Store) -> None:
    await store.add_faults([fault(), fault(), fault()], limit=10)
    assert await store.delete_faults(["plan_2", "plan_9"]) == 1
    assert [f.plan_id for f in await store.faults()] == ["plan_1", "plan_3"]
    assert await store.delete_faults() == 2
    assert await store.faults() == []
    # ids go on counting: a deleted plan's id never names another
    (again,) = await store.add_faults([fault()], limit=10) or []
    assert again.plan_id == "plan_4"


async def test_the_config_files_plans_are_kept_once_until_a_reset(store: Store) -> None:
    first = await store.add_faults([fault(times=1)], limit=10, once=True)
    assert [f.plan_id for f in first or []] == ["plan_1"]
    assert await store.add_faults([fault(times=1)], limit=10, once=True) == []
    assert len(await store.faults()) == 1
    await store.reset()
    assert await store.faults() == []
    again = await store.add_faults([fault(times=1)], limit=10, once=True)
    assert [f.plan_id for f in again or []] == ["plan_1"]


# -- counting -------------------------------------------------------------------------------------


async def test_after_then_times_then_spent(store: Store) -> None:
    await store.add_faults([fault(after=2, times=2)], limit=10)
    takes = [await store.take_fault(["plan_1"], seed=0) for _ in range(6)]
    assert takes == [
        ("plan_1", False),
        ("plan_1", False),
        ("plan_1", True),
        ("plan_1", True),
        None,
        None,
    ]
    (plan,) = await store.faults()
    assert (plan.seen, plan.applied, plan.spent) == (4, 2, True)


async def test_the_first_live_plan_named_takes_the_request(store: Store) -> None:
    await store.add_faults([fault(times=1), fault(after=5)], limit=10)
    assert await store.take_fault(["plan_1", "plan_2"], 0) == ("plan_1", True)
    # plan_1 is spent: the next request goes to plan_2, which lets it pass (after)
    assert await store.take_fault(["plan_1", "plan_2"], 0) == ("plan_2", False)
    assert await store.take_fault(["plan_9"], 0) is None
    await store.delete_faults(["plan_2"])
    assert await store.take_fault(["plan_2", "plan_1"], 0) is None


async def test_a_probability_draws_from_the_seed_and_the_plans_count(store: Store) -> None:
    await store.add_faults([fault(after=1, probability=0.5)], limit=10)
    got = [(await store.take_fault(["plan_1"], 42) or ("", False))[1] for _ in range(41)]
    assert got[0] is False  # after
    assert got[1:] == [fault_draw(42, "plan_1", n) < 0.5 for n in range(1, 41)]
    assert 5 < sum(got) < 35


async def test_racing_takes_apply_a_plan_exactly_times_times(redis_url: str) -> None:
    """Two connection pools (two workers) taking at once never overcount."""
    one, two = _redis(redis_url), _redis(redis_url)
    try:
        await one.add_faults([fault(after=3, times=10)], limit=10)
        takes = await asyncio.gather(
            *(store.take_fault(["plan_1"], 0) for _ in range(40) for store in (one, two))
        )
        assert sum(1 for take in takes if take == ("plan_1", True)) == 10
        assert sum(1 for take in takes if take == ("plan_1", False)) == 3
        (plan,) = await two.faults()
        assert (plan.seen, plan.applied) == (13, 10)
    finally:
        await one.close()
        await two.close()


def _redis(url: str, namespace: str = "default") -> RedisStore:
    store = RedisStore(RedisTarget(url, namespace), RESULT_TTL + GRACE)
    store.check()
    return store


# -- a random sequence of requests against a plain model ------------------------------------------


@dataclass
class Plan:
    """A plan as the test counts it, by the rule's own words: the first ``after`` requests it
    takes pass, then each is faulted with ``probability`` until ``times`` were."""

    plan_id: str
    kinds: frozenset[str]
    after: int
    times: int | None
    probability: float
    seen: int = 0
    applied: int = 0
    gone: bool = False


@dataclass
class Model:
    seed: int
    plans: list[Plan] = field(default_factory=list)

    def take(self, kind: str) -> tuple[str, bool] | None:
        for plan in self.plans:
            if plan.gone or kind not in plan.kinds:
                continue
            if plan.times is not None and plan.applied == plan.times:
                continue  # spent: the next plan may take the request
            plan.seen += 1
            past = plan.seen - plan.after
            faulted = past > 0 and (
                plan.probability == 1.0
                or (
                    plan.probability > 0
                    and fault_draw(self.seed, plan.plan_id, past) < plan.probability
                )
            )
            plan.applied += faulted
            return plan.plan_id, faulted
        return None


plans_strategy = st.lists(
    st.tuples(
        st.frozensets(st.sampled_from("abc"), min_size=1),
        st.integers(0, 3),
        st.none() | st.integers(1, 4),
        st.sampled_from([0.0, 0.25, 0.5, 1.0]),
    ),
    min_size=1,
    max_size=4,
)
requests_strategy = st.lists(
    st.sampled_from("abc") | st.integers(0, 3).map(lambda n: f"delete {n}"), max_size=40
)


async def _run(
    store: Store,
    seed: int,
    plans: list[tuple[frozenset[str], int, int | None, float]],
    requests: list[str],
) -> None:
    await store.reset()
    model = Model(seed)
    kept = await store.add_faults(
        [fault(after, times, probability) for _, after, times, probability in plans], limit=10
    )
    assert kept is not None
    for stored, (kinds, after, times, probability) in zip(kept, plans, strict=True):
        model.plans.append(Plan(stored.plan_id, kinds, after, times, probability))
    for request in requests:
        if request.startswith("delete"):
            victim = model.plans[int(request.split()[1]) % len(model.plans)]
            victim.gone = True
            await store.delete_faults([victim.plan_id])
            continue
        candidates = [p.plan_id for p in model.plans if request in p.kinds]
        expected = model.take(request)
        assert await store.take_fault(candidates, seed) == expected, request
    listed = {f.plan_id: (f.seen, f.applied) for f in await store.faults()}
    assert listed == {p.plan_id: (p.seen, p.applied) for p in model.plans if not p.gone}


@settings(max_examples=examples(0.5))
@given(st.integers(-3, 3), plans_strategy, requests_strategy)
def test_a_random_sequence_counts_as_the_model_in_memory(
    seed: int, plans: list[tuple[frozenset[str], int, int | None, float]], requests: list[str]
) -> None:
    asyncio.run(_run(MemoryStore(), seed, plans, requests))


@settings(max_examples=examples(0.5))
@given(st.integers(-3, 3), plans_strategy, requests_strategy)
def test_a_random_sequence_counts_as_the_model_in_redis(
    redis_server: str,
    seed: int,
    plans: list[tuple[frozenset[str], int, int | None, float]],
    requests: list[str],
) -> None:
    async def run() -> None:
        store = _redis(redis_server, "fault-model")
        try:
            await _run(store, seed, plans, requests)
        finally:
            await store.close()

    asyncio.run(run())


# -- runtime settings and the version -------------------------------------------------------------


async def test_runtime_settings_are_patched_one_by_one(store: Store) -> None:
    assert await store.config_overrides() == {}
    await store.patch_config({"slots": 2, "rate_limit": {"limit": 5, "window_seconds": 60.0}})
    await store.patch_config({"blocked_terms": ["x", "y"], "slots": None})
    assert await store.config_overrides() == {
        "rate_limit": {"limit": 5, "window_seconds": 60.0},
        "blocked_terms": ["x", "y"],
    }
    await store.reset()
    assert await store.config_overrides() == {}


async def test_every_change_and_a_reset_give_a_new_version(store: Store) -> None:
    seen = [await store.live_version()]

    async def changed() -> None:
        version = await store.live_version()
        assert version not in seen
        seen.append(version)

    await store.add_faults([fault()], limit=10)
    await changed()
    await store.delete_faults(["plan_1"])
    await changed()
    await store.patch_config({"slots": 3})
    await changed()
    await store.reset()  # back to the version of a store without plans or changes, in Redis
    assert await store.live_version() != seen[-1]
    # counting requests changes no version: a process need not read the plans again
    await store.add_faults([fault()], limit=10)
    before = await store.live_version()
    await store.take_fault(["plan_1"], 0)
    assert await store.live_version() == before


# -- a pool that changes its number of slots ------------------------------------------------------


async def test_fewer_slots_wait_for_all_but_that_many_running_jobs(store: Store) -> None:
    for seq, seconds in enumerate([10.0, 20.0, 30.0, 40.0], start=1):
        await store.schedule(make_job(seq, seconds), 4, 0.0)
    # down to two slots: the fifth job waits until only one running job is left (at 30)
    fifth = await store.schedule(make_job(5, 5.0), 2, 1.0)
    assert (fifth.started_at, fifth.finished_at) == (30.0, 35.0)
    sixth = await store.schedule(make_job(6, 5.0), 2, 1.0)
    assert sixth.started_at == 35.0
    stats = await store.pool_stats(["seacloud:gpt_image_1"], 1.0)
    assert stats[0].slots == 2


async def test_more_slots_take_back_those_set_aside_then_add_free_ones(store: Store) -> None:
    for seq, seconds in enumerate([10.0, 20.0, 30.0], start=1):
        await store.schedule(make_job(seq, seconds), 3, 0.0)
    await store.schedule(make_job(4, 5.0), 1, 0.0)  # one slot: waits for all three (30)
    # Back to three, then four: the slots set aside still run their jobs until 10 and 20; the
    # fourth slot is new and free now.
    jobs = [await store.schedule(make_job(seq, 100.0), 4, 2.0) for seq in (5, 6, 7)]
    assert [job.started_at for job in jobs] == [2.0, 10.0, 20.0]
    stats = await store.pool_stats(["seacloud:gpt_image_1"], 2.0)
    assert stats[0].slots == 4


async def test_a_cancel_in_a_smaller_pool_keeps_it_small(store: Store) -> None:
    for seq, seconds in enumerate([10.0, 20.0, 30.0], start=1):
        await store.schedule(make_job(seq, seconds), 3, 0.0)
    waiting = await store.schedule(make_job(4, 5.0), 1, 0.0)
    assert waiting.started_at == 30.0
    # Canceling the job that ends at 20 leaves two running; with one slot, the waiting job now
    # starts when the later of them ends.
    await store.cancel("r2", 1.0, 1)
    moved = await store.get_job("r4")
    assert moved is not None
    assert moved.started_at == 30.0
    await store.cancel("r3", 2.0, 1)
    moved = await store.get_job("r4")
    assert moved is not None
    assert moved.started_at == 10.0
