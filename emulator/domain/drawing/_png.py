"""A minimal PNG writer for RGB and RGBA images, about twice as fast as Pillow's.

Pillow's encoder tries all five PNG filters on every row and keeps the best; on 1024x1024
output that search costs more than the compression itself (measured on a rendered picture:
23 ms at ``compress_level=1`` against 10 ms here, for a file of about the same size). Every
row here uses the Up filter, computed for a band of rows at once with ``ImageChops``, and the
bands are deflated at level 1 as they are produced."""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterable

from PIL import Image, ImageChops

SIGNATURE = b"\x89PNG\r\n\x1a\n"
COLOUR_TYPES = {"RGB": 2, "RGBA": 6}
BAND_ROWS = 128  # bounds the temporary copies for large images
UP_FILTER = b"\x02"


def encode_png(image: Image.Image, text: Iterable[tuple[str, str]] = ()) -> bytes:
    """``image`` (RGB or RGBA) as PNG bytes, with one text chunk per ``(keyword, value)``.

    Values that Latin-1 cannot hold go in an uncompressed iTXt chunk (UTF-8), others in tEXt.
    """
    colour_type = COLOUR_TYPES[image.mode]
    width, height = image.size
    header = struct.pack(">IIBBBBB", width, height, 8, colour_type, 0, 0, 0)
    chunks = [_chunk(b"IHDR", header)]
    chunks.extend(text_chunk(keyword, value) for keyword, value in text)
    chunks.append(_chunk(b"IDAT", _image_data(image)))
    chunks.append(_chunk(b"IEND", b""))
    return SIGNATURE + b"".join(chunks)


def _image_data(image: Image.Image) -> bytes:
    width, height = image.size
    stride = width * len(image.mode)
    deflate = zlib.compressobj(1)
    parts: list[bytes] = []
    for top in range(0, height, BAND_ROWS):
        bottom = min(height, top + BAND_ROWS)
        band = image.crop((0, top, width, bottom))
        # Up filter: each byte minus the byte above it; crop fills the row above the top with 0.
        above = image.crop((0, top - 1, width, bottom - 1))
        filtered = ImageChops.subtract_modulo(band, above).tobytes()
        rows = b"".join(
            UP_FILTER + filtered[start : start + stride]
            for start in range(0, len(filtered), stride)
        )
        parts.append(deflate.compress(rows))
    parts.append(deflate.flush())
    return b"".join(parts)


def text_chunk(keyword: str, value: str) -> bytes:
    """One PNG text chunk: tEXt when Latin-1 holds ``value``, else an uncompressed iTXt."""
    key = keyword.encode("latin-1")
    try:
        return _chunk(b"tEXt", key + b"\x00" + value.encode("latin-1"))
    except UnicodeEncodeError:
        # keyword, compression flag and method, empty language tag and translated keyword
        return _chunk(b"iTXt", key + b"\x00\x00\x00\x00\x00" + value.encode("utf-8"))


def _chunk(kind: bytes, data: bytes) -> bytes:
    crc = zlib.crc32(data, zlib.crc32(kind))
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)
