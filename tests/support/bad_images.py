"""Hypothesis strategies of image bytes a client may send, most of them broken (tests/fuzz).

- ``valid_images``: small, complete PNG (RGB, RGBA, palette with ``tRNS``, grey, 16-bit),
  JPEG (baseline, progressive) and WebP (lossy, lossless, alpha) files;
- ``mutated_images``: those cut short, with bytes changed, a slice dropped or repeated, garbage
  appended, or cut in the middle with their end marker kept (which fools an end-marker check);
- ``garbage_pixels``: a valid header (any size up to ``max_edge``) over pixel data that is
  random, of the wrong length, or a zlib stream of the wrong size (and a palette PNG without
  its palette);
- ``huge_dimensions``: headers declaring up to the formats' largest sizes over a few bytes;
- ``image_bytes``: all of the above, and plain random bytes;
- ``references``: the text of an image reference (bare base64, ``data:`` URLs with every
  header variant, other schemes, URLs) around any of those bytes or random text.

Every file here is small (a few KB): a huge image is declared, never encoded.
"""

from __future__ import annotations

import base64
import struct
import zlib

from hypothesis import strategies as st
from PIL import Image

from tests.helpers import encode

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def png_chunk(kind: bytes, data: bytes) -> bytes:
    """One PNG chunk with its length and CRC."""
    crc = zlib.crc32(data, zlib.crc32(kind))
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)


def png_file(width: int, height: int, idat: bytes, depth: int = 8, colour: int = 2) -> bytes:
    """A PNG of ``width`` x ``height`` whose image data is ``idat`` as it stands."""
    header = struct.pack(">IIBBBBB", width, height, depth, colour, 0, 0, 0)
    return (
        PNG_MAGIC + png_chunk(b"IHDR", header) + png_chunk(b"IDAT", idat) + png_chunk(b"IEND", b"")
    )


def _gradient(mode: str, size: tuple[int, int] = (48, 32)) -> Image.Image:
    image = Image.linear_gradient("L").resize(size)
    if mode == "L":
        return image
    if mode == "P":
        return image.convert("RGB").quantize(16)
    bands = [image, image.rotate(90).resize(size), Image.new("L", size, 128)]
    if mode == "RGBA":
        bands.append(image.transpose(Image.Transpose.FLIP_LEFT_RIGHT))
    return Image.merge(mode, bands)


def _palette_with_transparency() -> bytes:
    image = _gradient("P")
    return encode(image, "PNG", transparency=0)


VALID: dict[str, bytes] = {
    "png-rgb": encode(_gradient("RGB"), "PNG"),
    "png-rgba": encode(_gradient("RGBA"), "PNG"),
    "png-grey": encode(_gradient("L"), "PNG"),
    "png-palette-trns": _palette_with_transparency(),
    "png-16bit": encode(_gradient("L").convert("I;16"), "PNG"),
    "png-interlaced": encode(_gradient("RGB"), "PNG", interlace=1),
    "jpeg": encode(_gradient("RGB"), "JPEG", quality=80),
    "jpeg-progressive": encode(_gradient("RGB"), "JPEG", quality=80, progressive=True),
    "jpeg-grey": encode(_gradient("L"), "JPEG"),
    "webp-lossy": encode(_gradient("RGB"), "WEBP", quality=60),
    "webp-lossless": encode(_gradient("RGB"), "WEBP", lossless=True),
    "webp-alpha": encode(_gradient("RGBA"), "WEBP", quality=60),
}


def valid_images() -> st.SearchStrategy[bytes]:
    """Small complete images of every format and mode the emulator takes."""
    return st.sampled_from(list(VALID.values()))


@st.composite
def _mutated(draw: st.DrawFn, data: bytes) -> bytes:
    size = len(data)
    if size == 0:
        return draw(st.binary(max_size=16))
    how = draw(st.sampled_from(["cut", "flip", "drop", "repeat", "append", "cut-keep-end"]))
    if how == "cut":
        return data[: draw(st.integers(0, size - 1))]
    if how == "flip":
        out = bytearray(data)
        for _ in range(draw(st.integers(1, 8))):
            out[draw(st.integers(0, size - 1))] = draw(st.integers(0, 255))
        return bytes(out)
    start = draw(st.integers(0, size - 1))
    end = draw(st.integers(start, min(size, start + 256)))
    if how == "drop":
        return data[:start] + data[end:]
    if how == "repeat":
        return data[:end] + data[start:end] + data[end:]
    if how == "append":
        return data + draw(st.binary(min_size=1, max_size=64))
    # Keep the last 12 bytes: PNG's IEND chunk, JPEG's EOI, WebP's RIFF size stays as it was.
    return data[:start] + data[-12:]


def mutated_images() -> st.SearchStrategy[bytes]:
    """A valid image, then broken once or twice."""
    once = valid_images().flatmap(_mutated)
    return st.one_of(once, once.flatmap(_mutated))


@st.composite
def _png_garbage(draw: st.DrawFn, max_edge: int) -> bytes:
    width = draw(st.integers(1, max_edge))
    height = draw(st.integers(1, max_edge))
    colour, depth = draw(
        st.sampled_from([(0, 1), (0, 8), (0, 16), (2, 8), (2, 16), (3, 8), (4, 8), (6, 8)])
    )
    kind = draw(st.sampled_from(["random", "zlib-random", "zlib-short", "zlib-zeros-long"]))
    if kind == "random":
        idat = draw(st.binary(max_size=512))
    elif kind == "zlib-random":
        idat = zlib.compress(draw(st.binary(max_size=512)))
    elif kind == "zlib-short":
        idat = zlib.compress(b"\x00" * draw(st.integers(0, 64)))
    else:  # more rows than the header declares, within a few KB of zlib
        idat = zlib.compress(b"\x00" * (height + 1) * (width * 4 + 1) * 2, 9)[:65536]
    body = png_file(width, height, idat, depth, colour)
    if colour == 3 and draw(st.booleans()):  # a palette image needs its PLTE before IDAT
        at = body.index(b"IDAT") - 4
        body = body[:at] + png_chunk(b"PLTE", bytes(range(48))) + body[at:]
    return body


@st.composite
def _jpeg_garbage(draw: st.DrawFn, max_edge: int, min_edge: int = 1) -> bytes:
    base = VALID[draw(st.sampled_from(["jpeg", "jpeg-progressive", "jpeg-grey"]))]
    sof = max(base.find(b"\xff\xc0"), base.find(b"\xff\xc2"))
    out = bytearray(base)
    # Set the frame's size: SOFn, length (2), precision (1), height (2), width (2).
    out[sof + 5 : sof + 7] = draw(st.integers(min_edge, max_edge)).to_bytes(2, "big")
    out[sof + 7 : sof + 9] = draw(st.integers(min_edge, max_edge)).to_bytes(2, "big")
    scan = out.rfind(b"\xff\xda")
    length = int.from_bytes(out[scan + 2 : scan + 4], "big")
    head = bytes(out[: scan + 2 + length])
    noise = draw(st.binary(max_size=512)).replace(b"\xff", b"\xff\x00")
    return head + noise + b"\xff\xd9"


@st.composite
def _webp_garbage(draw: st.DrawFn, max_edge: int) -> bytes:
    width = draw(st.integers(1, min(max_edge, 16383)))
    height = draw(st.integers(1, min(max_edge, 16383)))
    noise = draw(st.binary(max_size=512))
    if draw(st.booleans()):  # lossy: frame tag, start code, 14-bit sizes
        frame = b"\x9d\x01\x2a" + struct.pack("<HH", width, height)
        chunk = b"VP8 " + struct.pack("<I", 3 + len(frame) + len(noise)) + b"\x00\x00\x00"
        payload = chunk + frame + noise
    else:  # lossless: signature, 14-bit sizes minus one
        bits = (width - 1) | ((height - 1) << 14)
        data = b"\x2f" + struct.pack("<I", bits) + noise
        payload = b"VP8L" + struct.pack("<I", len(data)) + data
    if len(payload) % 2:
        payload += b"\x00"
    return b"RIFF" + struct.pack("<I", 4 + len(payload)) + b"WEBP" + payload


def garbage_pixels(max_edge: int = 1024) -> st.SearchStrategy[bytes]:
    """A valid header of any size up to ``max_edge`` over pixel data that is not."""
    return st.one_of(_png_garbage(max_edge), _jpeg_garbage(max_edge), _webp_garbage(max_edge))


@st.composite
def huge_dimensions(draw: st.DrawFn) -> bytes:
    """A header declaring a huge image (up to each format's largest) over a few bytes."""
    fmt = draw(st.sampled_from(["png", "jpeg", "webp"]))
    if fmt == "png":
        edge = st.integers(10_000, 2**31 - 1)
        return png_file(draw(edge), draw(edge), zlib.compress(b"\x00" * 64))
    if fmt == "jpeg":
        return draw(_jpeg_garbage(65_535, min_edge=10_000))
    # VP8X: a canvas of up to 2**24 x 2**24 (sizes minus one, 24 bits each).
    width = draw(st.integers(10_000, 2**24))
    height = draw(st.integers(10_000, 2**24))
    flags = draw(st.sampled_from([0, 0x10, 0x02]))
    vp8x = bytes([flags, 0, 0, 0]) + (width - 1).to_bytes(3, "little")
    vp8x += (height - 1).to_bytes(3, "little")
    payload = b"VP8X" + struct.pack("<I", 10) + vp8x
    return b"RIFF" + struct.pack("<I", 4 + len(payload)) + b"WEBP" + payload


def image_bytes(max_edge: int = 1024) -> st.SearchStrategy[bytes]:
    """Any bytes a client may send as an image: valid, broken, lying about its size, random."""
    return st.one_of(
        valid_images(),
        mutated_images(),
        garbage_pixels(max_edge),
        huge_dimensions(),
        st.binary(max_size=256),
        st.sampled_from([b"", PNG_MAGIC, b"\xff\xd8\xff", b"RIFF\x00\x00\x00\x00WEBP"]),
    )


def _b64(data: bytes, urlsafe: bool, padded: bool, wrap: int) -> str:
    text = (base64.urlsafe_b64encode if urlsafe else base64.b64encode)(data).decode()
    if not padded:
        text = text.rstrip("=")
    if wrap:
        text = "\n".join(text[i : i + wrap] for i in range(0, len(text), wrap))
    return text


@st.composite
def encoded(draw: st.DrawFn, data: bytes) -> str:
    """``data`` as base64 text: standard or URL-safe, padded or not, wrapped or not."""
    return _b64(
        data, draw(st.booleans()), draw(st.booleans()), draw(st.sampled_from([0, 0, 60, 76]))
    )


@st.composite
def references(draw: st.DrawFn, max_edge: int = 1024) -> str:
    """The text of an image reference, well formed or not, around any image bytes."""
    data = draw(image_bytes(max_edge))
    payload = draw(st.one_of(encoded(data), st.text(max_size=64)))
    media = draw(
        st.sampled_from(
            ["image/png", "image/jpeg", "IMAGE/WEBP", "image/gif", "text/plain", "", "image"]
        )
    )
    params = draw(st.sampled_from([";base64", ";BASE64", "", ";charset=utf-8;base64", ";b64"]))
    return draw(
        st.sampled_from(
            [
                payload,
                f"data:{media}{params},{payload}",
                f"  data:{media}{params},{payload}\n",
                f"data:{media}{params}{payload}",  # no comma
                f"DATA:{media}{params},{payload}",
                f"https://example.com/{payload[:40]}.png",
                f"ftp://example.com/{payload[:20]}",
                f"file:///etc/{payload[:20]}",
                f"javascript:{payload[:20]}",
            ]
        )
    )
