"""The one catalog of models: each family's price and service time, each model's family and
what it supports. The emulator's services, the control plane and the contract suite read it.
A new model is one entry here (and its id in the documents' enums); a new family one ``Family``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

STANDARD_SIZES: tuple[tuple[int, int], ...] = ((1024, 1024), (1536, 1024), (1024, 1536))


@dataclass(frozen=True, slots=True)
class Family:
    """A model family: its output price, how it counts output tokens, how long it takes."""

    name: str
    usd_per_million_output: float  # USD per one million image-output tokens
    usd_per_million_text_input: float
    usd_per_million_image_input: float
    # "table": the documented quality x size token table; "formula": gpt-image-2's formula.
    tokens: Literal["table", "formula"]
    # Seconds for one 1024x1024 image per quality, before size, n, jitter and time scale.
    base_seconds: Mapping[str, float]


def _by_quality(low: float, medium: float, high: float) -> dict[str, float]:
    return {"low": low, "medium": medium, "high": high}


# name, USD per million tokens (output, text input, image input), token rule, service seconds.
# Service times near the published third-party figures (gpt-image-2 medium ~80 s, high ~195 s;
# gpt-image-1.5 1536x1024 ~26 s). gpt-image-1-mini has no published figure: a smaller model,
# taken as twice as fast as gpt-image-1.
FAMILIES: dict[str, Family] = {
    f.name: f
    for f in (
        Family("gpt-image-1", 40.0, 5.0, 10.0, "table", _by_quality(15.0, 35.0, 70.0)),
        Family("gpt-image-1.5", 32.0, 5.0, 10.0, "table", _by_quality(8.0, 20.0, 45.0)),
        Family("gpt-image-1-mini", 8.0, 5.0, 10.0, "table", _by_quality(7.5, 17.5, 35.0)),
        Family("gpt-image-2", 30.0, 5.0, 10.0, "formula", _by_quality(30.0, 80.0, 195.0)),
    )
}


@dataclass(frozen=True, slots=True)
class ModelInfo:
    """A model as the emulator serves it."""

    model_id: str
    family: str  # a key of ``FAMILIES``
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


FIDELITY = ("high", "low")  # every ``input_fidelity`` value of the documents


@dataclass(frozen=True, slots=True)
class ImageModel:
    """A model of the synchronous Images protocols (OpenAI, AGCloud, 典名词元)."""

    model_id: str
    family: str  # a key of ``FAMILIES``
    custom_sizes: bool  # gpt-image-2: any WIDTHxHEIGHT within its limits
    transparency: bool  # a transparent background is rendered (others: refused or opaque)
    # The ``input_fidelity`` values it takes; empty: it refuses the parameter altogether.
    input_fidelity: tuple[str, ...]
    quality: bool = True  # AGCloud's -plus models take no ``quality``


# gpt-image-2 and its snapshot refuse ``input_fidelity`` and (live reports, against the SDK's
# "preview" wording) a transparent background; gpt-image-1-mini takes only ``low``.
# chatgpt-image-latest: the SDK lists it with the standard sizes only; it follows the
# gpt-image-1.5 row (the model it pointed to when it appeared).
IMAGE_MODELS: dict[str, ImageModel] = {
    info.model_id: info
    for info in (
        ImageModel("gpt-image-1", "gpt-image-1", False, True, FIDELITY),
        ImageModel("gpt-image-1-mini", "gpt-image-1-mini", False, True, ("low",)),
        ImageModel("gpt-image-1.5", "gpt-image-1.5", False, True, FIDELITY),
        ImageModel("gpt-image-2", "gpt-image-2", True, False, ()),
        ImageModel("gpt-image-2-2026-04-21", "gpt-image-2", True, False, ()),
        ImageModel("chatgpt-image-latest", "gpt-image-1.5", False, True, FIDELITY),
        ImageModel("gpt-image-1-plus", "gpt-image-1", False, True, FIDELITY, quality=False),
        ImageModel("gpt-image-2-plus", "gpt-image-2", True, False, FIDELITY, quality=False),
    )
}


def model_of(model_id: str) -> ModelInfo | ImageModel | None:
    """A model id of any protocol (``gpt_image_1_5_edit``, ``gpt-image-2-plus``), or None."""
    return QUEUE_MODELS.get(model_id) or IMAGE_MODELS.get(model_id)


def family_of(model_id: str) -> str | None:
    """The family of a model id of any protocol, None for an unknown id."""
    info = model_of(model_id)
    return info.family if info is not None else None


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
