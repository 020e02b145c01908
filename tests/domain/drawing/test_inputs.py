"""Input images: header probing by magic bytes, and inline references decoded to bytes."""

from __future__ import annotations

import base64
import contextlib
import struct
import warnings
import zlib
from typing import Literal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from emulator.domain.drawing import ImageInfo, InvalidImage, decode_inline, probe
from tests.helpers import encode, examples

RGB = Image.new("RGB", (40, 30), (200, 30, 90))
RGBA = Image.new("RGBA", (40, 30), (200, 30, 90, 128))


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (encode(RGB, "PNG"), ImageInfo("png", 40, 30, False)),
        (encode(RGBA, "PNG"), ImageInfo("png", 40, 30, True)),
        (encode(RGB, "JPEG"), ImageInfo("jpeg", 40, 30, False)),
        (encode(RGB, "WEBP"), ImageInfo("webp", 40, 30, False)),
        (encode(RGBA, "WEBP"), ImageInfo("webp", 40, 30, True)),
        (encode(RGB.convert("L"), "PNG"), ImageInfo("png", 40, 30, False)),
        (encode(RGBA.convert("LA"), "PNG"), ImageInfo("png", 40, 30, True)),
        (encode(RGB.convert("CMYK"), "JPEG"), ImageInfo("jpeg", 40, 30, False)),
    ],
    ids=["png", "png-rgba", "jpeg", "webp", "webp-rgba", "png-gray", "png-la", "jpeg-cmyk"],
)
def test_probe_reads_format_size_and_alpha(data: bytes, expected: ImageInfo) -> None:
    assert probe(data) == expected


def test_probe_sees_png_palette_and_trns_transparency() -> None:
    palette = RGB.convert("P")
    assert probe(encode(palette, "PNG")).has_alpha is False
    assert probe(encode(palette, "PNG", transparency=0)).has_alpha is True
    assert probe(encode(RGB, "PNG", transparency=(200, 30, 90))).has_alpha is True


def test_probe_goes_by_magic_bytes_not_by_name() -> None:
    assert probe(encode(RGB, "JPEG")).format == "jpeg"
    with pytest.raises(InvalidImage, match="not a PNG, JPEG or WebP image"):
        probe(encode(RGB, "GIF"))
    with pytest.raises(InvalidImage, match="not a PNG, JPEG or WebP image"):
        probe(encode(RGB, "BMP"))


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "is empty"),
        (b"not an image at all", "not a PNG, JPEG or WebP image"),
        (b"\x89PNG\r\n\x1a\n" + b"\x00" * 40 + b"IEND\xaeB`\x82", "not a valid PNG image"),
        (b"RIFF\x04\x00\x00\x00WEBP", "not a valid WEBP image"),
    ],
    ids=["empty", "garbage", "png-magic-only", "webp-magic-only"],
)
def test_probe_rejects_what_is_not_an_image(data: bytes, message: str) -> None:
    with pytest.raises(InvalidImage, match=message):
        probe(data)


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "WEBP"])
def test_probe_rejects_truncated_files(fmt: str) -> None:
    data = encode(Image.effect_mandelbrot((256, 256), (-2, -1.5, 1, 1.5), 50), fmt)
    with pytest.raises(InvalidImage, match="truncated"):
        probe(data[: len(data) // 2])


def test_probe_accepts_bytes_after_the_end_of_a_jpeg() -> None:
    assert probe(encode(RGB, "JPEG") + b"\x00trailing").width == 40


def _png_with_size(width: int, height: int) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(data, zlib.crc32(kind))
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b""))
        + chunk(b"IEND", b"")
    )


def test_probe_rejects_zero_size() -> None:
    with pytest.raises(InvalidImage, match=r"not a valid PNG image|zero size"):
        probe(_png_with_size(0, 10))


@pytest.mark.parametrize("warnings_are", ["error", "ignore"])
def test_probe_rejects_decompression_bombs(warnings_are: Literal["error", "ignore"]) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter(warnings_are)
        with pytest.raises(InvalidImage, match="too large"):
            probe(_png_with_size(10_000, 10_000))


@settings(max_examples=examples(10 / 3), deadline=None, database=None)
@given(
    prefix=st.sampled_from(
        [b"", b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"RIFF\x10\x00\x00\x00WEBP"]
    ),
    tail=st.binary(max_size=200),
)
def test_probe_raises_only_invalid_image_on_junk(prefix: bytes, tail: bytes) -> None:
    with contextlib.suppress(InvalidImage):
        probe(prefix + tail)


PAYLOAD = bytes(range(256)) * 3  # encodes to text using '+' and '/' (or '-' and '_')


B64 = base64.b64encode(PAYLOAD).decode()


@pytest.mark.parametrize(
    "ref",
    [
        "data:image/png;base64," + B64,
        "DATA:Image/PNG;BASE64," + B64,
        "data:image/webp;name=x.webp;base64," + B64,
        "  data:image/jpeg;base64,\n" + base64.encodebytes(PAYLOAD).decode(),
        B64,
        base64.encodebytes(PAYLOAD).decode(),
        base64.urlsafe_b64encode(PAYLOAD).decode(),
        "\t" + B64.replace("A", " A") + "\r\n",
    ],
    ids=["data-url", "upper", "params", "newlines", "bare", "bare-lines", "urlsafe", "spaces"],
)
def test_decode_inline_returns_the_bytes(ref: str) -> None:
    assert decode_inline(ref) == PAYLOAD


def test_decode_inline_without_padding() -> None:
    for size in (1, 2, 3, 4):
        text = base64.b64encode(PAYLOAD[:size]).decode().rstrip("=")
        assert decode_inline(text) == PAYLOAD[:size]


@pytest.mark.parametrize(
    "ref", ["http://example.com/a.png", "https://example.com/a.png?x=1", " HTTPS://EXAMPLE.COM/a"]
)
def test_decode_inline_leaves_http_urls_to_the_caller(ref: str) -> None:
    assert decode_inline(ref) is None


@pytest.mark.parametrize(
    ("ref", "message"),
    [
        ("not an image!!", r"not a data URL, an http\(s\) URL or base64"),
        ("", "empty"),
        ("   \n", "empty"),
        ("abcde", "not valid base64"),
        ("ftp://example.com/a.png", "Unsupported image URL scheme 'ftp'"),
        ("file:///etc/passwd", "Unsupported image URL scheme 'file'"),
        ("data:text/plain;base64,aGVsbG8=", "media type 'text/plain' is not an image"),
        ("data:image/png,rawbytes", "not base64-encoded"),
        ("data:image/png;base64", "no ','"),
        ("data:image/png;base64,", "empty"),
        ("data:image/png;base64,@@@@", "outside the base64 alphabet"),
    ],
)
def test_decode_inline_rejects_the_rest(ref: str, message: str) -> None:
    with pytest.raises(InvalidImage, match=message):
        decode_inline(ref)


@settings(max_examples=examples(5 / 3), deadline=None, database=None)
@given(
    data=st.binary(min_size=1, max_size=300),
    urlsafe=st.booleans(),
    strip_padding=st.booleans(),
    line=st.integers(min_value=4, max_value=80),
    as_data_url=st.booleans(),
)
def test_decode_inline_round_trips_any_bytes(
    data: bytes, urlsafe: bool, strip_padding: bool, line: int, as_data_url: bool
) -> None:
    text = (base64.urlsafe_b64encode if urlsafe else base64.b64encode)(data).decode()
    if strip_padding:
        text = text.rstrip("=")
    text = "\n".join(text[i : i + line] for i in range(0, len(text), line))
    if as_data_url:
        text = "data:image/png;base64," + text
    assert decode_inline(text) == data


def test_decode_inline_does_not_check_the_bytes_are_an_image() -> None:
    assert decode_inline(base64.b64encode(b"hello").decode()) == b"hello"
