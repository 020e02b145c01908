"""Request ids: ``mmsu_`` and a lowercase ULID (48-bit milliseconds + 80 random bits)."""

from __future__ import annotations

import random

_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"  # Crockford base32, lowercase
# Two base32 digits per 10 bits: a ULID's 130 bits (128 and two leading zeros) are 13 lookups.
_PAIRS = tuple(_ALPHABET[i >> 5] + _ALPHABET[i & 31] for i in range(1024))
_SHIFTS = tuple(range(120, -10, -10))


class IdFactory:
    """Makes ULIDs from the emulator clock and a seeded generator, so a seeded run repeats."""

    def __init__(self, seed: int) -> None:
        self._rng = random.Random(seed)

    def ulid(self, now: float) -> str:
        value = (int(now * 1000) & ((1 << 48) - 1)) << 80 | self._rng.getrandbits(80)
        return "".join([_PAIRS[(value >> shift) & 1023] for shift in _SHIFTS])

    def request_id(self, now: float) -> str:
        return "mmsu_" + self.ulid(now)
