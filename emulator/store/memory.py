"""The in-process store: dictionaries and per-pool schedules."""

from __future__ import annotations

import heapq
import math
from bisect import bisect_left, bisect_right, insort
from collections import deque
from dataclasses import dataclass, field, replace
from itertools import islice

from emulator.domain.records import Job, Task


@dataclass(slots=True)
class _Pool:
    """A model's worker pool: when each slot frees, and the start times of waiting jobs."""

    free: list[float]  # heap of the instants each slot becomes free
    starts: list[tuple[float, int]] = field(default_factory=list)  # sorted (start, seq)
    active: deque[str] = field(default_factory=deque)  # unfinished jobs, FIFO


class MemoryStore:
    """Everything in this process's memory; one event loop makes each method atomic."""

    def __init__(self) -> None:
        self._init()

    def _init(self) -> None:
        self._seq = 0
        self._jobs: dict[str, Job] = {}
        self._pools: dict[str, _Pool] = {}
        self._windows: dict[str, deque[float]] = {}
        self._balances: dict[str, float] = {}
        self._uploads: dict[str, bytes] = {}
        self._tasks: dict[str, Task] = {}

    async def next_seq(self) -> int:
        self._seq += 1
        return self._seq

    async def put_job(self, job: Job) -> None:
        self._jobs[job.request_id] = job

    async def schedule(self, job: Job, slots: int, now: float) -> Job:
        pool = self._pools.get(job.pool)
        if pool is None:
            pool = self._pools[job.pool] = _Pool(free=[now] * slots)
        # Entries that started by ``now`` can never be counted again: the clock only moves on.
        del pool.starts[: bisect_right(pool.starts, (now, math.inf))]
        while pool.active and self._jobs[pool.active[0]].finished_at <= now:
            pool.active.popleft()
        start = max(now, heapq.heappop(pool.free))
        finish = start + job.service_seconds
        heapq.heappush(pool.free, finish)
        job = job.scheduled(start, finish)
        if start > now:
            insort(pool.starts, (start, job.seq))
        pool.active.append(job.request_id)
        self._jobs[job.request_id] = job
        return job

    async def get_job(self, request_id: str) -> Job | None:
        return self._jobs.get(request_id)

    async def queue_position(self, job: Job, now: float) -> int:
        return self._position(job, now)

    async def job_status(self, request_id: str, now: float) -> tuple[Job, int] | None:
        job = self._jobs.get(request_id)
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
            job = self._jobs[request_id]
            if job.canceled_at is not None or job.finished_at <= now:
                continue
            active.append(request_id)
            assert job.started_at is not None
            if job.started_at <= now:
                running.append(job.finished_at)
            else:
                waiting.append(job)
        free = running + [now] * max(0, slots - len(running))
        heapq.heapify(free)
        starts: list[tuple[float, int]] = []
        for job in waiting:
            start = max(now, heapq.heappop(free))
            finish = start + job.service_seconds
            heapq.heappush(free, finish)
            self._jobs[job.request_id] = job.scheduled(start, finish)
            if start > now:
                starts.append((start, job.seq))
        pool.free = free
        pool.starts = sorted(starts)
        pool.active = active

    async def take_rate_slot(self, key: str, limit: int, window: float, now: float) -> float | None:
        hits = self._windows.setdefault(key, deque())
        while hits and hits[0] <= now - window:
            hits.popleft()
        if len(hits) >= limit:
            return max(hits[0] + window - now, 0.001)
        hits.append(now)
        return None

    async def charge(self, key: str, amount: float, default_balance: float | None) -> bool:
        if key not in self._balances:
            if default_balance is None:
                return True
            self._balances[key] = default_balance
        if self._balances[key] < amount:
            return False
        self._balances[key] -= amount
        return True

    async def set_balance(self, key: str, amount: float) -> None:
        self._balances[key] = amount

    async def balance(self, key: str) -> float | None:
        return self._balances.get(key)

    async def jobs(self, offset: int = 0, limit: int | None = None) -> list[Job]:
        # Jobs enter the dictionary at submit, in sequence order, and keep their place.
        stop = None if limit is None else offset + limit
        return list(islice(self._jobs.values(), offset, stop))

    async def job_count(self) -> int:
        return len(self._jobs)

    async def put_upload(self, file_id: str, data: bytes) -> None:
        self._uploads[file_id] = data

    async def get_upload(self, file_id: str) -> bytes | None:
        return self._uploads.get(file_id)

    async def put_task(self, task: Task) -> None:
        self._tasks[task.task_id] = task

    async def get_task(self, task_id: str) -> Task | None:
        return self._tasks.get(task_id)

    async def reset(self) -> None:
        self._init()

    async def close(self) -> None:
        pass

    async def claim_node(self) -> int:
        return 0  # no other process shares this store

    async def renew_node(self, node: int, release: bool = False) -> None:
        pass
