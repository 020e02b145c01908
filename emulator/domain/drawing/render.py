"""Deterministic synthetic images: generations, edits (with or without a mask) and previews.

An edit's input is decoded for the size it is drawn at, never converted at its own size: a
JPEG at the smallest scale its decoder offers that still covers the output (``draft``), then
any image reduced by a whole factor a band of rows at a time, then converted and resized
(``_load``). Decoding a large input costs its native pixels once (1 byte each for a palette or
grey image, 4 for RGB or RGBA) and little more; the records keep inputs fitted to the output
(``fit_base``, ``fit_mask``), so each render decodes no more than its output's pixels.
"""

from __future__ import annotations

import functools
import io
import struct
import zlib
from dataclasses import dataclass
from typing import Literal

from PIL import Image, ImageOps

from emulator.domain.drawing._pattern import picture_key, synthesize
from emulator.domain.drawing._png import encode_png
from emulator.domain.drawing._text import draw_caption
from emulator.domain.drawing.inputs import ImageInfo, InvalidImage, open_image
from emulator.domain.drawing.metadata import check_provenance, png_text, save_options

FORMATS = ("png", "jpeg", "webp")
MAX_EDGE = 8192  # twice the APIs' largest edge; WebP itself stops at 16383
MIN_PREVIEW_SCALE = 0.125
PLACEHOLDER_EDGE = 1024
MAX_PLACEHOLDER_URL = 2000

_BILINEAR = Image.Resampling.BILINEAR
# Rows of reduced output made at a time from a large input: each band's conversion copies
# (its own mode, then premultiplied alpha for RGBA) stay small however large the input.
_BAND_ROWS = 64
# What Pillow raises for pixel data it cannot decode (a header that parsed, a body that does not).
_UNDECODABLE = (OSError, ValueError, SyntaxError, EOFError, struct.error, zlib.error)


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
    base = _load(spec.base, "The base image", width, height, mode)
    if spec.mask is None:
        edited = Image.blend(base, picture, 0.5)
        if spec.transparent:
            # The base's own transparency is the background to keep, not half of it.
            edited.putalpha(base.getchannel("A"))
        draw_caption(edited, spec.prompt, spec.labels)
        return edited
    # Text goes on the synthetic layer first, so it shows only where the mask lets edits through.
    draw_caption(picture, spec.prompt, spec.labels)
    editable = ImageOps.invert(_mask_alpha(spec.mask, width, height))
    return Image.composite(picture, base, editable)


def fit_base(data: bytes, width: int, height: int, transparent: bool) -> bytes | None:
    """The base image of an edit as ``render`` uses it for a ``width`` x ``height`` output:
    decoded (every pixel: an image whose data is broken raises ``InvalidImage``, as ``render``
    would), converted and resized as ``_compose`` does, and kept as a PNG, which a record keeps
    instead of ``data``. A final render from it has the very pixels of one from ``data``.

    None when ``data`` may be kept as sent (``_keeps_as_sent``)."""
    mode = "RGBA" if transparent else "RGB"
    base, info = _load_with_info(data, "The base image", width, height, mode)
    if _keeps_as_sent(data, info, width, height):
        return None
    return encode_png(base)


def fit_mask(data: bytes, width: int, height: int) -> bytes | None:
    """The mask of an edit as ``render`` uses it for a ``width`` x ``height`` output: its alpha
    resized, kept as a black RGBA PNG; None as ``fit_base`` for a mask no larger than that."""
    image, info = _load_with_info(data, "The mask", width, height, "RGBA", need_alpha=True)
    if _keeps_as_sent(data, info, width, height):
        return None
    mask = Image.new("RGBA", (width, height))
    mask.putalpha(image.getchannel("A"))
    return encode_png(mask)


def _keeps_as_sent(data: bytes, info: ImageInfo, width: int, height: int) -> bool:
    """Whether a record may keep an input as sent: no more pixels than the output (rendering
    it costs no more than the output) and no more bytes than the output's raw RGBA pixels (a
    photo's JPEG is often smaller than any lossless copy; a file padded with anything else is
    kept as the PNG of its pixels instead)."""
    return info.width * info.height <= width * height and len(data) <= width * height * 4


def check_decodes(data: bytes, what: str) -> None:
    """Decode every pixel of ``data`` (a JPEG at its smallest scale) and keep none: raise
    ``InvalidImage`` naming ``what`` if its data is broken."""
    image, info = open_image(data, what)
    with image:
        try:
            if info.format == "jpeg":
                image.draft(image.mode, (1, 1))
            image.load()
        except (*_UNDECODABLE, Image.DecompressionBombError) as exc:
            raise InvalidImage(f"{what} could not be decoded.") from exc


def _mask_alpha(data: bytes, width: int, height: int) -> Image.Image:
    return _load(data, "The mask", width, height, "RGBA", need_alpha=True).getchannel("A")


def _load(
    data: bytes, what: str, width: int, height: int, mode: str, need_alpha: bool = False
) -> Image.Image:
    return _load_with_info(data, what, width, height, mode, need_alpha)[0]


def _load_with_info(
    data: bytes, what: str, width: int, height: int, mode: str, need_alpha: bool = False
) -> tuple[Image.Image, ImageInfo]:
    """``data`` decoded as a ``width`` x ``height`` image in ``mode`` (see the module's
    docstring), and its header's facts; ``InvalidImage`` naming ``what`` if it cannot be."""
    image, info = open_image(data, what)
    with image:
        if need_alpha and not info.has_alpha:
            raise InvalidImage(f"{what} has no alpha channel.")
        try:
            if info.format == "jpeg":
                image.draft(image.mode, (width, height))
            image.load()
            small = _reduced(image, width, height, info.has_alpha)
            converted = _converted(small, info.has_alpha, mode)
        except (*_UNDECODABLE, Image.DecompressionBombError) as exc:
            raise InvalidImage(f"{what} could not be decoded.") from exc
    if converted.size != (width, height):
        converted = converted.resize((width, height), _BILINEAR)
    return converted, info


def _reduced(image: Image.Image, width: int, height: int, has_alpha: bool) -> Image.Image:
    """``image`` (loaded) shrunk by the largest whole factor that keeps it at least ``width`` x
    ``height`` (a box filter), made a band of rows at a time in RGB or RGBA; ``image`` itself
    when it is less than twice the output's size either way."""
    factor = min(image.width // width, image.height // height)
    if factor < 2:
        return image
    work = "RGBA" if has_alpha else "RGB"
    out = Image.new(work, (-(-image.width // factor), -(-image.height // factor)))
    step = factor * _BAND_ROWS
    for top in range(0, image.height, step):
        band = image.crop((0, top, image.width, min(image.height, top + step)))
        out.paste(band.convert(work).reduce(factor), (0, top // factor))
    return out


def _converted(image: Image.Image, has_alpha: bool, mode: str) -> Image.Image:
    if mode == "RGB" and has_alpha:
        # Dropping alpha would expose whatever colour hides under transparent pixels.
        flat = Image.new("RGBA", image.size, "white")
        flat.alpha_composite(image.convert("RGBA"))
        return flat.convert("RGB")
    return image.convert(mode)


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
