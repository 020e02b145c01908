"""Where jobs, worker pools, rate windows and balances live: this process's memory, or Redis.

Every method is a coroutine so a networked store fits behind the same interface; each one is
atomic (the memory store never awaits inside a method; the Redis store runs each
read-modify-write as one Lua script).
"""

from collections.abc import Callable

from emulator.domain.records import GRACE
from emulator.store.base import Store, StoreUnavailable
from emulator.store.memory import MemoryStore
from emulator.store.url import parse as parse_store


def open_store(
    spec: str,
    result_ttl: float,
    clock: Callable[[], float] | None = None,
    upload_bytes: int | None = None,
) -> Store:
    """The store the ``store`` setting names: ``memory`` or ``redis://host:port/db``.

    Records live ``result_ttl`` plus ``emulator.domain.records.GRACE`` seconds after they are
    done. In memory they expire by ``clock`` (the emulator's ``now``; without one nothing
    expires); in Redis their keys expire. In both, uploads are kept up to ``upload_bytes`` (the
    oldest go first). A Redis
    store is reached at once (blocking, a few milliseconds) so a wrong or unreachable URL stops
    the start with ``StoreUnavailable``.
    """
    target = parse_store(spec)
    if target is None:
        if clock is None:
            return MemoryStore(upload_bytes=upload_bytes)
        return MemoryStore(result_ttl + GRACE, clock, upload_bytes)
    from emulator.store.redis import RedisStore  # only Redis users import redis-py

    store = RedisStore(target, result_ttl + GRACE, upload_bytes)
    store.check()
    return store


__all__ = ["MemoryStore", "Store", "StoreUnavailable", "open_store"]
