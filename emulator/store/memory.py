"""The in-process store: dictionaries and per-pool schedules, each record with an expiry.

**Bounded.** A store made with a ``ttl`` (``result_ttl`` plus ``records.GRACE``) forgets every
record that long after it is done, as the Redis store's keys expire: a job ``ttl`` after its
finish, a task after its generation's finish, an upload after it was kept, a balance after it
was last charged or set, a rate window once its last unit has left it, and a key's
concurrency places once its jobs have ended. Uploads are also bounded in bytes
(``upload_bytes``, the oldest go first).

A read checks the record's instant against the clock, so an expired record is not found even
before it is dropped. Dropping is amortized: jobs and tasks sit in heaps by expiry, uploads,
balances, rate windows and concurrency places in insertion-ordered dictionaries oldest first,
and each call drops at most ``SWEEP`` due records from their fronts (a concurrency call looks
at one key); no call scans the store, and each record is dropped once. The listing and the
count drop everything due first.
"""

from __future__ import annotations

import heapq
import math
from bisect import bisect_left, bisect_right, insort
from collections import OrderedDict, deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from itertools import islice
from typing import Any

from emulator.domain.records import Job, StoredFault, Task, fault_applies
from emulator.store.base import (
    HOLD_SECONDS,
    HOLD_WAIT,
    Busy,
    PoolStats,
    Taken,
    Window,
    WindowState,
)

# Records dropped at most per kind and call: more than a call adds, so the store keeps up with
# any steady load, and few enough that a clock moved a day ahead costs no request a long pause.
SWEEP = 16


@dataclass(slots=True)
class _Window:
    """A rate limit's sliding window: its length and the instant of each unit, oldest first."""

    seconds: float
    hits: deque[float]


def _room_in(hits: deque[float], window: Window, now: float) -> float:
    """Seconds until ``window`` (whose units are ``hits``) has room for its amount: until enough
    of its oldest units have left. A request larger than the whole limit waits until the window
    is empty, and is refused again then."""
    excess = len(hits) + window.amount - window.limit
    if excess > len(hits):
        leaves = hits[-1] + window.seconds if hits else now + window.seconds
    else:
        leaves = hits[excess - 1] + window.seconds
    return max(leaves - now, 0.001)


@dataclass(slots=True)
class _Places:
    """A key's concurrency places: each request id's end, as last seen (while its job is not
    stored: when its hold lapses), and a heap of them, soonest first (entries whose end has
    changed since are skipped)."""

    ends: dict[str, float] = field(default_factory=dict)
    due: list[tuple[float, str]] = field(default_factory=list)


@dataclass(slots=True)
class _Pool:
    """A model's worker pool: when each slot frees, and the start times of waiting jobs."""

    free: list[float]  # heap of the instants each slot becomes free
    starts: list[tuple[float, int]] = field(default_factory=list)  # sorted (start, seq)
    active: deque[str] = field(default_factory=deque)  # unfinished jobs, FIFO
    parked: list[float] = field(default_factory=list)  # heap: slots set aside (``_resize``)


def _resize(pool: _Pool, slots: int, now: float) -> None:
    """Give ``pool`` ``slots`` slots. Fewer set aside the slots that free first, so a new job
    waits until all but ``slots - 1`` of the running jobs are done; more take the set-aside
    slots back (earliest first, their jobs may still run), then add slots free at ``now``."""
    free, parked = pool.free, pool.parked
    while len(free) > slots:
        heapq.heappush(parked, heapq.heappop(free))
    while len(free) < slots:
        heapq.heappush(free, heapq.heappop(parked) if parked else now)


class MemoryStore:
    """Everything in this process's memory; one event loop makes each method atomic.

    ``ttl``: seconds a record is kept after it is done (the default keeps everything);
    ``clock``: the emulator's clock (its ``now``), read where a call brings no ``now``; needed
    with a ``ttl``; ``upload_bytes``: the most upload bytes kept (the newest upload is kept
    whatever its size).
    """

    shared = False  # this process's own: no other process changes it

    def __init__(
        self,
        ttl: float = math.inf,
        clock: Callable[[], float] | None = None,
        upload_bytes: int | None = None,
    ) -> None:
        if clock is None and ttl != math.inf:
            raise ValueError("a store whose records expire needs the clock")
        self.ttl = ttl
        self.upload_bytes = upload_bytes
        self._clock = clock
        self._version = 0  # ``live_version``: counts every change, resets included
        self._signing_key: bytes | None = None  # kept by a reset, as Redis' is
        self._init()

    def _init(self) -> None:
        self._metrics: dict[str, float] = {}  # metric totals (``add_metrics``)
        self._seq = 0
        self._jobs: dict[str, Job] = {}
        self._pools: dict[str, _Pool] = {}
        self._windows: OrderedDict[str, _Window] = OrderedDict()  # least recently hit first
        # Concurrency places by key, least recently used key first.
        self._holders: OrderedDict[str, _Places] = OrderedDict()
        self._balances: dict[str, float] = {}
        self._touched: OrderedDict[str, float] = OrderedDict()  # balance -> last set or charged
        # (owner, file id) -> (expiry, data)
        self._uploads: OrderedDict[tuple[str, str], tuple[float, bytes]] = OrderedDict()
        self._upload_total = 0
        self._tasks: dict[str, Task] = {}
        self._job_expiries: list[tuple[float, str]] = []  # heap of (expiry, request id)
        # A job a cancel moved earlier keeps the expiry of its first schedule (Redis' key does).
        self._moved: dict[str, float] = {}
        self._task_expiries: list[tuple[float, str]] = []  # heap of (expiry, task id)
        self._faults: dict[str, StoredFault] = {}  # fault plans, in the order they were kept
        self._fault_count = 0  # plans kept since the reset (their ids' numbers)
        self._faults_offered = False  # a ``once`` call kept plans
        self._config: dict[str, Any] = {}  # runtime settings changed from the start

    # -- expiry -------------------------------------------------------------------------------

    def _now(self) -> float:
        """The clock, for calls that bring no ``now`` (any instant when nothing expires)."""
        return self._clock() if self._clock is not None else 0.0

    def _sweep(self, now: float, budget: float = SWEEP) -> None:
        """Drop up to ``budget`` due records of each kind (all of them with ``math.inf``)."""
        heap = self._job_expiries
        if heap and heap[0][0] <= now:
            self._drop_jobs(now, budget)
        heap = self._task_expiries
        if heap and heap[0][0] <= now:
            self._drop_tasks(now, budget)
        if self._uploads:
            self._drop_uploads(now, budget)
        if self._touched:
            self._drop_balances(now, budget)

    def _drop_jobs(self, now: float, budget: float) -> None:
        heap, jobs = self._job_expiries, self._jobs
        while heap and heap[0][0] <= now and budget > 0:
            budget -= 1
            request_id = heapq.heappop(heap)[1]
            job = jobs.get(request_id)
            # A job stored again since carries its own, later entry.
            if job is not None and self._expiry(job) <= now:
                del jobs[request_id]
                self._moved.pop(request_id, None)
                self._tidy(job.pool, now)

    def _drop_tasks(self, now: float, budget: float) -> None:
        heap, tasks = self._task_expiries, self._tasks
        while heap and heap[0][0] <= now and budget > 0:
            budget -= 1
            task_id = heapq.heappop(heap)[1]
            task = tasks.get(task_id)
            if task is not None and task.generation.finishes_at + self.ttl <= now:
                del tasks[task_id]

    def _drop_uploads(self, now: float, budget: float) -> None:
        uploads = self._uploads
        while uploads and budget > 0:
            name, (expiry, data) = next(iter(uploads.items()))
            if expiry > now:
                return
            budget -= 1
            del uploads[name]
            self._upload_total -= len(data)

    def _drop_balances(self, now: float, budget: float) -> None:
        touched = self._touched
        while touched and budget > 0:
            key, when = next(iter(touched.items()))
            if when + self.ttl > now:
                return
            budget -= 1
            del touched[key]
            del self._balances[key]

    def _tidy(self, name: str, now: float) -> None:
        """Let a pool's bookkeeping go of jobs that are done by ``now``."""
        pool = self._pools.get(name)
        if pool is None:
            return
        del pool.starts[: bisect_right(pool.starts, (now, math.inf))]
        active, jobs = pool.active, self._jobs
        while active:
            head = jobs.get(active[0])
            if head is not None and head.finished_at > now:
                break
            active.popleft()

    def _expiry(self, job: Job) -> float:
        """When ``job`` expires: ``ttl`` after it finishes, as first scheduled."""
        moved = self._moved.get(job.request_id) if self._moved else None
        return job.finished_at + self.ttl if moved is None else moved

    def _live(self, job: Job | None, now: float) -> Job | None:
        """``job`` unless it has expired by ``now`` (it may not have been dropped yet)."""
        if job is None or job.finished_at + self.ttl > now or self._expiry(job) > now:
            return job
        return None

    # -- jobs and pools -------------------------------------------------------------------------

    async def next_seq(self) -> int:
        self._seq += 1
        return self._seq

    def _keep(self, job: Job) -> None:
        self._jobs[job.request_id] = job
        if self._moved:
            self._moved.pop(job.request_id, None)
        if self.ttl != math.inf:
            heapq.heappush(self._job_expiries, (job.finished_at + self.ttl, job.request_id))

    async def put_job(self, job: Job) -> None:
        self._sweep(self._now())
        self._keep(job)

    async def schedule(self, job: Job, slots: int, now: float) -> Job:
        self._sweep(now)
        pool = self._pools.get(job.pool)
        if pool is None:
            pool = self._pools[job.pool] = _Pool(free=[now] * slots)
        else:
            # Entries that started by ``now`` can never be counted again: the clock only moves on.
            self._tidy(job.pool, now)
            if len(pool.free) != slots:  # the settings or a fault plan changed the pool's size
                _resize(pool, slots, now)
        start = max(now, heapq.heappop(pool.free))
        finish = start + job.service_seconds
        heapq.heappush(pool.free, finish)
        job = job.scheduled(start, finish)
        if start > now:
            insort(pool.starts, (start, job.seq))
        pool.active.append(job.request_id)
        self._keep(job)
        return job

    async def get_job(self, request_id: str) -> Job | None:
        return self._live(self._jobs.get(request_id), self._now())

    async def queue_position(self, job: Job, now: float) -> int:
        return self._position(job, now)

    async def job_status(self, request_id: str, now: float) -> tuple[Job, int] | None:
        self._sweep(now)
        job = self._live(self._jobs.get(request_id), now)
        return None if job is None else (job, self._position(job, now))

    def _position(self, job: Job, now: float) -> int:
        if job.started_at is None or job.started_at <= now:
            return 0
        pool = self._pools.get(job.pool)
        if pool is None:
            return 0
        ahead = bisect_left(pool.starts, (job.started_at, job.seq))
        started = bisect_right(pool.starts, (now, math.inf))
        return max(0, ahead - started)

    async def cancel(self, request_id: str, now: float, slots: int) -> Job:
        job = replace(self._jobs[request_id], canceled_at=now)
        self._jobs[request_id] = job
        pool = self._pools.get(job.pool)
        if pool is not None and job.started_at is not None:
            self._reschedule(pool, slots, now)
        return job

    def _reschedule(self, pool: _Pool, slots: int, now: float) -> None:
        """Give the freed slot time to the waiting jobs, in order; they only move earlier."""
        running: list[float] = []
        waiting: list[Job] = []
        active: deque[str] = deque()
        for request_id in pool.active:
            found = self._jobs.get(request_id)
            if found is None or found.canceled_at is not None or found.finished_at <= now:
                continue
            job = found
            active.append(request_id)
            assert job.started_at is not None
            if job.started_at <= now:
                running.append(job.finished_at)
            else:
                waiting.append(job)
        free = running + [now] * max(0, slots - len(running))
        heapq.heapify(free)
        parked: list[float] = []  # more running jobs than slots: the earliest to free wait aside
        while len(free) > slots:
            heapq.heappush(parked, heapq.heappop(free))
        starts: list[tuple[float, int]] = []
        for job in waiting:
            start = max(now, heapq.heappop(free))
            finish = start + job.service_seconds
            heapq.heappush(free, finish)
            if finish != job.finished_at and self.ttl != math.inf:
                self._moved.setdefault(job.request_id, job.finished_at + self.ttl)
            self._jobs[job.request_id] = job.scheduled(start, finish)
            if start > now:
                starts.append((start, job.seq))
        pool.free = free
        pool.parked = parked
        pool.starts = sorted(starts)
        pool.active = active

    async def take_rate_slot(self, key: str, limit: int, window: float, now: float) -> float | None:
        taken = await self.take_windows((Window(key, limit, window),), now)
        return None if taken.refused is None else taken.wait

    async def take_windows(self, windows: Sequence[Window], now: float) -> Taken:
        found = self._windows
        # The least recently hit windows whose last unit has left them hold nothing.
        left = SWEEP
        while found and left > 0:
            oldest, idle = next(iter(found.items()))
            if idle.hits and idle.hits[-1] > now - idle.seconds:
                break
            left -= 1
            del found[oldest]
        counted: list[deque[float]] = []
        refused: int | None = None
        wait = 0.0
        for window in windows:
            entry = found.get(window.key)
            hits: deque[float] = deque() if entry is None else entry.hits
            cutoff = now - window.seconds
            while hits and hits[0] <= cutoff:
                hits.popleft()
            if refused is None and len(hits) + window.amount > window.limit:
                refused, wait = len(counted), _room_in(hits, window, now)
            counted.append(hits)
        states = []
        for window, hits in zip(windows, counted, strict=True):
            if refused is None:
                hits.extend([now] * window.amount)
                entry = found.get(window.key)
                if entry is None:
                    found[window.key] = _Window(window.seconds, hits)
                else:
                    entry.seconds = window.seconds
                    found.move_to_end(window.key)
            states.append(WindowState(len(hits), hits[0] + window.seconds - now if hits else 0.0))
        return Taken(tuple(states), refused, wait)

    async def take_concurrency(self, key: str, request_id: str, limit: int, now: float) -> Busy:
        holders = self._holders
        self._sweep_holders(now)
        places = holders.get(key)
        if places is None:
            places = _Places()
        else:
            holders.move_to_end(key)
        self._let_go(places, now)
        ends = places.ends
        if len(ends) >= limit:
            # An end may be later than its job's (a cancel, a job shorter than its hold's
            # estimate): at the limit, each place is looked at.
            known = self._look_at_all(places, now)
            if len(ends) >= limit:
                wait = max(min(known) - now, 0.001) if known else HOLD_WAIT
                return Busy(len(ends), wait)
        end = now + HOLD_SECONDS
        ends[request_id] = end
        heapq.heappush(places.due, (end, request_id))
        holders[key] = places
        return Busy(len(ends))

    async def release_concurrency(self, key: str, request_id: str) -> None:
        places = self._holders.get(key)
        if places is not None:
            places.ends.pop(request_id, None)

    def _job_end(self, request_id: str, end: float) -> tuple[float, bool]:
        """When the job of a place ends, and whether it is stored (if not: ``end``, when the
        place's hold lapses)."""
        job = self._jobs.get(request_id)
        if job is None:
            return end, False
        if job.canceled_at is not None and job.canceled_at < job.finished_at:
            return job.canceled_at, True
        return job.finished_at, True

    def _let_go(self, places: _Places, now: float) -> None:
        """Look at the places whose end has come: let go of those whose job has ended, move
        the others to their job's end. A place is never let go before its job ends, so the
        places left are at least the unfinished jobs."""
        due, ends = places.due, places.ends
        while due and due[0][0] <= now:
            end, request_id = heapq.heappop(due)
            if ends.get(request_id) != end:
                continue  # given back, or moved since
            actual = self._job_end(request_id, end)[0]
            if actual > now:
                ends[request_id] = actual
                heapq.heappush(due, (actual, request_id))
            else:
                del ends[request_id]

    def _look_at_all(self, places: _Places, now: float) -> list[float]:
        """Set every place's end to its job's (letting go of the ended ones); the ends of the
        stored jobs that still hold one."""
        known: list[float] = []
        ends = places.ends
        for request_id, end in list(ends.items()):
            actual, stored = self._job_end(request_id, end)
            if actual <= now:
                del ends[request_id]
                continue
            ends[request_id] = actual
            if stored:
                known.append(actual)
        places.due = [(end, request_id) for request_id, end in ends.items()]
        heapq.heapify(places.due)
        return known

    def _sweep_holders(self, now: float) -> None:
        """Look at the least recently used key's places: let it go once none is held."""
        holders = self._holders
        if holders:
            key, places = next(iter(holders.items()))
            self._let_go(places, now)
            if places.ends:
                holders.move_to_end(key)
            else:
                del holders[key]

    def _touch(self, key: str, now: float) -> None:
        """The balance was set or charged at ``now``: it lives ``ttl`` from here."""
        self._touched[key] = now
        self._touched.move_to_end(key)

    async def charge(self, key: str, amount: float, default_balance: float | None) -> bool:
        if key not in self._balances:
            if default_balance is None:
                return True  # unlimited: nothing is kept
            self._balances[key] = default_balance
        now = self._now()
        self._touch(key, now)  # a refused charge renews it too, as Redis does
        self._sweep(now)
        if self._balances[key] < amount:
            return False
        self._balances[key] -= amount
        return True

    async def set_balance(self, key: str, amount: float) -> None:
        now = self._now()
        self._sweep(now)
        self._balances[key] = amount
        self._touch(key, now)

    async def balance(self, key: str) -> float | None:
        touched = self._touched.get(key)
        if touched is None or touched + self.ttl <= self._now():
            return None
        return self._balances[key]

    async def jobs(self, offset: int = 0, limit: int | None = None) -> list[Job]:
        now = self._now()
        self._sweep(now, math.inf)
        # Jobs enter the dictionary at submit, in sequence order, and keep their place.
        stop = None if limit is None else offset + limit
        return list(islice(self._jobs.values(), offset, stop))

    async def job_count(self) -> int:
        self._sweep(self._now(), math.inf)
        return len(self._jobs)

    async def put_upload(self, owner: str, file_id: str, data: bytes) -> None:
        now = self._now()
        self._sweep(now)
        uploads = self._uploads
        old = uploads.pop((owner, file_id), None)
        if old is not None:
            self._upload_total -= len(old[1])
        uploads[owner, file_id] = (now + self.ttl, data)
        self._upload_total += len(data)
        budget = self.upload_bytes
        if budget is not None:
            while self._upload_total > budget and len(uploads) > 1:
                self._upload_total -= len(uploads.popitem(last=False)[1][1])

    async def get_upload(self, owner: str, file_id: str) -> bytes | None:
        found = self._uploads.get((owner, file_id))
        if found is None or found[0] <= self._now():
            return None
        return found[1]

    async def put_task(self, task: Task) -> None:
        self._sweep(self._now())
        self._tasks[task.task_id] = task
        if self.ttl != math.inf:
            expiry = task.generation.finishes_at + self.ttl
            heapq.heappush(self._task_expiries, (expiry, task.task_id))

    async def get_task(self, task_id: str) -> Task | None:
        task = self._tasks.get(task_id)
        if task is None or task.generation.finishes_at + self.ttl <= self._now():
            return None
        return task

    async def reset(self) -> None:
        self._init()
        self._version += 1

    async def close(self) -> None:
        pass

    async def claim_node(self) -> int:
        return 0  # no other process shares this store

    async def renew_node(self, node: int, release: bool = False) -> None:
        pass

    async def signing_key(self, candidate: bytes) -> bytes:
        if self._signing_key is None:
            self._signing_key = candidate
        return self._signing_key

    # -- metrics -----------------------------------------------------------------------------

    async def add_metrics(self, deltas: Mapping[str, float]) -> None:
        totals = self._metrics
        for name, amount in deltas.items():
            totals[name] = totals.get(name, 0) + amount

    async def metric_totals(self) -> dict[str, float]:
        return dict(self._metrics)

    async def pool_stats(self, pools: Sequence[str], now: float) -> list[PoolStats]:
        found = []
        for name in pools:
            pool = self._pools.get(name)
            if pool is None:
                continue
            # A slot is busy while its last job runs: no slot idles between jobs it was given
            # after ``now``, so it runs one at ``now`` exactly when it frees later. Waiting jobs
            # are those whose start (kept in ``starts``) is still ahead.
            busy = sum(1 for free_at in pool.free if free_at > now)
            waiting = len(pool.starts) - bisect_right(pool.starts, (now, math.inf))
            found.append(PoolStats(name, len(pool.free), busy, waiting))
        return found

    # -- fault plans and runtime settings ------------------------------------------------------

    async def add_faults(
        self, faults: Sequence[StoredFault], limit: int, once: bool = False
    ) -> list[StoredFault] | None:
        if once and self._faults_offered:
            return []
        if len(self._faults) + len(faults) > limit:
            return None
        self._faults_offered = self._faults_offered or once
        kept = []
        for fault in faults:
            self._fault_count += 1
            plan_id = f"plan_{self._fault_count}"
            kept.append(replace(fault, plan_id=plan_id, seen=0, applied=0))
            self._faults[plan_id] = kept[-1]
        self._version += 1
        return kept

    async def faults(self) -> list[StoredFault]:
        return list(self._faults.values())

    async def delete_faults(self, plan_ids: Sequence[str] | None = None) -> int:
        if plan_ids is None:
            gone = len(self._faults)
            self._faults.clear()
        else:
            gone = sum(self._faults.pop(plan_id, None) is not None for plan_id in plan_ids)
        self._version += 1
        return gone

    async def take_fault(self, plan_ids: Sequence[str], seed: int) -> tuple[str, bool] | None:
        for plan_id in plan_ids:
            plan = self._faults.get(plan_id)
            if plan is None or plan.spent:
                continue
            seen = plan.seen + 1
            applies = fault_applies(plan, seen, seed)
            self._faults[plan_id] = StoredFault(
                plan_id, plan.body, plan.after, plan.times, plan.probability, seen,
                plan.applied + applies,
            )  # fmt: skip
            return plan_id, applies
        return None

    async def live_version(self) -> str:
        return str(self._version)

    async def config_overrides(self) -> dict[str, Any]:
        return dict(self._config)

    async def patch_config(self, changes: Mapping[str, Any]) -> None:
        for name, value in changes.items():
            if value is None:
                self._config.pop(name, None)
            else:
                self._config[name] = value
        self._version += 1
