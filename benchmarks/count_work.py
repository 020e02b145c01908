#!/usr/bin/env python3
"""Work per request of the queue protocol, counted rather than timed: steady on a busy machine.

Drives the emulator in-process over the same fixed ASGI scope as ``profile_queue.py`` and
prints, per request of submit and of status, the Python bytecode instructions executed
(``sys.settrace`` opcode events) and the function calls (cProfile). Neither moves with the
machine's load, so two trees can be compared where wrk's numbers drown in noise; C code (JSON,
regexes, the schema validator) counts as the one call that enters it. The request journal makes
its entries a moment after the answers (a timer, which this loop never lets run): that work is
counted apart, per entry, by flushing the journal by hand (``journal: ...``; absent in a tree
without a journal, or with ``IMGEMU_JOURNAL_SIZE=0``).

    .venv/bin/python benchmarks/count_work.py [--requests 300]

To count another tree (an older commit in a worktree) with the same venv, run it from there
with its code first on the path: ``cd WT && PYTHONPATH=WT /path/.venv/bin/python
benchmarks/count_work.py``.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import pstats
import sys
from pathlib import Path
from types import FrameType
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import profile_queue as pq

_opcodes = 0


def _trace(frame: FrameType, event: str, arg: Any) -> Any:
    global _opcodes
    frame.f_trace_opcodes = True
    if event == "opcode":
        _opcodes += 1
    return _trace


async def count(n: int) -> None:
    global _opcodes
    for op in ("submit", "status"):
        app = pq.emulator_app.create_app()
        path = await pq.status_path(app) if op == "status" else pq.SUBMIT_PATH
        method, body = ("POST", pq.BODY) if op == "submit" else ("GET", b"")
        await pq.per_request_us(app, method, path, body, 1, warmup=300)
        _opcodes = 0
        sys.settrace(_trace)
        try:
            for _ in range(n):
                await pq.call(app, method, path, body)
        finally:
            sys.settrace(None)
        opcodes = _opcodes / n
        profile = cProfile.Profile()
        profile.enable()
        for _ in range(n):
            await pq.call(app, method, path, body)
        profile.disable()
        calls = pstats.Stats(profile).total_calls / n
        print(f"{op:8}{opcodes:>10.0f} opcodes/request{calls:>8.0f} calls/request")
        journal = getattr(app.state.emulator, "journal", None)
        if journal is not None and journal.size:
            await _count_journal(journal, app, method, path, body, min(n, journal.size))


async def _count_journal(
    journal: Any, app: Any, method: str, path: str, body: bytes, n: int
) -> None:
    """The journal's work per entry: ``n`` requests noted, then one flush counted."""
    global _opcodes
    counts = []
    for counting in ("opcodes", "calls"):
        journal.flush()
        for _ in range(n):
            await pq.call(app, method, path, body)
        if counting == "opcodes":
            _opcodes = 0
            sys.settrace(_trace)
            try:
                journal.flush()
            finally:
                sys.settrace(None)
            counts.append(_opcodes / n)
        else:
            profile = cProfile.Profile()
            profile.enable()
            journal.flush()
            profile.disable()
            counts.append(pstats.Stats(profile).total_calls / n)
    print(f"  journal{counts[0]:>9.0f} opcodes/entry  {counts[1]:>7.0f} calls/entry (later)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=300)
    args = parser.parse_args()
    import emulator

    print(f"emulator from {Path(emulator.__file__).parent}")
    asyncio.run(count(args.requests))


if __name__ == "__main__":
    main()
