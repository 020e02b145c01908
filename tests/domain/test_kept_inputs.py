"""What a record keeps of its inputs: images fitted to the output (the same pixels rendered),
one copy per content, and parameters with each inline image as its digest and size."""

from __future__ import annotations

import base64
import hashlib
import io
import random

import pytest
from PIL import Image

from emulator.domain.drawing import InvalidImage, RenderSpec, render
from emulator.domain.drawing.render import fit_base, fit_mask
from emulator.domain.inputs import MAX_KEPT_REFERENCE, InputResolver, OwnFile, record_params

pytestmark = pytest.mark.anyio


def noise(size: tuple[int, int], mode: str = "RGB", fmt: str = "PNG", seed: int = 1) -> bytes:
    """Random pixels (they do not compress), some of them see-through in RGBA."""
    width, height = size
    pixels = random.Random(seed).randbytes(width * height * len(mode))
    out = io.BytesIO()
    Image.frombytes(mode, size, pixels).save(out, fmt)
    return out.getvalue()


def a_mask(size: tuple[int, int]) -> bytes:
    mask = Image.new("RGBA", size, (0, 0, 0, 255))
    mask.paste((0, 0, 0, 0), (size[0] // 4, size[1] // 3, size[0] // 2, size[1] - 5))
    out = io.BytesIO()
    mask.save(out, "PNG")
    return out.getvalue()


def spec(base: bytes, mask: bytes | None, transparent: bool, fmt: str = "png") -> RenderSpec:
    return RenderSpec(
        seed=3, prompt="a chair on a rug", index=0, width=150, height=100,
        output_format=fmt, compression=90, transparent=transparent,  # type: ignore[arg-type]
        labels=(("size", "150x100"),), provenance=(("request_id", "r1"),), base=base, mask=mask,
    )  # fmt: skip


@pytest.mark.parametrize("transparent", [False, True])
@pytest.mark.parametrize("masked", [False, True])
@pytest.mark.parametrize("mode", ["RGB", "RGBA"])
def test_a_fitted_input_renders_the_same_file(transparent: bool, masked: bool, mode: str) -> None:
    base = noise((450, 300), mode)
    mask = a_mask((450, 300)) if masked else None
    fitted_mask = fit_mask(mask, 150, 100) if mask is not None else None
    fitted = fit_base(base, 150, 100, transparent)
    assert len(fitted) < len(base)
    assert render(spec(fitted, fitted_mask, transparent)) == render(spec(base, mask, transparent))


def test_a_fitted_jpeg_renders_the_same_file() -> None:
    base = noise((300, 200), fmt="JPEG")
    fitted = fit_base(base, 150, 100, False)
    assert render(spec(fitted, None, False, "jpeg")) == render(spec(base, None, False, "jpeg"))


async def resolver() -> InputResolver:
    async def no_files(ref: OwnFile, owner: str) -> bytes | None:
        return None

    return InputResolver(no_files, None)


async def test_an_input_larger_than_the_output_is_kept_fitted_once_per_content() -> None:
    inputs = await resolver()
    big = noise((300, 300))
    kept = await inputs.keep(big, 150, 100, transparent=False)
    assert Image.open(io.BytesIO(kept)).size == (150, 100)
    assert len(kept) < len(big)
    again = await inputs.keep(bytes(big), 150, 100, transparent=False)  # equal, not the same
    assert again is kept
    mask = await inputs.keep(noise((300, 300), "RGBA"), 150, 100, transparent=False, mask=True)
    assert Image.open(io.BytesIO(mask)).size == (150, 100)


async def test_an_input_no_larger_than_the_output_is_kept_as_sent() -> None:
    inputs = await resolver()
    small = noise((100, 100))  # fewer pixels than 150x100... and no more bytes than them
    assert await inputs.keep(small, 150, 100, transparent=False) is small
    first = await inputs.keep(bytes(small), 150, 100, transparent=False)
    assert first is small  # one copy per content


async def test_a_small_file_of_many_pixels_is_kept_fitted_not_as_sent() -> None:
    # Its header is not trusted to make it cheap: rendering from it would decode every pixel.
    inputs = await resolver()
    smooth = io.BytesIO()
    Image.new("RGB", (600, 600), (9, 9, 9)).save(smooth, "PNG")
    tiny = smooth.getvalue()  # more pixels, but its file is far smaller than the output's
    kept = await inputs.keep(tiny, 150, 100, transparent=False)
    assert Image.open(io.BytesIO(kept)).size == (150, 100)


async def test_an_input_padded_past_its_raw_pixels_is_kept_as_the_png_of_them() -> None:
    inputs = await resolver()
    padded = noise((100, 100)) + b"\x00" * 100_000  # trailing bytes after its end marker
    kept = await inputs.keep(padded, 150, 100, transparent=False)
    assert len(kept) < len(padded)
    assert Image.open(io.BytesIO(kept)).size == (150, 100)


@pytest.mark.parametrize("end", ["cut", "pixels"])
async def test_an_input_rendering_cannot_use_is_refused_when_kept(end: str) -> None:
    inputs = await resolver()
    data = noise((300, 300))
    if end == "cut":
        broken = data[:-20] + b"\x00" * 20  # its end marker is gone
    else:  # header and end marker intact, pixel data scrambled
        start = data.index(b"IDAT") + 8
        broken = (
            data[:start] + bytes(b ^ 0x5A for b in data[start : start + 500]) + data[start + 500 :]
        )
    with pytest.raises(InvalidImage):
        await inputs.keep(broken, 150, 100, transparent=False)


def test_records_keep_inline_images_as_their_digest_and_size() -> None:
    image = noise((64, 64))
    encoded = base64.b64encode(image).decode()
    digest = {"sha256": hashlib.sha256(image).hexdigest(), "bytes": len(image)}
    junk = "#" * (MAX_KEPT_REFERENCE + 1)
    params = {
        "prompt": "p" * 5000,
        "size": "auto",
        "images": [
            f"data:image/png;base64,{encoded}",
            encoded,
            "https://example.com/a.png",
            {"image_url": f"data:image/png;base64,{encoded}"},
            {"file_id": "file-abc"},
            junk,
        ],
        "mask": {"image_url": f"data:image/png;base64,{encoded}"},
    }
    kept = record_params(params)
    assert kept["images"] == [
        digest,
        digest,
        "https://example.com/a.png",
        {"image_url": digest},
        {"file_id": "file-abc"},
        {"sha256": hashlib.sha256(junk.encode()).hexdigest(), "bytes": len(junk)},
    ]
    assert kept["mask"] == {"image_url": digest}
    assert (kept["prompt"], kept["size"]) == (params["prompt"], "auto")
    assert isinstance(params["images"], list)
    assert params["images"][0].startswith("data:")  # the request's own dict is left alone
    single = record_params({"images": f"data:image/png;base64,{encoded}"})
    assert single == {"images": digest}
