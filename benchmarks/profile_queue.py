#!/usr/bin/env python3
"""Per-request cost of the queue protocol in-process, and where the emulator's time goes.

Drives each ASGI app directly (no sockets, no HTTP client: a fixed scope, one ``receive``, a
``send`` that drops the messages), so the microseconds are the app's own: Starlette routing,
the handler, the domain, JSON. ``--profile`` adds a cProfile of the emulator per operation.

    .venv/bin/python benchmarks/profile_queue.py [--requests 20000] [--repeat 5] [--profile]
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import gc
import json
import os
import pstats
import statistics
import sys
import time
from collections.abc import Awaitable, Callable, MutableMapping
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))
os.environ.setdefault("IMGEMU_SLOTS", "100000")
os.environ.setdefault("IMGEMU_TIME_SCALE", "10")

import bare_app  # noqa: E402
import emulator_app  # noqa: E402
from queue_throughput import HEADERS, SEED_BODY, SUBMIT_PATH, http_scope  # noqa: E402

App = Callable[[MutableMapping[str, Any], Any, Any], Awaitable[None]]
BODY = json.dumps(SEED_BODY).encode()


def scope(method: str, path: str, body: bytes) -> dict[str, Any]:
    headers = [
        (b"host", b"127.0.0.1:8000"),
        (b"user-agent", b"wrk"),
        (b"authorization", HEADERS["Authorization"].encode()),
    ]
    if body:
        headers += [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]
    return http_scope(method, path, headers)


async def call(app: App, method: str, path: str, body: bytes = b"") -> tuple[int, bytes]:
    """One request through ``app``; returns the status and the body."""
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app(scope(method, path, body), receive, send)
    return sent[0]["status"], b"".join(m.get("body", b"") for m in sent[1:])


async def per_request_us(
    app: App, method: str, path: str, body: bytes, n: int, warmup: int = 2000
) -> float:
    """Mean microseconds of one request over ``n``, after ``warmup`` untimed ones."""
    return (await per_request_wall_cpu(app, method, path, body, n, warmup))[0]


async def per_request_wall_cpu(
    app: App, method: str, path: str, body: bytes, n: int, warmup: int = 2000
) -> tuple[float, float]:
    """Mean wall-clock and CPU (this process's) microseconds of one request over ``n``.

    On a shared machine the CPU time is the steadier of the two: time spent waiting for a core
    another process holds is not counted.
    """
    for _ in range(max(1, warmup)):
        status, _ = await call(app, method, path, body)
        assert 200 <= status < 300, f"{method} {path} answered {status}"
    start, cpu = time.perf_counter(), time.process_time()
    for _ in range(n):
        await call(app, method, path, body)
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu
    return wall / n * 1e6, cpu / n * 1e6


class GcTimer:
    """Time spent in the garbage collector while it is installed: total and longest pause."""

    def __init__(self) -> None:
        self.total = self.longest = self._start = 0.0

    def __call__(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._start = time.perf_counter()
        else:
            pause = time.perf_counter() - self._start
            self.total += pause
            self.longest = max(self.longest, pause)


async def status_path(app: App) -> str:
    _, raw = await call(app, "POST", SUBMIT_PATH, BODY)
    return f"{SUBMIT_PATH}/requests/{json.loads(raw)['request_id']}/status"


async def measure(n: int, repeat: int) -> None:
    print(f"{n} requests each, after 2000 untimed; a fresh app per row; median of {repeat}")
    print(
        f"{'':10}{'op':8}{'us/request':>12}{'cpu us/req':>12}{'of it GC':>10}{'longest GC ms':>15}"
    )
    for name, factory in (("emulator", emulator_app.create_app), ("bare", bare_app.create_app)):
        for op in ("submit", "status"):
            app = factory()
            path = await status_path(app) if op == "status" else SUBMIT_PATH
            method, body = ("POST", BODY) if op == "submit" else ("GET", b"")
            gc.collect()
            timer = GcTimer()
            gc.callbacks.append(timer)
            try:
                runs = [
                    await per_request_wall_cpu(app, method, path, body, n, 2000 if i == 0 else 0)
                    for i in range(repeat)
                ]
            finally:
                gc.callbacks.remove(timer)
            us = statistics.median(wall for wall, _ in runs)
            cpu = statistics.median(cpu for _, cpu in runs)
            gc_us = timer.total / (n * repeat) * 1e6
            print(
                f"{name:10}{op:8}{us:>12.1f}{cpu:>12.1f}{gc_us:>10.1f}{timer.longest * 1e3:>15.1f}"
            )


async def profile(n: int, top: int) -> None:
    for op in ("submit", "status"):
        app = emulator_app.create_app()
        path = await status_path(app) if op == "status" else SUBMIT_PATH
        method, body = ("POST", BODY) if op == "submit" else ("GET", b"")
        await per_request_us(app, method, path, body, 1)
        prof = cProfile.Profile()
        prof.enable()
        await per_request_us(app, method, path, body, n, warmup=0)
        prof.disable()
        print(f"\n=== emulator {op}: {n} requests, top {top} by own time ===")
        pstats.Stats(prof).sort_stats("tottime").print_stats(top)
        print(f"=== emulator {op}: top {top} by cumulative time ===")
        pstats.Stats(prof).sort_stats("cumulative").print_stats(top)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=50000)
    parser.add_argument("--profile", action="store_true", help="cProfile the emulator too")
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--repeat", type=int, default=1, help="runs per row; medians printed")
    args = parser.parse_args()
    asyncio.run(measure(args.requests, args.repeat))
    if args.profile:
        asyncio.run(profile(args.requests, args.top))


if __name__ == "__main__":
    main()
