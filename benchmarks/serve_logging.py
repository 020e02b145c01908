#!/usr/bin/env python3
"""What request logging costs the default ``imgemu serve``: wrk against four servers at once.

- ``off``: ``imgemu serve --log-requests off`` (the baseline: no request logging at all);
- ``default``: ``imgemu serve`` as users start it (refused requests logged with their reason);
- ``all``: ``imgemu serve --log-requests all`` (a line per request);
- ``uvicorn-access-log``: the emulator as ``imgemu serve`` ran it before, uvicorn's access log on.

Every server writes its log to a file, as a terminal or a container runtime would take it.
Rounds interleave the servers op by op (submit, then status of a job waiting deep in line);
ratios are against ``off`` in the same round. See ``benchmarks/README.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from queue_throughput import (
    BENCH,
    ROOT,
    SUBMIT_PATH,
    free_port,
    status_url,
    wrk,
)

IMGEMU = str(Path(sys.executable).with_name("imgemu"))
SERVERS: dict[str, list[str]] = {
    "off": [IMGEMU, "serve", "--log-requests", "off"],
    "default": [IMGEMU, "serve"],
    "all": [IMGEMU, "serve", "--log-requests", "all"],
    "uvicorn-access-log": [
        sys.executable, "-m", "uvicorn", "--factory", "emulator_app:create_app",
        "--app-dir", str(BENCH), "--host", "127.0.0.1",
    ],
}  # fmt: skip


@contextmanager
def running(name: str, logs: Path) -> Iterator[tuple[str, int]]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("IMGEMU_")}
    if name == "uvicorn-access-log":
        env["IMGEMU_LOG_REQUESTS"] = "off"
    with (logs / f"{name}.log").open("w") as sink:
        proc = subprocess.Popen(
            [*SERVERS[name], "--port", str(port)], cwd=ROOT, env=env, stdout=sink, stderr=sink
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(base + "/_emulator/health", timeout=1)
                break
            except httpx.TransportError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"{name} did not start") from None
                time.sleep(0.1)
        yield base, proc.pid
    finally:
        proc.terminate()
        proc.wait(timeout=15)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", default="5s", help="wrk duration per run (5s)")
    parser.add_argument("--connections", type=int, default=64, help="wrk connections (64)")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds (3)")
    parser.add_argument("--json", type=Path, help="write every number to this JSON file")
    parser.add_argument("--logs", type=Path, default=Path("/tmp/imgemu-serve-logging"))
    args = parser.parse_args()
    args.logs.mkdir(parents=True, exist_ok=True)
    rounds: list[dict[str, Any]] = []
    with ExitStack() as stack:
        servers = {name: stack.enter_context(running(name, args.logs)) for name in SERVERS}
        for base, pid in servers.values():
            wrk(base + SUBMIT_PATH, "submit.lua", "2s", args.connections, pid)
        for index in range(args.rounds):
            one: dict[str, Any] = {}
            for op in ("submit", "status"):
                for name, (base, pid) in servers.items():
                    url, script = base + SUBMIT_PATH, "submit.lua"
                    if op == "status":
                        url, script = status_url(base), "status.lua"
                    run = wrk(url, script, args.duration, args.connections, pid)
                    one.setdefault(name, {})[op] = run
            rounds.append(one)
            print(f"round {index + 1}/{args.rounds} done", flush=True)
    print(f"\n{'':20}{'submit rps':>11}{'ratio':>7}{'p99 ms':>8}{'status rps':>12}{'ratio':>7}"
          f"{'p99 ms':>8}")  # fmt: skip
    summary: dict[str, Any] = {}
    for name in SERVERS:
        row: dict[str, Any] = {}
        for op in ("submit", "status"):
            runs = [r[name][op] for r in rounds]
            row[op] = {
                "rps": statistics.median(run["rps"] for run in runs),
                "ratio": statistics.median(
                    r[name][op]["rps"] / r["off"][op]["rps"] for r in rounds
                ),
                "p99_ms": statistics.median(run["p99_ms"] for run in runs),
                "errors": sum(run["non_2xx"] + run["socket_errors"] for run in runs),
            }
        summary[name] = row
        s, t = row["submit"], row["status"]
        print(f"{name:20}{s['rps']:>11.0f}{s['ratio']:>7.2f}{s['p99_ms']:>8.1f}"
              f"{t['rps']:>12.0f}{t['ratio']:>7.2f}{t['p99_ms']:>8.1f}")  # fmt: skip
    if args.json:
        args.json.write_text(json.dumps({"rounds": rounds, "summary": summary}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
