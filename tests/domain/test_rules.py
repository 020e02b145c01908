"""The named rules at their boundaries."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from emulator.domain.drawing import ImageInfo
from emulator.domain.errors import WebhookNotSupported
from emulator.domain.rules import (
    MAX_PIXELS,
    MIN_PIXELS,
    ResolvedImage,
    RuleBook,
    RuleContext,
    gpt_image_2_size,
    mask_matches_first_image,
    no_webhooks,
    transparent_needs_alpha_format,
)

EMPTY = RuleContext()


def size_errors(size: str) -> list[str]:
    return [v.message for v in gpt_image_2_size({"size": size}, EMPTY)]


@pytest.mark.parametrize(
    "size",
    [
        "auto",
        "1024x1024",
        "1536x1024",
        "1024x1536",
        "3840x2160",
        "2160x3840",
        "1024x640",
        "2880x960",
    ],
)
def test_valid_gpt_image_2_sizes(size: str) -> None:
    assert size_errors(size) == []


@pytest.mark.parametrize(
    ("size", "reason"),
    [
        ("1000x1000", "Width and height must both be divisible by 16."),
        ("1024x1000", "Width and height must both be divisible by 16."),
        ("3856x2160", "The longest side must not exceed 3840 pixels."),
        ("3840x1264", "The aspect ratio must not exceed 3:1."),  # 3.04:1
        ("1008x640", f"Total pixels must be between {MIN_PIXELS} and {MAX_PIXELS}."),  # 645120
        ("3840x2176", f"Total pixels must be between {MIN_PIXELS} and {MAX_PIXELS}."),  # 8355840
        ("0x1024", "Expected WIDTHxHEIGHT, for example '1824x1024'."),
    ],
)
def test_invalid_gpt_image_2_sizes(size: str, reason: str) -> None:
    assert size_errors(size) == [f"Invalid size '{size}'. {reason}"]


def test_pixel_bounds_are_inclusive() -> None:
    assert MIN_PIXELS == 1024 * 640
    assert size_errors("1024x640") == []
    assert MAX_PIXELS == 3840 * 2160
    assert size_errors("3840x2160") == []
    assert size_errors("2048x320") != []  # ratio 6.4 and too few pixels


@given(st.integers(1, 300), st.integers(1, 300))
def test_size_rule_matches_its_definition(w16: int, h16: int) -> None:
    width, height = w16 * 16, h16 * 16
    valid = (
        max(width, height) <= 3840
        and max(width, height) <= 3 * min(width, height)
        and MIN_PIXELS <= width * height <= MAX_PIXELS
    )
    assert (size_errors(f"{width}x{height}") == []) == valid


@pytest.mark.parametrize(("fmt", "ok"), [("png", True), ("webp", True), ("jpeg", False)])
def test_transparent_background_needs_alpha_format(fmt: str, ok: bool) -> None:
    body = {"background": "transparent", "output_format": fmt}
    found = list(transparent_needs_alpha_format(body, EMPTY))
    assert (found == []) == ok
    if not ok:
        assert found[0].loc == ("background",)
        assert "png or webp" in found[0].message


def image(width: int, height: int, alpha: bool) -> ResolvedImage:
    return ResolvedImage(b"", ImageInfo("png", width, height, alpha))


def test_mask_rules() -> None:
    first = image(1024, 1024, alpha=False)
    ok = RuleContext(images=(first,), mask=image(1024, 1024, alpha=True))
    assert list(mask_matches_first_image({}, ok)) == []
    no_alpha = RuleContext(images=(first,), mask=image(1024, 1024, alpha=False))
    assert [v.message for v in mask_matches_first_image({}, no_alpha)] == [
        "The mask must have an alpha channel."
    ]
    wrong = RuleContext(images=(first,), mask=image(512, 1024, alpha=True))
    (violation,) = mask_matches_first_image({}, wrong)
    assert violation.loc == ("mask",)
    assert "(1024x1024), got 512x1024" in violation.message


@pytest.mark.parametrize(
    "ctx_or_body",
    [
        {"webhook": "https://example.com/hook"},
        {"webhook_url": "https://example.com/hook"},
        RuleContext(query_keys=frozenset({"fal_webhook"})),
        RuleContext(header_names=frozenset({"x-webhook-url"})),
    ],
)
def test_webhooks_are_refused(ctx_or_body: object) -> None:
    body = ctx_or_body if isinstance(ctx_or_body, dict) else {}
    ctx = ctx_or_body if isinstance(ctx_or_body, RuleContext) else EMPTY
    with pytest.raises(WebhookNotSupported):
        list(no_webhooks(body, ctx))


def test_rulebook_runs_only_the_phase_asked() -> None:
    book = RuleBook()
    body = {"size": "1000x1000", "webhook": "x"}
    names = ["gpt_image_2_size", "no_webhooks"]
    found = book.check(names, body, EMPTY, gateway=False)
    assert [v.field for v in found] == ["size"]
    with pytest.raises(WebhookNotSupported):
        book.check(names, body, EMPTY, gateway=True)
