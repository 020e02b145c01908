"""The renderer services share: a fresh render by default, cached pictures stamped in load mode."""

from __future__ import annotations

import asyncio
import io

from PIL import Image

from emulator.domain.drawing import RenderSpec, read_provenance, render
from emulator.domain.drawing.renderer import Renderer, pixel_key


def _spec(prompt: str, request_id: str, fmt: str = "png", size: int = 64) -> RenderSpec:
    return RenderSpec(
        seed=3,
        prompt=prompt,
        index=0,
        width=size,
        height=size,
        output_format=fmt,  # type: ignore[arg-type]
        compression=80,
        transparent=False,
        labels=(("model", "gpt-image-1"), ("size", f"{size}x{size}"), ("image", "1/1")),
        provenance=(("request_id", request_id),),
    )


def _pixels(data: bytes) -> bytes:
    with Image.open(io.BytesIO(data)) as image:
        return image.convert("RGB").tobytes()


def test_by_default_each_prompt_has_its_own_picture() -> None:
    renderer = Renderer()
    one = asyncio.run(renderer.render(_spec("an apple", "r1")))
    two = asyncio.run(renderer.render(_spec("a pear", "r2")))
    assert one == render(_spec("an apple", "r1"))
    assert _pixels(one) != _pixels(two)


def test_load_mode_reuses_the_picture_and_stamps_each_request() -> None:
    renderer = Renderer(load_mode=True)
    one = asyncio.run(renderer.render(_spec("an apple", "r1")))
    two = asyncio.run(renderer.render(_spec("a pear", "r2")))
    assert _pixels(one) == _pixels(two) == _pixels(render(pixel_key(_spec("x", "y"))))
    assert read_provenance(one) == {"request_id": "r1"}
    assert read_provenance(two) == {"request_id": "r2"}


def test_load_mode_keeps_what_shapes_the_pixels_apart_and_its_cache_bounded() -> None:
    renderer = Renderer(load_mode=True, cache_entries=2)
    sizes = [asyncio.run(renderer.render(_spec("p", "r", size=s))) for s in (32, 48, 64)]
    assert [Image.open(io.BytesIO(b)).size for b in sizes] == [(32, 32), (48, 48), (64, 64)]
    jpeg = asyncio.run(renderer.render(_spec("p", "r", fmt="jpeg")))
    assert jpeg.startswith(b"\xff\xd8")
    assert len(renderer._pictures) == 2
    renderer.clear()
    assert not renderer._pictures
