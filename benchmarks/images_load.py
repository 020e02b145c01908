#!/usr/bin/env python3
"""Images at load-test rates: synchronous OpenAI generations and result-file downloads per
worker, ``imgemu serve`` by default against ``--load-mode`` in the same run.

The default renders a fresh picture per prompt; the load mode reuses one encoded picture per
pixel-shaping key and stamps each request's provenance into a copy. Both servers run with a
tiny time scale, so what is measured is the emulator's own work, not the emulated wait.
Downloads: N queue jobs are submitted and finished first, then wrk fetches their signed result
URLs in turn (each file rendered, or stamped, on first download, then cached).
See ``benchmarks/README.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from queue_throughput import ROOT, free_port, wrk

IMGEMU = str(Path(sys.executable).with_name("imgemu"))
MODES = {"default": [], "load-mode": ["--load-mode"]}
TARGETS = {"generate": 1000.0, "download": 2000.0}  # per worker, load mode
AUTH = {"Authorization": "Bearer bench"}


@contextmanager
def running(mode: str, logs: Path) -> Iterator[tuple[str, int]]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("IMGEMU_")}
    flags = ["--port", str(port), "--time-scale", "0.00001", *MODES[mode]]
    with (logs / f"{mode}.log").open("w") as sink:
        proc = subprocess.Popen(
            [IMGEMU, "serve", *flags], cwd=ROOT, env=env, stdout=sink, stderr=sink
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(base + "/_emulator/health").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline or proc.poll() is not None:
                raise SystemExit(f"{mode}: the server did not start; see {logs}")
            time.sleep(0.1)
        yield base, proc.pid
    finally:
        proc.terminate()
        proc.wait(timeout=15)


def result_paths(base: str, jobs: int) -> list[str]:
    """Submit ``jobs`` queue jobs, wait until they finish, and give their files' paths."""
    paths: list[str] = []
    with httpx.Client(base_url=base, headers=AUTH, timeout=30) as client:
        submitted = [
            client.post(
                "/model/v1/queue/gpt_image_1",
                json={"prompt": f"item {i}", "quality": "low", "size": "1024x1024"},
            ).json()
            for i in range(jobs)
        ]
        for job in submitted:
            while True:
                result = client.get(job["response_url"])
                if result.status_code == 200:
                    break
                time.sleep(0.01)
            url = result.json()["outputs"][0]["url"]
            paths.append(url.removeprefix(base))
    return paths


def measure(mode: str, logs: Path, duration: str, connections: int, jobs: int) -> dict[str, Any]:
    with running(mode, logs) as (base, pid):
        httpx.post(
            base + "/v1/images/generations",
            json={"model": "gpt-image-1", "prompt": "warm", "quality": "low"},
            headers=AUTH,
            timeout=60,
        ).raise_for_status()
        generate = wrk(base + "/v1/images/generations", "generate.lua", duration, connections, pid)
        paths = result_paths(base, jobs)
        listing = logs / f"{mode}-paths.txt"
        listing.write_text("\n".join(paths) + "\n")
        os.environ["IMGEMU_PATHS"] = str(listing)
        download = wrk(base, "download.lua", duration, connections, pid)
    return {"generate": generate, "download": download}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", default="10s")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--jobs", type=int, default=2000, help="queue jobs whose files wrk fetches")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for mode in MODES:
            results[mode] = measure(mode, Path(tmp), args.duration, args.connections, args.jobs)
    print(f"{'':10} {'mode':10} {'rps':>8} {'p50 ms':>8} {'p99 ms':>8} {'non-2xx':>8}  target")
    for op in ("generate", "download"):
        for mode in MODES:
            run = results[mode][op]
            target = ""
            if mode == "load-mode":
                met = run["rps"] >= TARGETS[op]
                target = f">= {TARGETS[op]:.0f}/s: {'met' if met else 'MISSED'}"
            print(
                f"{op:10} {mode:10} {run['rps']:8.0f} {run['p50_ms']:8.1f} {run['p99_ms']:8.1f}"
                f" {run.get('non_2xx', 0):8}  {target}"
            )
        ratio = results["load-mode"][op]["rps"] / max(1.0, results["default"][op]["rps"])
        print(f"{op:10} load-mode / default: {ratio:.1f}x")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
