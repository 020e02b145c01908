"""Inputs decoded for their output size: reduced a band of rows at a time with the very pixels
of a whole-image reduction, JPEGs decoded at a smaller scale, broken data refused."""

from __future__ import annotations

import io
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from emulator.domain.drawing import InvalidImage
from emulator.domain.drawing.render import _reduced, check_decodes, fit_base, fit_mask
from tests.helpers import examples
from tests.support.security import broken_pixels, png_bomb


def noise(size: tuple[int, int], mode: str, seed: int) -> Image.Image:
    rng = random.Random(seed)
    if mode == "P":
        image = Image.frombytes("P", size, rng.randbytes(size[0] * size[1]))
        image.putpalette(rng.randbytes(768))
        image.info["transparency"] = 0
        return image
    return Image.frombytes(mode, size, rng.randbytes(size[0] * size[1] * len(mode)))


@settings(max_examples=examples())
@given(
    mode=st.sampled_from(["RGB", "RGBA", "L", "LA", "P"]),
    width=st.integers(1, 300),
    height=st.integers(1, 300),
    out_width=st.integers(1, 60),
    out_height=st.integers(1, 60),
    seed=st.integers(0, 1000),
)
def test_a_band_by_band_reduction_is_the_whole_images(
    mode: str, width: int, height: int, out_width: int, out_height: int, seed: int
) -> None:
    image = noise((width, height), mode, seed)
    has_alpha = mode in ("RGBA", "LA", "P")
    reduced = _reduced(image, out_width, out_height, has_alpha)
    factor = min(width // out_width, height // out_height)
    if factor < 2:
        assert reduced is image
        return
    whole = image.convert("RGBA" if has_alpha else "RGB").reduce(factor)
    assert reduced.size == whole.size
    assert reduced.tobytes() == whole.tobytes()


def test_a_large_jpeg_is_decoded_at_a_smaller_scale() -> None:
    out = io.BytesIO()
    Image.new("RGB", (4000, 3000), (200, 30, 30)).save(out, "JPEG")
    fitted = fit_base(out.getvalue(), 500, 375, False)
    assert fitted is not None
    image = Image.open(io.BytesIO(fitted))
    assert image.size == (500, 375)
    assert image.getpixel((250, 180)) == pytest.approx((200, 30, 30), abs=3)


def test_a_bomb_within_the_limit_is_kept_as_the_outputs_size() -> None:
    fitted = fit_mask(png_bomb(3000, 2000), 300, 200)
    assert fitted is not None
    image = Image.open(io.BytesIO(fitted))
    assert (image.size, image.mode) == ((300, 200), "RGBA")
    assert image.getextrema()[3] == (0, 0)  # all transparent, as the bomb is


def test_broken_pixel_data_is_refused_however_it_is_decoded() -> None:
    data = broken_pixels()
    with pytest.raises(InvalidImage, match="could not be decoded"):
        check_decodes(data, "The image")
    with pytest.raises(InvalidImage, match="The base image could not be decoded"):
        fit_base(data, 64, 64, False)
