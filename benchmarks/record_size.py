"""What the memory store keeps per job: bytes per finished job, and an edit's retained bytes.

    .venv/bin/python benchmarks/record_size.py [--jobs 20000] [--input-mb 1.0] [--edits 20]

Everything runs in-process through the queue service (``emulator.state.build``: the default
settings, the memory store, a virtual clock), as the HTTP handlers call it:

1. **bytes per finished job.** ``--jobs`` generation jobs are submitted (the Locust scenario's
   body: a prompt, size, quality), the clock is moved past their finish and each one's status
   is read once; tracemalloc's traced memory after, less before, over the job count. Nothing is
   expired yet (the records live ``result_ttl`` plus ``GRACE`` after their finish); then the
   clock is moved past that and what is still traced is reported;
2. **retained bytes of an edit.** One edit job whose input image is about ``--input-mb`` MB
   (noise, so it does not compress), sent as a ``data:`` URL; the request body is dropped after
   submit and the memory still traced is what the job keeps. Then ``--edits`` more edits with
   the same image: what each one adds.

Prints one line per measure and, with ``--json FILE``, writes them.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import gc
import io
import json
import random
import sys
import tracemalloc
from typing import Any

from PIL import Image

from emulator.domain.clock import VirtualClock
from emulator.domain.records import GRACE
from emulator.settings import Settings
from emulator.state import Emulator, build

START = 1_790_000_000.0
KEY = "bench-key"
PROVIDER = "seacloud"


def emulator() -> Emulator:
    return build(Settings(clock="virtual", clock_start=START, log_requests="off"))


def noise_png(megabytes: float, seed: int = 7) -> bytes:
    """An RGB PNG of random pixels, about ``megabytes`` MB (noise does not compress)."""
    edge = int((megabytes * 1024 * 1024 / 3) ** 0.5)
    pixels = random.Random(seed).randbytes(edge * edge * 3)
    out = io.BytesIO()
    Image.frombytes("RGB", (edge, edge), pixels).save(out, "PNG", compress_level=1)
    return out.getvalue()


def traced() -> int:
    gc.collect()
    return tracemalloc.get_traced_memory()[0]


async def per_finished_job(n: int) -> dict[str, Any]:
    emu = emulator()
    clock = emu.clock
    assert isinstance(clock, VirtualClock)
    # One submit first: pools, caches and interned strings are made once, not per job.
    await emu.queue.submit(PROVIDER, KEY, "gpt_image_1_5", {"prompt": "warm up"})
    tracemalloc.start()
    before = traced()
    ids = []
    for i in range(n):
        body = {"prompt": f"A product photo of item {i % 10_000}", "size": "1024x1024"}
        body["quality"] = "low"
        submitted = await emu.queue.submit(PROVIDER, KEY, "gpt_image_1_5", body)
        ids.append(submitted.job.request_id)
    last = await emu.store.get_job(ids[-1])  # FIFO: the last submitted finishes last
    assert last is not None
    clock.set(last.finished_at + 1.0)
    for rid in ids:
        snap = await emu.queue.snapshot(PROVIDER, KEY, "gpt_image_1_5", rid)
        assert snap.state.terminal, snap
    del snap, submitted, body, last
    # The ids list belongs to the benchmark, not to the store: measured and taken off.
    ids_bytes = sys.getsizeof(ids) + sum(sys.getsizeof(rid) for rid in ids)
    after = traced()
    held = after - before - ids_bytes
    store_jobs = await emu.store.job_count()
    # Past the records' time to live: the store lets them all go.
    clock.advance(emu.settings.result_ttl + GRACE)
    left_jobs = await emu.store.job_count()  # drops every record that is due
    del ids
    expired = traced() - before
    tracemalloc.stop()
    return {
        "jobs": n,
        "held_bytes": held,
        "bytes_per_job": round(held / n),
        "store_jobs": store_jobs,
        "held_after_expiry_bytes": expired,
        "store_jobs_after_expiry": left_jobs,
    }


async def edit_job(megabytes: float, more: int) -> dict[str, Any]:
    emu = emulator()
    image = noise_png(megabytes)
    await emu.queue.submit(PROVIDER, KEY, "gpt_image_1_5", {"prompt": "warm up"})
    tracemalloc.start()

    async def one_edit() -> None:
        # The body is made inside the trace and dropped after the call: what stays is the job's.
        body = {
            "prompt": "Put the product on a marble table",
            "images": ["data:image/png;base64," + base64.b64encode(image).decode()],
            "size": "auto",
        }
        submitted = await emu.queue.submit(PROVIDER, KEY, "gpt_image_1_5_edit", body)
        assert submitted.job.error_type is None, submitted.job.error

    before = traced()
    await one_edit()
    first = traced() - before
    mid = traced()
    for _ in range(more):
        await one_edit()
    each = (traced() - mid) / more if more else 0.0
    tracemalloc.stop()
    return {
        "input_bytes": len(image),
        "first_edit_bytes": first,
        "more_edits": more,
        "bytes_per_further_edit": round(each),
    }


async def measure(jobs: int, input_mb: float, edits: int) -> dict[str, Any]:
    return {
        "finished_jobs": await per_finished_job(jobs),
        "edit": await edit_job(input_mb, edits),
    }


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--jobs", type=int, default=20_000)
    parser.add_argument("--input-mb", type=float, default=1.0)
    parser.add_argument("--edits", type=int, default=20)
    parser.add_argument("--json", help="write the results to this file")
    args = parser.parse_args(argv)
    results = asyncio.run(measure(args.jobs, args.input_mb, args.edits))
    jobs, edit = results["finished_jobs"], results["edit"]
    print(
        f"finished jobs: {jobs['jobs']:,} held {jobs['held_bytes'] / 1e6:.1f} MB, "
        f"{jobs['bytes_per_job']:,} bytes per job (store holds {jobs['store_jobs']:,}); "
        f"past result_ttl + GRACE: {jobs['held_after_expiry_bytes'] / 1e6:.2f} MB held, "
        f"store holds {jobs['store_jobs_after_expiry']:,}"
    )
    print(
        f"edit with a {edit['input_bytes'] / 1e6:.2f} MB input: the job keeps "
        f"{edit['first_edit_bytes'] / 1e6:.2f} MB; {edit['more_edits']} more with the same "
        f"image add {edit['bytes_per_further_edit'] / 1e6:.3f} MB each"
    )
    if args.json:
        with open(args.json, "w", encoding="utf-8") as out:
            json.dump(results, out, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
