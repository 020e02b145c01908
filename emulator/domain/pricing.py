"""Output tokens and price per image: the documented token tables, the gpt-image-2 formula and
each family's price from the catalog."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

from emulator.domain.catalog import FAMILIES
from emulator.domain.records import Usage

# gpt-image-1, gpt-image-1.5 and gpt-image-1-mini share one table (quality -> size -> tokens).
_LEGACY_TOKENS: dict[str, dict[tuple[int, int], int]] = {
    "low": {(1024, 1024): 272, (1024, 1536): 408, (1536, 1024): 400},
    "medium": {(1024, 1024): 1056, (1024, 1536): 1584, (1536, 1024): 1568},
    "high": {(1024, 1024): 4160, (1024, 1536): 6240, (1536, 1024): 6208},
}
_GPT2_QUALITY_FACTOR = {"low": 16, "medium": 48, "high": 96}


def output_tokens(family: str, quality: str, width: int, height: int) -> int:
    """Image-output tokens for one image of ``width`` x ``height`` at a resolved quality."""
    if FAMILIES[family].tokens == "formula":
        q = _GPT2_QUALITY_FACTOR[quality]
        long_edge, short_edge = max(width, height), min(width, height)
        f = (2 * q * short_edge + long_edge) // (2 * long_edge)
        return math.ceil(q * f * (2_000_000 + width * height) / 4_000_000)
    table = _LEGACY_TOKENS[quality]
    if (width, height) in table:
        return table[(width, height)]
    # Not reachable through validation (legacy models take standard sizes only); scale by area.
    return math.ceil(table[(1024, 1024)] * width * height / (1024 * 1024))


def image_cost_usd(family: str, quality: str, width: int, height: int) -> float:
    """The output price of one image in US dollars."""
    return output_cost_usd(family, output_tokens(family, quality, width, height))


def output_cost_usd(family: str, tokens: int) -> float:
    """What ``tokens`` image-output tokens of ``family`` cost in US dollars."""
    return tokens * FAMILIES[family].usd_per_million_output / 1_000_000


def usage_cost_usd(family: str, usage: Usage) -> float:
    """What a generation's tokens cost in US dollars: output, text input and image input."""
    prices = FAMILIES[family]
    return (
        usage.output_tokens * prices.usd_per_million_output
        + usage.text_tokens * prices.usd_per_million_text_input
        + usage.image_tokens * prices.usd_per_million_image_input
    ) / 1_000_000


@dataclass(frozen=True, slots=True)
class Balances:
    """Each key's opening balance in USD: its own, else the default (None: unlimited)."""

    opening: Mapping[str, float] = field(default_factory=dict)
    default: float | None = None

    def opening_for(self, key: str) -> float | None:
        """The balance ``key`` starts with."""
        return self.opening.get(key, self.default)
