"""Soak: does a default ``imgemu serve`` keep its memory flat under a long mixed load?

    .venv/bin/python benchmarks/soak.py [--minutes 10] [--users 24] [--time-scale 0.01]
        [--result-ttl 60] [--sample-seconds 10] [--out DIR] [--json FILE]

Starts ``imgemu serve`` with its defaults except ``--time-scale`` (generations take a hundredth
of their time) and ``--result-ttl`` (records are forgotten ``result_ttl`` plus the grace, a
minute, after they are done, so eviction runs within the soak), then drives it with the
Locust scenarios (``docker/locust/locustfile.py``, headless: queue users that submit, poll,
read and download, synchronous and streamed OpenAI Images users, 典名词元 users) for
``--minutes``. Every ``--sample-seconds`` it reads the server's resident memory (VmRSS of the
server and its children, from /proc) and the jobs its store holds (``/_emulator/jobs``).

Prints the samples, then RSS at two minutes and at the end with the growth between them (the
target: under 10 %, once the records of the first minutes have started to expire), the
largest RSS after two minutes, and Locust's requests and failures. Exits 1 when the growth
reaches ``--target`` percent or Locust counted a failure. Linux only (/proc).
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
LOCUSTFILE = ROOT / "docker" / "locust" / "locustfile.py"
TWO_MINUTES = 120.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def rss_kb(pid: int) -> int:
    """Resident memory of ``pid`` and its descendants, in KB."""
    total = 0
    todo = [pid]
    while todo:
        current = todo.pop()
        try:
            status = Path(f"/proc/{current}/status").read_text()
        except OSError:
            continue
        for line in status.splitlines():
            if line.startswith("VmRSS:"):
                total += int(line.split()[1])
        with contextlib.suppress(OSError):
            for task in Path(f"/proc/{current}/task").iterdir():
                children = (task / "children").read_text().split()
                todo.extend(int(child) for child in children)
    return total


def wait_healthy(base: str, process: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"imgemu serve exited with {process.returncode}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{base}/_emulator/health", timeout=2).status_code == 200:
                return
        time.sleep(0.2)
    raise SystemExit("imgemu serve did not answer in time")


def store_jobs(base: str) -> int | None:
    try:
        total: int = httpx.get(f"{base}/_emulator/jobs", params={"limit": 1}, timeout=10).json()[
            "total"
        ]
    except (httpx.HTTPError, ValueError, KeyError):
        return None
    return total


def locust_totals(prefix: Path) -> dict[str, Any]:
    try:
        with open(f"{prefix}_stats.csv", newline="", encoding="utf-8") as rows:
            stats = {row["Name"]: row for row in csv.DictReader(rows)}
    except OSError:
        return {}
    total = stats.get("Aggregated", {})
    return {
        "requests": int(total.get("Request Count", 0)),
        "failures": int(total.get("Failure Count", 0)),
        "rps": float(total.get("Requests/s", 0.0)),
        "queue_submits": int(stats.get("queue submit", {}).get("Request Count", 0)),
    }


def at(samples: list[dict[str, Any]], seconds: float) -> dict[str, Any]:
    """The sample nearest ``seconds`` after the load started."""
    return min(samples, key=lambda s: abs(s["t"] - seconds))


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--users", type=int, default=24)
    parser.add_argument("--time-scale", type=float, default=0.01)
    parser.add_argument("--result-ttl", type=float, default=60.0)
    parser.add_argument("--sample-seconds", type=float, default=10.0)
    parser.add_argument("--target", type=float, default=10.0, help="most RSS growth, percent")
    parser.add_argument("--out", help="directory for the logs and Locust's CSV and HTML")
    parser.add_argument("--json", help="write the samples and the summary to this file")
    args = parser.parse_args(argv)
    out = Path(args.out or tempfile.mkdtemp(prefix="imgemu-soak-"))
    out.mkdir(parents=True, exist_ok=True)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    environ = {k: v for k, v in os.environ.items() if not k.startswith("IMGEMU_")}
    serve = [
        sys.executable, "-m", "imgemu", "serve", "--port", str(port),
        "--time-scale", str(args.time_scale), "--result-ttl", str(args.result_ttl),
    ]  # fmt: skip
    seconds = round(args.minutes * 60)
    locust = [
        sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--headless",
        "--users", str(args.users), "--spawn-rate", str(args.users),
        "--run-time", f"{seconds}s", "--stop-timeout", "30", "--host", base,
        "--csv", str(out / "load"), "--html", str(out / "load.html"), "--only-summary",
    ]  # fmt: skip
    print(f"server: {' '.join(serve[1:])}\nload:   locust, {args.users} users, {seconds} s")
    print(f"output: {out}")
    with (out / "serve.log").open("wb") as serve_log:
        server = subprocess.Popen(
            serve, cwd=out, env=environ, stdout=serve_log, stderr=subprocess.STDOUT
        )
    samples: list[dict[str, Any]] = []
    try:
        wait_healthy(base, server)
        idle_kb = rss_kb(server.pid)
        print(f"idle RSS {idle_kb / 1024:.1f} MB\n")
        print(f"{'t (s)':>6} {'RSS MB':>8} {'jobs held':>10}")
        with (out / "locust.log").open("wb") as locust_log:
            load = subprocess.Popen(locust, cwd=out, stdout=locust_log, stderr=subprocess.STDOUT)
            start = time.monotonic()
            next_sample = 0.0
            while load.poll() is None:
                elapsed = time.monotonic() - start
                if elapsed >= next_sample:
                    sample: dict[str, Any] = {
                        "t": round(elapsed),
                        "rss_kb": rss_kb(server.pid),
                        "jobs": store_jobs(base),
                    }
                    samples.append(sample)
                    print(
                        f"{sample['t']:>6} {sample['rss_kb'] / 1024:>8.1f} {sample['jobs']!s:>10}"
                    )
                    next_sample += args.sample_seconds
                time.sleep(0.5)
        samples.append(
            {
                "t": round(time.monotonic() - start),
                "rss_kb": rss_kb(server.pid),
                "jobs": store_jobs(base),
            }
        )
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
    totals = locust_totals(out / "load")
    two = at(samples, TWO_MINUTES)
    end = samples[-1]
    later = [s for s in samples if s["t"] >= two["t"]]
    peak = max(later, key=lambda s: s["rss_kb"])
    growth = (end["rss_kb"] - two["rss_kb"]) / two["rss_kb"] * 100
    peak_growth = (peak["rss_kb"] - two["rss_kb"]) / two["rss_kb"] * 100
    summary = {
        "minutes": args.minutes,
        "users": args.users,
        "time_scale": args.time_scale,
        "result_ttl": args.result_ttl,
        "idle_rss_mb": round(idle_kb / 1024, 1),
        "rss_at_2min_mb": round(two["rss_kb"] / 1024, 1),
        "rss_at_end_mb": round(end["rss_kb"] / 1024, 1),
        "peak_after_2min_mb": round(peak["rss_kb"] / 1024, 1),
        "growth_after_2min_pct": round(growth, 1),
        "peak_growth_after_2min_pct": round(peak_growth, 1),
        "jobs_held_at_end": end["jobs"],
        **{f"locust_{k}": v for k, v in totals.items()},
    }
    print(
        f"\nRSS: idle {summary['idle_rss_mb']} MB, at {two['t']} s {summary['rss_at_2min_mb']} MB,"
        f" at the end ({end['t']} s) {summary['rss_at_end_mb']} MB: {growth:+.1f} % "
        f"(peak after 2 min {summary['peak_after_2min_mb']} MB, {peak_growth:+.1f} %)"
    )
    print(
        f"locust: {totals.get('requests', 0):,} requests, {totals.get('failures', 0):,} failures,"
        f" {totals.get('rps', 0.0):.1f} req/s; {totals.get('queue_submits', 0):,} queue jobs "
        f"submitted, {end['jobs']} held at the end"
    )
    if args.json:
        with open(args.json, "w", encoding="utf-8") as handle:
            json.dump({"summary": summary, "samples": samples}, handle, indent=2)
    ok = growth < args.target and totals.get("failures", 1) == 0
    print("target met" if ok else f"target missed (growth < {args.target} %, no failure)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
