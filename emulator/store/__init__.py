"""Where jobs, worker pools, rate windows and balances live: this process's memory, or Redis.

Every method is a coroutine so a networked store fits behind the same interface; each one is
atomic (the memory store never awaits inside a method; the Redis store runs each
read-modify-write as one Lua script).
"""

from emulator.store.base import Store, StoreUnavailable
from emulator.store.memory import MemoryStore
from emulator.store.url import parse as parse_store


def open_store(spec: str, result_ttl: float) -> Store:
    """The store the ``store`` setting names: ``memory`` or ``redis://host:port/db``.

    A Redis store is reached at once (blocking, a few milliseconds) so a wrong or unreachable
    URL stops the start with ``StoreUnavailable``; its records live ``result_ttl`` plus
    ``emulator.store.redis.GRACE`` seconds.
    """
    target = parse_store(spec)
    if target is None:
        return MemoryStore()
    from emulator.store.redis import GRACE, RedisStore  # only Redis users import redis-py

    store = RedisStore(target, result_ttl + GRACE)
    store.check()
    return store


__all__ = ["MemoryStore", "Store", "StoreUnavailable", "open_store"]
