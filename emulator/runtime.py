"""Process-wide tuning of a long-running emulator server (``imgemu serve``)."""

from __future__ import annotations

import ctypes
import gc
from typing import Any

# Collect the oldest generation after every second collection of the middle one (the
# default waits for ten): with survivors frozen, each full collection is then a small one.
_THRESHOLDS = (700, 10, 1)


def tune_garbage_collector() -> None:
    """Keep long-lived objects out of the collector's view, so its pauses stay short.

    The memory store keeps every job for the result TTL: in a load test, hundreds of
    thousands of objects that live until the process ends. CPython's full collections walk
    all of them, a pause that grows with the store (measured: 20-45 ms at 40,000 jobs), and
    every open connection waits it out. Here what exists at start-up, then whatever survives
    each full collection, is frozen (``gc.freeze``), and full collections come often enough
    that each walks only the few thousand objects made since the last (measured: 2-4 ms).
    Frozen objects are still freed by reference counting when they die; only a reference
    cycle frozen while alive stays, and jobs form none. Calling this twice changes nothing.
    """
    if _freeze_after_full_collection in gc.callbacks:
        return
    gc.collect()
    gc.freeze()
    gc.set_threshold(*_THRESHOLDS)
    gc.callbacks.append(_freeze_after_full_collection)


# glibc's mallopt parameter, and the size from which an allocation is its own mapping.
_M_MMAP_THRESHOLD = -3
_MAPPED_FROM = 1024 * 1024


def tune_allocator() -> bool:
    """Give large blocks back to the system as soon as they are freed (glibc; elsewhere
    nothing changes). Returns whether the allocator took the setting.

    A decoded input image or a large request body is many megabytes, freed a moment later.
    glibc serves such blocks with their own mappings at first, then raises that threshold
    after the first frees (up to 32 MB), after which they come from its arenas, which
    decodes in worker threads spread across: freed, the memory stayed with the process
    (measured: 857 MB held after one large edit). A fixed threshold keeps every block of
    ``_MAPPED_FROM`` or more its own mapping, returned when freed; smaller ones are as before.
    """
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    return bool(mallopt(_M_MMAP_THRESHOLD, _MAPPED_FROM))


def _freeze_after_full_collection(phase: str, info: dict[str, Any]) -> None:
    if phase == "stop" and info["generation"] == 2:
        gc.freeze()
