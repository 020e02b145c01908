"""What each queue model is: its family (for latency and price) and what it supports."""

from __future__ import annotations

from dataclasses import dataclass

STANDARD_SIZES: tuple[tuple[int, int], ...] = ((1024, 1024), (1536, 1024), (1024, 1536))


@dataclass(frozen=True, slots=True)
class ModelInfo:
    """A model as the emulator serves it."""

    model_id: str
    family: str  # "gpt-image-1" | "gpt-image-1.5" | "gpt-image-2"
    edit: bool
    transparency: bool  # False: a transparent background is accepted and rendered opaque


QUEUE_MODELS: dict[str, ModelInfo] = {
    info.model_id: info
    for info in (
        ModelInfo("gpt_image_1", "gpt-image-1", edit=False, transparency=True),
        ModelInfo("gpt_image_1_edit", "gpt-image-1", edit=True, transparency=True),
        ModelInfo("gpt_image_1_5", "gpt-image-1.5", edit=False, transparency=True),
        ModelInfo("gpt_image_1_5_edit", "gpt-image-1.5", edit=True, transparency=True),
        ModelInfo("gpt_image_2", "gpt-image-2", edit=False, transparency=False),
        ModelInfo("gpt_image_2_edit", "gpt-image-2", edit=True, transparency=False),
    )
}


@dataclass(frozen=True, slots=True)
class ImageModel:
    """A model of the synchronous Images protocols (OpenAI, AGCloud, 典名词元)."""

    model_id: str
    family: str  # latency and price
    custom_sizes: bool  # gpt-image-2: any WIDTHxHEIGHT within its limits
    transparency: bool  # a transparent background is rendered (others: refused or opaque)
    input_fidelity: bool  # takes ``input_fidelity``
    quality: bool = True  # AGCloud's -plus models take no ``quality``


IMAGE_MODELS: dict[str, ImageModel] = {
    info.model_id: info
    for info in (
        ImageModel("gpt-image-1", "gpt-image-1", False, True, True),
        ImageModel("gpt-image-1-mini", "gpt-image-1-mini", False, True, False),
        ImageModel("gpt-image-1.5", "gpt-image-1.5", False, True, True),
        ImageModel("gpt-image-2", "gpt-image-2", True, False, True),
        ImageModel("gpt-image-1-plus", "gpt-image-1", False, True, True, quality=False),
        ImageModel("gpt-image-2-plus", "gpt-image-2", True, False, True, quality=False),
    )
}


def resolve_quality(quality: str) -> str:
    """``auto`` resolves to ``medium``: the providers do not say how they choose."""
    return "medium" if quality == "auto" else quality


def parse_size(size: str) -> tuple[int, int] | None:
    """``'1536x1024'`` -> ``(1536, 1024)``; ``None`` for ``auto`` or text that is not WxH."""
    width, sep, height = size.partition("x")
    if not sep or not width.isdigit() or not height.isdigit():
        return None
    return int(width), int(height)


def resolve_size(size: str, first_input: tuple[int, int] | None) -> tuple[int, int]:
    """The output size for a requested ``size``.

    ``auto`` picks the standard size closest in aspect ratio to the first input image (edits),
    or 1024x1024 (generations).
    """
    parsed = parse_size(size)
    if parsed is not None:
        return parsed
    if first_input is None:
        return STANDARD_SIZES[0]
    aspect = first_input[0] / first_input[1]
    return min(STANDARD_SIZES, key=lambda wh: abs(wh[0] / wh[1] - aspect))
