"""Token counts against every published figure."""

from __future__ import annotations

import pytest

from emulator.domain.pricing import image_cost_usd, output_tokens


@pytest.mark.parametrize(
    ("quality", "width", "height", "tokens"),
    [
        ("high", 1024, 1024, 7024),
        ("high", 1536, 1024, 5488),
        ("high", 1792, 1024, 5063),
        ("high", 3584, 2048, 12329),
        ("low", 976, 704, 129),
        ("low", 1024, 1024, 196),
        ("medium", 1024, 1024, 1756),
        ("medium", 3840, 2160, 3336),
        ("high", 2048, 2048, 14272),
    ],
)
def test_gpt_image_2_formula(quality: str, width: int, height: int, tokens: int) -> None:
    assert output_tokens("gpt-image-2", quality, width, height) == tokens


@pytest.mark.parametrize("family", ["gpt-image-1", "gpt-image-1.5"])
def test_legacy_table(family: str) -> None:
    assert output_tokens(family, "low", 1024, 1024) == 272
    assert output_tokens(family, "medium", 1024, 1536) == 1584
    assert output_tokens(family, "high", 1536, 1024) == 6208


def test_published_gpt_image_2_prices() -> None:
    assert round(image_cost_usd("gpt-image-2", "low", 1024, 1024), 3) == 0.006
    assert round(image_cost_usd("gpt-image-2", "medium", 1024, 1024), 3) == 0.053
    assert round(image_cost_usd("gpt-image-2", "high", 1024, 1024), 3) == 0.211
    assert round(image_cost_usd("gpt-image-2", "high", 1536, 1024), 3) == 0.165
