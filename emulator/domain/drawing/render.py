"""Deterministic synthetic images: generations, edits (with or without a mask) and previews."""

from __future__ import annotations

import functools
import io
from dataclasses import dataclass
from typing import Literal

from PIL import Image, ImageOps

from emulator.domain.drawing._pattern import picture_key, synthesize
from emulator.domain.drawing._png import encode_png
from emulator.domain.drawing._text import draw_caption
from emulator.domain.drawing.inputs import InvalidImage, open_image
from emulator.domain.drawing.metadata import check_provenance, png_text, save_options

FORMATS = ("png", "jpeg", "webp")
MAX_EDGE = 8192  # twice the APIs' largest edge; WebP itself stops at 16383
MIN_PREVIEW_SCALE = 0.125
PLACEHOLDER_EDGE = 1024
MAX_PLACEHOLDER_URL = 2000

_BILINEAR = Image.Resampling.BILINEAR


@dataclass(frozen=True, slots=True)
class RenderSpec:
    """Everything that decides an output's bytes: the same spec always renders the same file."""

    seed: int
    prompt: str
    index: int  # which of the n outputs (0-based)
    width: int
    height: int
    output_format: Literal["png", "jpeg", "webp"]
    compression: int  # 0-100, the jpeg/webp encoder quality (100 = best); ignored for png
    transparent: bool  # RGBA with a transparent background (png or webp only)
    labels: tuple[tuple[str, str], ...]  # drawn visibly on the image
    provenance: tuple[tuple[str, str], ...]  # written into the file's metadata
    base: bytes | None = None  # encoded first input image of an edit
    mask: bytes | None = None  # encoded mask: editable where its alpha is 0
    fidelity: float = 1.0  # 1.0 = final image; (0, 1) = a rougher preview of the same image

    def __post_init__(self) -> None:
        if not (1 <= self.width <= MAX_EDGE and 1 <= self.height <= MAX_EDGE):
            raise ValueError(f"size {self.width}x{self.height} is outside 1..{MAX_EDGE}")
        if self.output_format not in FORMATS:
            raise ValueError(f"output_format {self.output_format!r} is not one of {FORMATS}")
        if self.transparent and self.output_format == "jpeg":
            raise ValueError("a transparent image needs png or webp output")
        if not 0.0 < self.fidelity <= 1.0:
            raise ValueError(f"fidelity {self.fidelity} is outside (0, 1]")
        check_provenance(self.provenance)


def render(spec: RenderSpec) -> bytes:
    """Encode the image ``spec`` describes, with its provenance in the file's metadata.

    Raises ``InvalidImage`` if the base image or the mask of an edit cannot be used.
    """
    width, height = spec.width, spec.height
    if spec.fidelity < 1.0:
        scale = max(MIN_PREVIEW_SCALE, spec.fidelity)
        small = _compose(spec, max(1, round(width * scale)), max(1, round(height * scale)))
        image = small.resize((width, height), Image.Resampling.NEAREST)
    else:
        image = _compose(spec, width, height)
    return _encode(image, spec)


def _compose(spec: RenderSpec, width: int, height: int) -> Image.Image:
    picture = synthesize(
        picture_key(spec.seed, spec.prompt, spec.index), width, height, spec.transparent
    )
    if spec.base is None:
        draw_caption(picture, spec.prompt, spec.labels)
        return picture
    mode = "RGBA" if spec.transparent else "RGB"
    base = _decode(spec.base, "The base image", mode)
    if base.size != (width, height):
        base = base.resize((width, height), _BILINEAR)
    if spec.mask is None:
        edited = Image.blend(base, picture, 0.5)
        if spec.transparent:
            # The base's own transparency is the background to keep, not half of it.
            edited.putalpha(base.getchannel("A"))
        draw_caption(edited, spec.prompt, spec.labels)
        return edited
    # Text goes on the synthetic layer first, so it shows only where the mask lets edits through.
    draw_caption(picture, spec.prompt, spec.labels)
    editable = ImageOps.invert(_mask_alpha(spec.mask).resize((width, height), _BILINEAR))
    return Image.composite(picture, base, editable)


def fit_base(data: bytes, width: int, height: int, transparent: bool) -> bytes:
    """The base image of an edit as ``render`` uses it for a ``width`` x ``height`` output:
    decoded, converted and resized as ``_compose`` does, then kept as a PNG. A final render
    from it has the very pixels of one from ``data``; a record keeps it instead of a larger
    input. Raises ``InvalidImage`` as ``render`` would."""
    base = _decode(data, "The base image", "RGBA" if transparent else "RGB")
    if base.size != (width, height):
        base = base.resize((width, height), _BILINEAR)
    return encode_png(base)


def fit_mask(data: bytes, width: int, height: int) -> bytes:
    """The mask of an edit as ``render`` uses it for a ``width`` x ``height`` output: its alpha
    resized, kept as a black RGBA PNG (see ``fit_base``)."""
    alpha = _mask_alpha(data).resize((width, height), _BILINEAR)
    mask = Image.new("RGBA", (width, height))
    mask.putalpha(alpha)
    return encode_png(mask)


def _decode(data: bytes, what: str, mode: str) -> Image.Image:
    image, info = open_image(data, what)
    with image:
        return _converted(image, info.has_alpha, what, mode)


def _mask_alpha(data: bytes) -> Image.Image:
    image, info = open_image(data, "The mask")
    with image:
        if not info.has_alpha:
            raise InvalidImage("The mask has no alpha channel.")
        return _converted(image, True, "The mask", "RGBA").getchannel("A")


def _converted(image: Image.Image, has_alpha: bool, what: str, mode: str) -> Image.Image:
    try:
        if mode == "RGB" and has_alpha:
            # Dropping alpha would expose whatever colour hides under transparent pixels.
            flat = Image.new("RGBA", image.size, "white")
            flat.alpha_composite(image.convert("RGBA"))
            return flat.convert("RGB")
        return image.convert(mode)
    except (OSError, ValueError, SyntaxError, EOFError) as exc:
        raise InvalidImage(f"{what} could not be decoded.") from exc


def _encode(image: Image.Image, spec: RenderSpec) -> bytes:
    if spec.output_format == "png":
        return encode_png(image, png_text(spec.provenance))
    quality = max(0, min(100, spec.compression))
    buffer = io.BytesIO()
    options = save_options(spec.output_format, spec.provenance)
    if spec.output_format == "jpeg":
        image.save(buffer, "JPEG", quality=max(1, quality), optimize=False, **options)
    else:
        image.save(buffer, "WEBP", quality=quality, method=0, **options)
    return buffer.getvalue()


@functools.lru_cache(maxsize=32)
def placeholder(url: str) -> bytes:
    """A 1024x1024 RGB PNG standing in for a remote image that is not fetched.

    The same URL gives the same bytes; the URL is drawn on the image and kept in its metadata.
    """
    shown = "".join(ch for ch in url[:MAX_PLACEHOLDER_URL] if ch.isprintable())
    return render(
        RenderSpec(
            seed=0,
            prompt=url,
            index=0,
            width=PLACEHOLDER_EDGE,
            height=PLACEHOLDER_EDGE,
            output_format="png",
            compression=100,
            transparent=False,
            labels=(("placeholder", "remote image not fetched"),),
            provenance=(("placeholder_for", shown),),
        )
    )
