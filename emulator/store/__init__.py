"""Where jobs, worker pools, rate windows and balances live: memory now, Redis later.

Every method is a coroutine so a networked store fits behind the same interface; each one is
atomic (the memory store never awaits inside a method).
"""

from emulator.store.base import Store
from emulator.store.memory import MemoryStore

__all__ = ["MemoryStore", "Store"]
