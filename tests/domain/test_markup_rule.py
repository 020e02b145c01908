"""Rule ``markup_part``: OpenAI's ``markup`` edit part (SDK 3.57), for the models that take it."""

from __future__ import annotations

from dataclasses import replace

import pytest

from emulator.domain.catalog import IMAGE_MODELS
from emulator.domain.drawing import ImageInfo
from emulator.domain.rules import ResolvedImage, RuleContext, markup_part

# No served model takes the part (GPT Image 2.5 does); a model that did, for the other branches.
PLAIN = IMAGE_MODELS["gpt-image-1.5"]
TAKES_MARKUP = replace(IMAGE_MODELS["gpt-image-2"], markup=True)


def image(width: int, height: int, alpha: bool, fmt: str = "png") -> ResolvedImage:
    return ResolvedImage(b"", ImageInfo(fmt, width, height, alpha))  # type: ignore[arg-type]


def messages(**context: object) -> list[tuple[tuple[str | int, ...], str]]:
    ctx = RuleContext(**context)  # type: ignore[arg-type]
    return [(v.loc, v.message) for v in markup_part({}, ctx)]


def test_no_markup_part_is_no_concern() -> None:
    assert messages(model=PLAIN, images=(image(64, 64, False),)) == []


def test_no_served_model_takes_markup() -> None:
    assert all(not model.markup for model in IMAGE_MODELS.values())
    found = messages(model=PLAIN, markup_sent=True, markup=image(64, 64, True))
    assert found == [(("markup",), "markup is not supported for gpt-image-1.5.")]


@pytest.mark.parametrize(
    ("context", "message"),
    [
        (
            {"mask": image(64, 64, True), "markup": image(64, 64, True)},
            "markup cannot be combined with mask.",
        ),
        (
            {"markup": image(64, 64, False)},
            "The markup must be a PNG image with transparent pixels.",
        ),
        (
            {"markup": image(64, 64, True, "webp")},
            "The markup must be a PNG image with transparent pixels.",
        ),
        (
            {"markup": image(32, 64, True)},
            "The markup must have the same dimensions as the first image (64x64), got 32x64.",
        ),
    ],
)
def test_markup_for_a_model_that_takes_it(context: dict[str, object], message: str) -> None:
    first = (image(64, 64, False),)
    found = messages(model=TAKES_MARKUP, markup_sent=True, images=first, **context)
    assert found == [(("markup",), message)]


def test_a_fitting_markup_passes() -> None:
    found = messages(
        model=TAKES_MARKUP,
        markup_sent=True,
        images=(image(64, 64, False),),
        markup=image(64, 64, True),
    )
    assert found == []
