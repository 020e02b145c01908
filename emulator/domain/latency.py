"""The seeded service-time model: per model family x quality, scaled by size, n and jitter."""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping
from dataclasses import dataclass, field

from emulator.domain.catalog import FAMILIES

# Each family's seconds for one 1024x1024 image per quality, from the catalog.
DEFAULT_BASE_SECONDS: dict[str, dict[str, float]] = {
    name: dict(family.base_seconds) for name, family in FAMILIES.items()
}


@dataclass(frozen=True, slots=True)
class LatencyModel:
    """Service time = base(family, quality) x sqrt(pixels / 1024^2) x (1 + 0.3 (n-1)) x jitter.

    The jitter is log-normal with ``sigma``, drawn from a generator seeded by the emulator seed
    and the request id, so the same run repeats; everything is then multiplied by ``time_scale``.
    """

    base_seconds: Mapping[str, Mapping[str, float]] = field(
        default_factory=lambda: DEFAULT_BASE_SECONDS
    )
    sigma: float = 0.15
    time_scale: float = 1.0

    def service_time(
        self, family: str, quality: str, width: int, height: int, n: int, seed: int, key: str
    ) -> float:
        """Seconds of emulator time one job occupies a worker slot."""
        base = self.base_seconds[family][quality]
        size_factor = math.sqrt(width * height / (1024 * 1024))
        n_factor = 1.0 + 0.3 * (n - 1)
        jitter = math.exp(self.sigma * standard_normal(f"{seed}:{key}")) if self.sigma else 1.0
        return base * size_factor * n_factor * jitter * self.time_scale


def _digest(key: str) -> bytes:
    return hashlib.blake2b(key.encode(), digest_size=16).digest()


def unit_draw(key: str) -> float:
    """A uniform draw in [0, 1) determined by ``key``."""
    return (int.from_bytes(_digest(key)[:8]) >> 11) / 9007199254740992.0


def standard_normal(key: str) -> float:
    """A standard normal draw determined by ``key`` (Box-Muller over a BLAKE2b digest).

    A hash rather than a seeded ``random.Random``: seeding one costs more than the rest of a
    submit's domain work, and the draw must be a pure function of the key.
    """
    digest = _digest(key)
    u1 = ((int.from_bytes(digest[:8]) >> 11) + 1) / 9007199254740992.0  # (0, 1]
    u2 = (int.from_bytes(digest[8:]) >> 11) / 9007199254740992.0  # [0, 1)
    return math.sqrt(-2.0 * math.log(u1)) * math.cos(2.0 * math.pi * u2)
