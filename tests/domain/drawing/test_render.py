"""Rendering: real bytes decoded back with Pillow and checked for size, mode, content, metadata."""

from __future__ import annotations

import dataclasses
import hashlib
import os
import subprocess
import sys
from pathlib import Path
from typing import Any, Literal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image, ImageChops, ImageStat

import emulator.domain.drawing as images
from emulator.domain.drawing import (
    InvalidImage,
    RenderSpec,
    placeholder,
    probe,
    read_provenance,
    render,
)
from tests.helpers import decode, encode, examples

Format = Literal["png", "jpeg", "webp"]
MAGIC = {"png": b"\x89PNG\r\n\x1a\n", "jpeg": b"\xff\xd8\xff", "webp": b"RIFF"}
PILLOW_FORMAT = {"png": "PNG", "jpeg": "JPEG", "webp": "WEBP"}
LABELS = (("model", "gpt_image_2"), ("quality", "medium"), ("size", "256x256"))
PROVENANCE = (
    ("request_id", "mmsu_01jd0000000000000000000000"),
    ("prompt_sha256", "ab" * 32),
    ("params", '{"n": 2, "note": "<a & b> \\"quoted\\""}'),
)


def spec(**changes: Any) -> RenderSpec:
    base = RenderSpec(
        seed=42,
        prompt="a red fox in the snow, watercolour",
        index=0,
        width=256,
        height=256,
        output_format="png",
        compression=90,
        transparent=False,
        labels=LABELS,
        provenance=PROVENANCE,
    )
    return dataclasses.replace(base, **changes)


def changed_share(a: Image.Image, b: Image.Image, threshold: int = 24) -> float:
    """The share of pixels whose largest channel difference exceeds ``threshold``."""
    difference = ImageChops.difference(a.convert("RGB"), b.convert("RGB"))
    mask = difference.point(lambda v: 255 if v > threshold else 0).convert("L")
    return ImageStat.Stat(mask).mean[0] / 255


def test_public_names() -> None:
    assert sorted(images.__all__) == [
        "ImageInfo",
        "ImageLimits",
        "ImageTooLarge",
        "InvalidImage",
        "RenderSpec",
        "decode_inline",
        "placeholder",
        "probe",
        "read_provenance",
        "render",
    ]


@pytest.mark.parametrize(
    ("fmt", "transparent"),
    [("png", False), ("png", True), ("jpeg", False), ("webp", False), ("webp", True)],
)
def test_output_decodes_to_the_requested_size_mode_and_format(
    fmt: Format, transparent: bool
) -> None:
    data = render(spec(width=320, height=192, output_format=fmt, transparent=transparent))
    assert data.startswith(MAGIC[fmt])
    image = decode(data)
    assert image.format == PILLOW_FORMAT[fmt]
    assert image.size == (320, 192)
    assert image.mode == ("RGBA" if transparent else "RGB")
    assert probe(data).has_alpha is transparent


def test_jpeg_cannot_be_transparent() -> None:
    with pytest.raises(ValueError, match="png or webp"):
        spec(output_format="jpeg", transparent=True)


@pytest.mark.parametrize(
    "changes",
    [
        {"width": 0},
        {"fidelity": 0.0},
        {"fidelity": 1.5},
        {"output_format": "gif"},
        {"provenance": (("bad key", "x"),)},
        {"provenance": (("a", "x"), ("a", "y"))},
        {"provenance": (("a", "nul\x00"),)},
        {"provenance": (("a", "lone \ud800"),)},
        {"provenance": (("a", "x" * 70_000),)},
    ],
)
def test_spec_rejects_impossible_values(changes: dict[str, Any]) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - each case has its own message
        spec(**changes)


def test_same_spec_gives_the_same_bytes() -> None:
    for fmt in ("png", "jpeg", "webp"):
        assert render(spec(output_format=fmt)) == render(spec(output_format=fmt))


def test_same_spec_gives_the_same_bytes_in_another_process() -> None:
    code = (
        "import hashlib, sys; sys.path.insert(0, sys.argv[1]);"
        "from emulator.domain.drawing import RenderSpec, render;"
        "spec = RenderSpec(seed=42, prompt='a red fox', index=1, width=200, height=120,"
        " output_format='png', compression=90, transparent=True, labels=(('size', '200x120'),),"
        " provenance=(('request_id', 'r1'),));"
        "print(hashlib.sha256(render(spec)).hexdigest())"
    )
    root = str(Path(images.__file__).resolve().parents[3])
    digests = set()
    for hash_seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": hash_seed}
        result = subprocess.run(
            [sys.executable, "-c", code, root], capture_output=True, text=True, env=env, check=True
        )
        digests.add(result.stdout.strip())
    here = render(
        spec(
            prompt="a red fox",
            index=1,
            width=200,
            height=120,
            transparent=True,
            labels=(("size", "200x120"),),
            provenance=(("request_id", "r1"),),
        )
    )
    assert digests == {hashlib.sha256(here).hexdigest()}


@pytest.mark.parametrize(
    "changes", [{"prompt": "a blue whale in the deep sea"}, {"index": 1}, {"seed": 43}]
)
def test_different_prompt_index_or_seed_changes_the_picture(changes: dict[str, Any]) -> None:
    first = decode(render(spec()))
    other = decode(render(spec(**changes)))
    # Most pixels change, not just the caption: the colours and shapes come from the hash.
    assert changed_share(first, other) > 0.3


@pytest.mark.parametrize("fmt", ["png", "jpeg", "webp"])
def test_provenance_round_trips(fmt: Format) -> None:
    provenance = (*PROVENANCE, ("unicode", "café ☕ 東京"), ("lines", "one\ntwo\r\nthree\ttab"))
    data = render(spec(output_format=fmt, provenance=provenance))
    assert read_provenance(data) == dict(provenance)


def test_png_names_its_software() -> None:
    assert decode(render(spec())).info["Software"] == "imgemu"


def test_read_provenance_of_a_plain_image_is_empty() -> None:
    plain = Image.new("RGB", (8, 8))
    for fmt in ("PNG", "JPEG", "WEBP"):
        assert read_provenance(encode(plain, fmt)) == {}
    with pytest.raises(InvalidImage):
        read_provenance(b"garbage")


@pytest.mark.parametrize("fmt", ["png", "webp"])
def test_transparent_output_has_a_clear_background_and_opaque_content(fmt: Format) -> None:
    image = decode(render(spec(output_format=fmt, transparent=True, width=512, height=384)))
    assert image.getchannel("A").getextrema() == (0, 255)
    assert image.getpixel((0, 0))[3] == 0  # type: ignore[index]


def test_transparent_output_without_any_text_still_has_opaque_pixels() -> None:
    image = decode(render(spec(transparent=True, prompt="", labels=())))
    assert image.getchannel("A").getextrema() == (0, 255)


def test_jpeg_compression_is_the_encoder_quality() -> None:
    low = render(spec(output_format="jpeg", compression=5))
    high = render(spec(output_format="jpeg", compression=100))
    assert len(low) < len(high)
    assert decode(render(spec(output_format="jpeg", compression=0))).size == (256, 256)
    assert decode(render(spec(output_format="webp", compression=0))).size == (256, 256)


def stripes(size: tuple[int, int]) -> Image.Image:
    """A base image: dark left half, light right half."""
    image = Image.new("RGB", size, (20, 20, 20))
    image.paste((235, 235, 235), (size[0] // 2, 0, size[0], size[1]))
    return image


def test_edit_with_mask_keeps_the_opaque_area_and_changes_the_transparent_one() -> None:
    base = Image.effect_mandelbrot((300, 200), (-2, -1, 1, 1), 60).convert("RGB")
    # Opaque (kept) on the left half, transparent (editable) on the right half.
    mask = Image.new("RGBA", (300, 200), (0, 0, 0, 255))
    mask.paste((0, 0, 0, 0), (150, 0, 300, 200))
    data = render(spec(width=384, height=256, base=encode(base), mask=encode(mask)))
    out = decode(data)
    expected = base.resize((384, 256), Image.Resampling.BILINEAR)
    kept = (0, 0, 180, 256)  # well inside the opaque half, covering where the caption goes
    assert ImageChops.difference(out.crop(kept), expected.crop(kept)).getbbox() is None
    assert out.getpixel((50, 128)) == expected.getpixel((50, 128))
    edited = (210, 0, 384, 256)
    assert changed_share(out.crop(edited), expected.crop(edited)) > 0.5


def test_edit_with_mask_accepts_a_palette_mask_and_a_jpeg_base() -> None:
    base = encode(stripes((256, 256)), "JPEG")
    mask = Image.new("P", (64, 64), 1)
    mask.putpalette([0, 0, 0, 255, 255, 255])
    mask.paste(0, (0, 0, 32, 64))
    data = render(spec(base=base, mask=encode(mask, "PNG", transparency=0)))
    out = decode(data)
    assert out.size == (256, 256)
    assert out.getpixel((200, 128)) == decode(base).getpixel((200, 128))


def test_edit_without_mask_changes_everything_but_keeps_the_base_visible() -> None:
    base = stripes((200, 200))
    out = decode(render(spec(base=encode(base))))
    assert changed_share(out, base.resize((256, 256))) > 0.5
    luminance = out.convert("L")
    left = ImageStat.Stat(luminance.crop((0, 0, 128, 256))).mean[0]
    right = ImageStat.Stat(luminance.crop((128, 0, 256, 256))).mean[0]
    assert right - left > 60  # the base's dark and light halves still show through


def test_edit_with_transparent_output_keeps_the_base_transparency() -> None:
    base = stripes((64, 64)).convert("RGBA")
    base.paste((0, 0, 0, 0), (40, 24, 64, 40))  # right of the middle, away from the caption
    out = decode(render(spec(base=encode(base), transparent=True)))
    assert out.mode == "RGBA"
    assert out.getpixel((230, 128))[3] == 0  # type: ignore[index]
    assert out.getpixel((60, 128))[3] == 255  # type: ignore[index]


def test_edit_rejects_an_unusable_base_or_mask() -> None:
    with pytest.raises(InvalidImage, match="base image"):
        render(spec(base=b"not an image"))
    with pytest.raises(InvalidImage, match="no alpha channel"):
        render(spec(base=encode(stripes((64, 64))), mask=encode(stripes((64, 64)))))


def test_preview_is_a_rougher_version_of_the_same_picture() -> None:
    final = decode(render(spec()))
    preview = decode(render(spec(fidelity=0.25)))
    assert preview.size == final.size
    assert preview.format == final.format
    assert preview.tobytes() != final.tobytes()
    # Rendered at a quarter of the size and scaled back up: 4x4 blocks of one colour.
    blocks = preview.resize((64, 64), Image.Resampling.NEAREST)
    assert blocks.resize((256, 256), Image.Resampling.NEAREST).tobytes() == preview.tobytes()
    assert changed_share(preview, final, threshold=96) < 0.2


def test_preview_keeps_the_format_and_transparency() -> None:
    preview = decode(render(spec(output_format="webp", transparent=True, fidelity=0.05)))
    assert (preview.format, preview.mode, preview.size) == ("WEBP", "RGBA", (256, 256))


@pytest.mark.parametrize(
    ("width", "height", "fmt"),
    [
        (1024, 640, "png"),
        (2160, 3840, "jpeg"),
        (16, 48, "webp"),
        (16, 48, "png"),
        (1, 1, "png"),
        (17, 5, "jpeg"),
        (1000, 333, "webp"),
    ],
)
def test_odd_sizes(width: int, height: int, fmt: Format) -> None:
    image = decode(render(spec(width=width, height=height, output_format=fmt)))
    assert image.size == (width, height)


def test_long_and_odd_prompts_render() -> None:
    for prompt in ("word " * 8000, "x" * 5000, "tab\tnul\x00 bell\x07 \ud800 東京 🦊", ""):
        assert decode(render(spec(prompt=prompt))).size == (256, 256)


@settings(max_examples=examples(25 / 60), deadline=None, database=None)
@given(
    width=st.integers(min_value=1, max_value=32).map(lambda n: n * 16),
    height=st.integers(min_value=1, max_value=32).map(lambda n: n * 16),
    fmt=st.sampled_from(["png", "jpeg", "webp"]),
    transparent=st.booleans(),
)
def test_any_size_in_multiples_of_16_decodes_to_that_size(
    width: int, height: int, fmt: Format, transparent: bool
) -> None:
    transparent = transparent and fmt != "jpeg"
    data = render(spec(width=width, height=height, output_format=fmt, transparent=transparent))
    image = decode(data)
    assert (image.format, image.size) == (PILLOW_FORMAT[fmt], (width, height))


@settings(max_examples=examples(25 / 60), deadline=None, database=None)
@given(prompt=st.text(max_size=200), labels=st.lists(st.tuples(st.text(), st.text()), max_size=4))
def test_any_text_renders(prompt: str, labels: list[tuple[str, str]]) -> None:
    data = render(spec(prompt=prompt, labels=tuple(labels), width=96, height=64))
    assert decode(data).size == (96, 64)


def test_placeholder_is_a_deterministic_1024_png_per_url() -> None:
    url = "https://example.com/photos/cat.png?size=large"
    first = placeholder(url)
    placeholder.cache_clear()
    assert placeholder(url) == first
    image = decode(first)
    assert (image.format, image.mode, image.size) == ("PNG", "RGB", (1024, 1024))
    assert read_provenance(first) == {"placeholder_for": url}
    assert placeholder("https://example.com/other.png") != first


def test_placeholder_of_a_hostile_url() -> None:
    assert decode(placeholder("https://x/\x00\n" + "a" * 10_000)).size == (1024, 1024)
