"""Every id the emulator hands out, from one seeded factory.

One ``Ids`` is built per run (``emulator/state.py:build``) from ``settings.seed``: the same seed
repeats every id of a run. Each kind of id draws from a stream of its own, so making one kind
never shifts another's sequence (a status read that is refused does not change the next job's
id):

- ``job``: a queue job, ``mmsu_`` and a lowercase ULID (48-bit milliseconds + 80 random bits);
- ``task`` and ``file``: 典名词元's tasks (``task_`` + ULID) and uploads (``file-`` + ULID);
- ``request``: an HTTP request's own id, in its dialect's form: ``req_`` + 32 hex digits for the
  Images dialect and 典名词元 (their ``x-request-id``), a version-4 UUID for the queue (the
  ``request_id`` of its gateway's refusals).

``node`` is mixed into every stream's seed: processes that share a store will each pass their
own (a worker's id), so their ids never collide. A lone process leaves it empty.
"""

from __future__ import annotations

import random

from emulator.providers import Dialect

_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"  # Crockford base32, lowercase
# Two base32 digits per 10 bits: a ULID's 130 bits (128 and two leading zeros) are 13 lookups.
_PAIRS = tuple(_ALPHABET[i >> 5] + _ALPHABET[i & 31] for i in range(1024))
_SHIFTS = tuple(range(120, -10, -10))
_MS_MASK = (1 << 48) - 1
JOB_PREFIX, TASK_PREFIX, FILE_PREFIX = "mmsu_", "task_", "file-"
# A version-4 UUID: version nibble 4 (bits 76-79), variant 10 (bits 62-63).
_UUID_CLEAR = ~((0xF << 76) | (0x3 << 62))
_UUID_SET = (0x4 << 76) | (0x2 << 62)


class _Ulids:
    """ULIDs from the emulator clock and one seeded stream."""

    def __init__(self, rng: random.Random) -> None:
        self._bits = rng.getrandbits

    def __call__(self, now: float) -> str:
        value = (int(now * 1000) & _MS_MASK) << 80 | self._bits(80)
        return "".join([_PAIRS[(value >> shift) & 1023] for shift in _SHIFTS])


class Ids:
    """The run's id factory: one seeded stream per kind of id."""

    def __init__(self, seed: int, node: str = "") -> None:
        self.seed = seed
        self._start(node)

    def assign(self, node: int) -> None:
        """Draw as process ``node`` of those sharing a store (0: as a lone process would)."""
        self._start(str(node) if node else "")

    @property
    def node_number(self) -> int:
        """The node this factory draws as (0 for a lone process)."""
        return int(self.node) if self.node else 0

    def _start(self, node: str) -> None:
        self.node = node
        self._job = _Ulids(self._stream("jobs"))
        self._task = _Ulids(self._stream("tasks"))
        self._file = _Ulids(self._stream("files"))
        self._hex = {
            "images": self._stream("images:requests").getrandbits,
            "aa": self._stream("aa:requests").getrandbits,
        }
        self._uuid = self._stream("queue:requests").getrandbits

    def _stream(self, kind: str) -> random.Random:
        prefix = f"{self.seed}:{self.node}" if self.node else str(self.seed)
        return random.Random(f"{prefix}:{kind}")

    def job(self, now: float) -> str:
        """A queue job's id at clock time ``now``."""
        return JOB_PREFIX + self._job(now)

    def task(self, now: float) -> str:
        """A 典名词元 task's id at clock time ``now``."""
        return TASK_PREFIX + self._task(now)

    def file(self, now: float) -> str:
        """An uploaded file's id at clock time ``now``."""
        return FILE_PREFIX + self._file(now)

    def request(self, dialect: Dialect) -> str:
        """An HTTP request's id in ``dialect``'s form."""
        bits = self._hex.get(dialect)
        if bits is not None:
            return f"req_{bits(128):032x}"
        value = self._uuid(128) & _UUID_CLEAR | _UUID_SET
        text = f"{value:032x}"
        return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"
