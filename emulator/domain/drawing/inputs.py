"""Input images of edits: references decoded to bytes, and bytes checked from their header."""

from __future__ import annotations

import base64
import binascii
import io
import re
import struct
from dataclasses import dataclass
from typing import Literal

from PIL import Image, UnidentifiedImageError

ImageFormat = Literal["png", "jpeg", "webp"]

_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
_PNG_END = b"IEND\xaeB`\x82"  # the IEND chunk type and its constant CRC
_JPEG_MAGIC = b"\xff\xd8\xff"
_JPEG_SOS = b"\xff\xda"
_JPEG_EOI = b"\xff\xd9"
_PILLOW_NAMES: dict[ImageFormat, str] = {"png": "PNG", "jpeg": "JPEG", "webp": "WEBP"}

_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*):")
_WHITESPACE = re.compile(r"\s+")
_BASE64 = re.compile(r"[A-Za-z0-9+/]*")
_URL_SAFE = str.maketrans("-_", "+/")


class InvalidImage(ValueError):
    """Bytes or a reference that are not a usable PNG, JPEG or WebP image; the message says why."""


class ImageTooLarge(InvalidImage):
    """An image over a limit: more bytes than an input may have, or more pixels by its header.

    ``facts`` say which: ``max_bytes`` and ``bytes``, or ``max_pixels``, ``width`` and
    ``height`` (empty when Pillow's own limit refused it)."""

    def __init__(self, message: str, **facts: int) -> None:
        super().__init__(message)
        self.facts = facts


MEGABYTE = 1024 * 1024


@dataclass(frozen=True, slots=True)
class ImageLimits:
    """How large one input image may be: its bytes as sent, and its pixels as its header
    says (checked before any pixel is decoded)."""

    max_bytes: int = 50 * MEGABYTE
    max_pixels: int = 50_000_000

    def check_bytes(self, size: int, what: str = "The image") -> None:
        """Raise ``ImageTooLarge`` for an image of ``size`` bytes over the limit."""
        if size > self.max_bytes:
            raise ImageTooLarge(
                f"{what} is too large: {size / MEGABYTE:.1f} MB; an input image may have at "
                f"most {self.max_bytes / MEGABYTE:g} MB.",
                max_bytes=self.max_bytes,
                bytes=size,
            )


@dataclass(frozen=True, slots=True)
class ImageInfo:
    """What an image's header says: its format by magic bytes, size, and whether it has alpha."""

    format: ImageFormat
    width: int
    height: int
    has_alpha: bool


def sniff(data: bytes) -> ImageFormat | None:
    """The format named by the magic bytes at the start of ``data``, or None."""
    if data.startswith(_PNG_MAGIC):
        return "png"
    if data.startswith(_JPEG_MAGIC):
        return "jpeg"
    if len(data) >= 12 and data.startswith(b"RIFF") and data[8:12] == b"WEBP":
        return "webp"
    return None


def _is_complete(fmt: ImageFormat, data: bytes) -> bool:
    # Header parsing cannot see a cut-off file, so look for each format's end marker instead of
    # decoding every pixel.
    if fmt == "png":
        return data.rfind(_PNG_END) > len(_PNG_MAGIC)
    if fmt == "jpeg":
        # 0xFF bytes are stuffed inside entropy-coded data, so the last SOS and EOI are real
        # markers; an EXIF thumbnail's own EOI comes before the main image's scan.
        last_scan = data.rfind(_JPEG_SOS)
        return last_scan > 0 and data.rfind(_JPEG_EOI) > last_scan
    return len(data) >= int.from_bytes(data[4:8], "little") + 8


def open_image(
    data: bytes, what: str = "The image", max_pixels: int | None = None
) -> tuple[Image.Image, ImageInfo]:
    """Open ``data`` without decoding pixels; raise ``InvalidImage`` naming ``what`` if unusable,
    ``ImageTooLarge`` if its header gives it more than ``max_pixels`` (default: Pillow's own
    limit)."""
    fmt = sniff(data)
    if fmt is None:
        if not data:
            raise InvalidImage(f"{what} is empty.")
        raise InvalidImage(f"{what} is not a PNG, JPEG or WebP image.")
    if not _is_complete(fmt, data):
        raise InvalidImage(f"{what} is truncated (an incomplete {fmt.upper()} file).")
    try:
        image = Image.open(io.BytesIO(data), formats=[_PILLOW_NAMES[fmt]])
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        # The warning arrives as an exception only where warnings are errors (as in tests);
        # the size check below gives the same answer everywhere else.
        raise ImageTooLarge(f"{what} is too large to process.") from exc
    except (
        UnidentifiedImageError,
        OSError,
        SyntaxError,
        ValueError,
        EOFError,
        struct.error,
    ) as exc:
        raise InvalidImage(f"{what} is not a valid {fmt.upper()} image.") from exc
    width, height = image.size
    if width <= 0 or height <= 0:
        image.close()
        raise InvalidImage(f"{what} has zero size ({width}x{height}).")
    if image.mode == "P" and image.palette is None:  # Pillow asserts on it later
        image.close()
        raise InvalidImage(
            f"{what} is not a valid {fmt.upper()} image (a palette without colours)."
        )
    limit = Image.MAX_IMAGE_PIXELS if max_pixels is None else max_pixels
    if limit is not None and width * height > limit:
        image.close()
        raise ImageTooLarge(
            f"{what} is too large: {width}x{height} pixels ({width * height / 1e6:.1f} "
            f"megapixels); an input image may have at most {limit / 1e6:.4g} megapixels.",
            max_pixels=limit,
            width=width,
            height=height,
        )
    return image, ImageInfo(fmt, width, height, image.has_transparency_data)


def probe(data: bytes, limits: ImageLimits | None = None, what: str = "The image") -> ImageInfo:
    """Format (by magic bytes), size and alpha of an encoded image, read from its header.

    Raises ``InvalidImage`` for anything but a complete PNG, JPEG or WebP file of non-zero size,
    and ``ImageTooLarge`` for one over ``limits`` (its bytes, its pixels) when they are given.
    ``has_alpha`` is true for an alpha band and for PNG ``tRNS``/palette transparency.
    """
    if limits is not None:
        limits.check_bytes(len(data), what)
    image, info = open_image(data, what, limits.max_pixels if limits is not None else None)
    image.close()
    return info


def decode_inline(ref: str) -> bytes | None:
    """The raw bytes of a ``data:image/...;base64,`` URL or of bare base64 text.

    Whitespace, the URL-safe alphabet and missing padding are tolerated. Returns None for an
    ``http://`` or ``https://`` URL, which the caller resolves. Raises ``InvalidImage`` for
    anything else. The bytes are not checked to be an image: ``probe`` does that.
    """
    text = ref.strip()
    scheme = _SCHEME.match(text)
    if scheme is None:
        return _decode_base64(text, "The image reference")
    name = scheme.group(1).lower()
    if name in ("http", "https"):
        return None
    if name != "data":
        raise InvalidImage(
            f"Unsupported image URL scheme '{name}': expected a data URL, an http(s) URL "
            "or base64 image data."
        )
    header, comma, payload = text[len("data:") :].partition(",")
    if not comma:
        raise InvalidImage("The data URL has no ',' before its data.")
    media_type, *params = (part.strip().lower() for part in header.split(";"))
    if not media_type.startswith("image/"):
        raise InvalidImage(f"The data URL's media type '{media_type}' is not an image type.")
    if "base64" not in params:
        raise InvalidImage("The data URL is not base64-encoded (';base64' is missing).")
    return _decode_base64(payload, "The data URL's data")


def _decode_base64(text: str, what: str) -> bytes:
    compact = _WHITESPACE.sub("", text).rstrip("=").translate(_URL_SAFE)
    if not compact:
        raise InvalidImage(f"{what} is empty.")
    if not _BASE64.fullmatch(compact):
        raise InvalidImage(
            f"{what} is not a data URL, an http(s) URL or base64 image data "
            "(it contains characters outside the base64 alphabet)."
        )
    if len(compact) % 4 == 1:
        raise InvalidImage(f"{what} is not valid base64 (its length is impossible).")
    try:
        return base64.b64decode(compact + "=" * (-len(compact) % 4), validate=True)
    except binascii.Error as exc:
        raise InvalidImage(f"{what} is not valid base64.") from exc
