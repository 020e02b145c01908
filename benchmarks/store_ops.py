"""Rough cost of the store's operations: the memory store against the Redis store.

    .venv/bin/python benchmarks/store_ops.py redis://127.0.0.1:6379/0?namespace=bench [N]

Times, per operation, N sequential awaits of each (one job pool of 16 slots, jobs shaped as
the queue stores them) and N status reads from 64 concurrent tasks. The Redis store's keys
go in the URL's namespace, which is emptied before and after.
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Awaitable, Callable

import uvloop

from emulator.domain.records import Job
from emulator.store import MemoryStore, Store, open_store
from emulator.store.base import Window

PARAMS = {
    "prompt": "A clean product photo of a red apple on a white table, soft studio lighting.",
    "n": 1,
    "size": "1024x1024",
    "quality": "medium",
    "output_format": "jpeg",
}
NOW = 1_790_000_000.0


def job(i: int) -> Job:
    return Job(
        f"req-{i:028d}", "seacloud", "gpt_image_1", "owner", i, PARAMS, NOW, NOW, NOW,
        n_outputs=1, width=1024, height=1024, service_seconds=5.0,
    )  # fmt: skip


async def timed(n: int, step: Callable[[int], Awaitable[object]]) -> float:
    """Microseconds per call of ``step(i)`` for i in 1..n, one after another."""
    start = time.perf_counter()
    for i in range(1, n + 1):
        await step(i)
    return (time.perf_counter() - start) / n * 1e6


async def measure(store: Store, n: int) -> dict[str, float]:
    await store.reset()

    async def submit(i: int) -> None:
        await store.next_seq()
        await store.schedule(job(i), 16, NOW)

    async def read_two(i: int) -> None:
        found = await store.get_job(f"req-{i:028d}")
        assert found is not None
        await store.queue_position(found, NOW)

    async def gate(i: int) -> None:
        await store.take_rate_slot("key", 10**9, 60.0, NOW)
        await store.charge("owner", 0.01, None)

    async def per_minute(i: int) -> None:  # OpenAI's two windows of one key and model
        await store.take_windows(
            (Window("rpm:key:model", 10**9, 60.0), Window("ipm:key:model", 10**9, 60.0, 2)), NOW
        )

    async def concurrency(i: int) -> None:  # a place for a job, among ever more places
        await store.take_concurrency("key", f"req-{i:028d}", 10**9, NOW)

    async def reader(first: int) -> None:
        for i in range(first, n + 1, 64):
            await store.job_status(f"req-{i:028d}", NOW)

    row = {
        "next_seq+schedule": await timed(n, submit),
        "get_job": await timed(n, lambda i: store.get_job(f"req-{i:028d}")),
        "get_job+queue_position": await timed(n, read_two),
        "job_status": await timed(n, lambda i: store.job_status(f"req-{i:028d}", NOW)),
        "take_rate_slot+charge": await timed(n, gate),
        "take_windows (rpm+ipm)": await timed(n, per_minute),
        "take_concurrency": await timed(n, concurrency),
    }
    start = time.perf_counter()
    await asyncio.gather(*(reader(first) for first in range(1, 65)))
    row["job_status x64 (reads/s)"] = n / (time.perf_counter() - start)
    await store.reset()
    return row


async def main(url: str, n: int) -> None:
    redis = open_store(url, 3600.0)
    try:
        rows = {"memory": await measure(MemoryStore(), n), "redis": await measure(redis, n)}
    finally:
        await redis.close()
    names = list(rows["memory"])
    width = max(map(len, names))
    print(f"{'':{width}}  {'memory':>10}  {'redis':>10}   (us per call; last row per second)")
    for name in names:
        print(f"{name:{width}}  {rows['memory'][name]:10.1f}  {rows['redis'][name]:10.1f}")


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    uvloop.run(main(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 5000))
