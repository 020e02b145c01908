#!/usr/bin/env python3
"""What counting costs a request: the metrics middleware around a trivial ASGI app, and the
counters a submit adds (``charged``, ``submitted``), in microseconds, in-process.

    .venv/bin/python benchmarks/metrics_cost.py [--requests 200000] [--rounds 5]
"""

from __future__ import annotations

import argparse
import asyncio
import time
from typing import Any

from emulator.domain.metrics import Metrics
from emulator.http.middleware.metrics import MetricsMiddleware
from emulator.store import MemoryStore

START = {"type": "http.response.start", "status": 200, "headers": []}
BODY = {"type": "http.response.body", "body": b"{}"}


async def answer(scope: Any, receive: Any, send: Any) -> None:
    await send(START)
    await send(BODY)


async def drop(message: Any) -> None:
    pass


async def nothing() -> dict[str, Any]:
    return {}


async def per_request_us(app: Any, n: int) -> float:
    scope = {"type": "http"}
    start = time.perf_counter()
    for _ in range(n):
        await app(scope, nothing, drop)
    return (time.perf_counter() - start) / n * 1e6


async def main(n: int, rounds: int) -> None:
    metrics = Metrics(MemoryStore())
    metered = MetricsMiddleware(answer, metrics.meter("seacloud", "status"))
    print("bare us  metered us  middleware us  submit's counters us")
    for _ in range(rounds):
        bare = await per_request_us(answer, n)
        with_meter = await per_request_us(metered, n)
        start = time.perf_counter()
        for _ in range(n):
            metrics.charged("seacloud", 0.04224)
            metrics.submitted("seacloud")
        counters = (time.perf_counter() - start) / n * 1e6
        print(f"{bare:7.3f}  {with_meter:10.3f}  {with_meter - bare:13.3f}  {counters:20.3f}")
    await metrics.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=200_000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    asyncio.run(main(args.requests, args.rounds))
