"""Request ids: ``mmsu_`` and a lowercase ULID (48-bit milliseconds + 80 random bits)."""

from __future__ import annotations

import random

_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"  # Crockford base32, lowercase


class IdFactory:
    """Makes ULIDs from the emulator clock and a seeded generator, so a seeded run repeats."""

    def __init__(self, seed: int) -> None:
        self._rng = random.Random(seed)

    def ulid(self, now: float) -> str:
        value = (int(now * 1000) & ((1 << 48) - 1)) << 80 | self._rng.getrandbits(80)
        chars = []
        for _ in range(26):
            chars.append(_ALPHABET[value & 31])
            value >>= 5
        return "".join(reversed(chars))

    def request_id(self, now: float) -> str:
        return "mmsu_" + self.ulid(now)
