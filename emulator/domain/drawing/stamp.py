"""Provenance written into an already encoded file without touching its pixels.

The load mode renders one file per set of pixel-shaping parameters and stamps each request's
provenance into a copy: a PNG gains text chunks after its header, a JPEG's comment segment is
replaced, a WebP's XMP chunk is replaced. Far cheaper than encoding the pixels again, and
``read_provenance`` reads the result as it reads a fresh render.
"""

from __future__ import annotations

import struct

from emulator.domain.drawing._png import SIGNATURE, text_chunk
from emulator.domain.drawing.metadata import (
    PNG_PREFIX,
    Provenance,
    check_provenance,
    jpeg_comment,
    xmp_packet,
)

_PNG_HEADER_END = len(SIGNATURE) + 8 + 13 + 4  # signature, then the IHDR chunk
_JPEG_COMMENT = 0xFE
_WEBP_XMP_FLAG = 0x04


def stamp(data: bytes, provenance: Provenance) -> bytes:
    """``data`` (a PNG, JPEG or WebP file ``render`` wrote) carrying ``provenance`` instead.

    Raises ``ValueError`` for provenance metadata cannot carry, or a file of another kind.
    """
    check_provenance(provenance)
    if data.startswith(SIGNATURE):
        return _stamp_png(data, provenance)
    if data.startswith(b"\xff\xd8"):
        return _stamp_jpeg(data, jpeg_comment(provenance))
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return _stamp_webp(data, xmp_packet(provenance))
    raise ValueError("not a PNG, JPEG or WebP file")


def _stamp_png(data: bytes, provenance: Provenance) -> bytes:
    if data[12:16] != b"IHDR":
        raise ValueError("a PNG file without its IHDR chunk first")
    chunks = b"".join(text_chunk(PNG_PREFIX + key, value) for key, value in provenance)
    return data[:_PNG_HEADER_END] + chunks + data[_PNG_HEADER_END:]


def _stamp_jpeg(data: bytes, comment: bytes) -> bytes:
    """Drop the comment segments before the frame's first table; put ``comment`` there."""
    kept = [data[:2]]
    at = 2
    while at + 4 <= len(data) and data[at] == 0xFF:
        marker = data[at + 1]
        if not (0xE0 <= marker <= 0xEF or marker == _JPEG_COMMENT):
            break  # the tables and the frame: the metadata segments end here
        (length,) = struct.unpack(">H", data[at + 2 : at + 4])
        if marker != _JPEG_COMMENT:
            kept.append(data[at : at + 2 + length])
        at += 2 + length
    segment = b"\xff\xfe" + struct.pack(">H", len(comment) + 2) + comment
    return b"".join(kept) + segment + data[at:]


def _stamp_webp(data: bytes, xmp: bytes) -> bytes:
    """Replace the XMP chunk of an extended (VP8X) WebP file and set its XMP flag."""
    chunks: list[bytes] = []
    at = 12
    while at + 8 <= len(data):
        kind = data[at : at + 4]
        (size,) = struct.unpack("<I", data[at + 4 : at + 8])
        end = at + 8 + size + (size & 1)
        chunk = data[at:end]
        if kind == b"VP8X":
            chunk = chunk[:8] + bytes([chunk[8] | _WEBP_XMP_FLAG]) + chunk[9:]
        if kind != b"XMP ":
            chunks.append(chunk)
        at = end
    if not chunks or chunks[0][:4] != b"VP8X":
        raise ValueError("a WebP file without its VP8X header (render writes extended files)")
    chunks.append(b"XMP " + struct.pack("<I", len(xmp)) + xmp + b"\x00" * (len(xmp) & 1))
    body = b"WEBP" + b"".join(chunks)
    return b"RIFF" + struct.pack("<I", len(body)) + body
