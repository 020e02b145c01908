"""The synthetic picture: a smooth gradient with soft shapes, its colours chosen by a hash.

Everything is drawn at most 128 pixels wide and scaled up once, which keeps rendering cheap and
the result smooth (smooth content also encodes fast and small).
"""

from __future__ import annotations

import colorsys
import hashlib
import random

from PIL import Image, ImageDraw

PATTERN_EDGE = 128
SUPERSAMPLE = 4
INSET = 0.08  # shapes keep off the borders, so a transparent picture keeps a clear background

RGB = tuple[int, int, int]


def picture_key(seed: int, prompt: str, index: int) -> bytes:
    """A stable digest of what decides the picture (never Python's salted ``hash``)."""
    digest = hashlib.blake2b(digest_size=32, person=b"imgemu.render")
    digest.update(f"{seed}\x1f{index}\x1f".encode())
    digest.update(prompt.encode("utf-8", "surrogatepass"))
    return digest.digest()


def synthesize(key: bytes, width: int, height: int, transparent: bool) -> Image.Image:
    """The picture at ``width`` x ``height``: RGB, or RGBA where only the shapes are opaque."""
    rng = random.Random(int.from_bytes(key, "big"))
    small = _pattern_size(width, height)
    hue = rng.random()
    background = _gradient(rng, hue, small)
    shapes = _shapes(rng, hue, small)
    picture = background.convert("RGBA")
    picture.alpha_composite(shapes)
    picture = picture.convert("RGB").resize((width, height), Image.Resampling.BILINEAR)
    if transparent:
        # Colour and alpha are scaled apart: cheaper than Pillow's premultiplied RGBA resize,
        # and shape edges fade into the gradient's colour rather than into black.
        picture.putalpha(shapes.getchannel("A").resize((width, height), Image.Resampling.BILINEAR))
    return picture


def _pattern_size(width: int, height: int) -> tuple[int, int]:
    if width >= height:
        return PATTERN_EDGE, max(4, round(PATTERN_EDGE * height / width))
    return max(4, round(PATTERN_EDGE * width / height)), PATTERN_EDGE


def _colour(hue: float, saturation: float, value: float) -> RGB:
    red, green, blue = colorsys.hsv_to_rgb(hue % 1.0, saturation, value)
    return round(red * 255), round(green * 255), round(blue * 255)


def _gradient(rng: random.Random, hue: float, size: tuple[int, int]) -> Image.Image:
    grid = Image.new("RGB", (3, 3))
    corners = [
        _colour(hue + rng.uniform(-0.12, 0.12), rng.uniform(0.35, 0.8), rng.uniform(0.35, 0.9))
        for _ in range(9)
    ]
    grid.putdata(corners)
    return grid.resize(size, Image.Resampling.BILINEAR)


def _shapes(rng: random.Random, hue: float, size: tuple[int, int]) -> Image.Image:
    width, height = size
    big = (width * SUPERSAMPLE, height * SUPERSAMPLE)
    layer = Image.new("RGBA", size, (0, 0, 0, 0))
    for number in range(rng.randint(4, 7)):
        # The first shape is opaque so a transparent picture always has fully opaque pixels.
        alpha = 255 if number == 0 else rng.randint(140, 235)
        rgb = _colour(
            hue + 0.5 + rng.uniform(-0.2, 0.2), rng.uniform(0.5, 1.0), rng.uniform(0.6, 1.0)
        )
        rx = rng.uniform(0.08, 0.25) * big[0]
        ry = rng.uniform(0.08, 0.25) * big[1]
        cx = rng.uniform(INSET * big[0] + rx, (1 - INSET) * big[0] - rx)
        cy = rng.uniform(INSET * big[1] + ry, (1 - INSET) * big[1] - ry)
        box = (cx - rx, cy - ry, cx + rx, cy + ry)
        # Coverage is drawn oversized and reduced, so edges are anti-aliased before upscaling.
        coverage = Image.new("L", big, 0)
        draw = ImageDraw.Draw(coverage)
        kind = rng.choice(("ellipse", "rectangle", "polygon"))
        if kind == "ellipse":
            draw.ellipse(box, fill=alpha)
        elif kind == "rectangle":
            draw.rounded_rectangle(box, radius=min(rx, ry) / 3, fill=alpha)
        else:
            sides = rng.randint(3, 8)
            draw.regular_polygon((cx, cy, min(rx, ry)), sides, rng.uniform(0, 360), fill=alpha)
        shape = Image.new("RGBA", size, (*rgb, 0))
        shape.putalpha(coverage.reduce(SUPERSAMPLE))
        layer.alpha_composite(shape)
    return layer
