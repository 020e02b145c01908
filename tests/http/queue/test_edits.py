"""Edits over HTTP: inputs as data: URLs, bare base64, the emulator's own URLs and placeholders;
mask rules; only the mask's transparent area changes; every image decoded and measured."""

from __future__ import annotations

import base64
from typing import Any

import httpx
import pytest
from PIL import Image
from starlette.applications import Starlette

from emulator.domain.drawing import read_provenance
from tests.helpers import (
    asgi_client,
    data_url,
    decode,
    image_bytes,
    make_app,
    mask_bytes,
    png_bytes,
)
from tests.support.queue import finish, submit

pytestmark = pytest.mark.anyio


def half_mask(width: int, height: int) -> bytes:
    """Left half transparent (editable), right half opaque (kept)."""
    return mask_bytes((width, height), (0, 0, width // 2, height))


async def run(
    app: Starlette, client: httpx.AsyncClient, model: str, body: dict[str, Any]
) -> dict[str, Any]:
    sub = await submit(client, model, body)
    final = await finish(app, client, sub["status_url"])
    result = await client.get(sub["response_url"])
    return {"status": final, "result": result.json(), "code": result.status_code}


async def fetch_image(client: httpx.AsyncClient, url: str) -> Image.Image:
    response = await client.get(url)
    assert response.status_code == 200
    return decode(response.content)


async def test_edit_with_mask_changes_only_the_transparent_area(
    app: Starlette, client: httpx.AsyncClient
) -> None:
    base = png_bytes((1024, 1024), color=(10, 200, 30))
    body = {
        "prompt": "Replace the left half with a studio backdrop",
        "images": [data_url(base)],
        "mask": data_url(half_mask(1024, 1024)),
        "size": "1024x1024",
        "output_format": "png",
    }
    done = await run(app, client, "gpt_image_1_edit", body)
    assert done["code"] == 200
    (output,) = done["result"]["outputs"]
    image = (await fetch_image(client, output["url"])).convert("RGB")
    assert image.size == (1024, 1024)
    right = [image.getpixel((x, y)) for x in (600, 800, 1000) for y in (10, 500, 1000)]
    assert set(right) == {(10, 200, 30)}
    left = {image.getpixel((x, y)) for x in (10, 200, 400) for y in (10, 500, 1000)}
    assert left != {(10, 200, 30)}


@pytest.mark.parametrize("encoding", ["data_url", "bare_base64", "jpeg_data_url", "webp"])
async def test_inline_inputs_of_every_kind(
    app: Starlette, client: httpx.AsyncClient, encoding: str
) -> None:
    fmt = {"jpeg_data_url": "JPEG", "webp": "WEBP"}.get(encoding, "PNG")
    raw = image_bytes((1536, 1024), color=(200, 100, 50), fmt=fmt)
    ref = (
        base64.b64encode(raw).decode()
        if encoding == "bare_base64"
        else data_url(raw, f"image/{fmt.lower()}")
    )
    done = await run(app, client, "gpt_image_1_5_edit", {"prompt": "edit", "images": [ref]})
    assert done["code"] == 200
    (output,) = done["result"]["outputs"]
    # size auto follows the input's aspect ratio
    assert (output["width"], output["height"]) == (1536, 1024)
    decoded = await fetch_image(client, output["url"])
    assert decoded.size == (1536, 1024)


async def test_remote_urls_become_deterministic_placeholders(
    app: Starlette, client: httpx.AsyncClient
) -> None:
    body = {"prompt": "edit", "images": ["https://example.com/input.png"], "size": "1024x1536"}
    first = await run(app, client, "gpt_image_2_edit", body)
    second = await run(app, client, "gpt_image_2_edit", body)
    images = [
        (await client.get(done["result"]["outputs"][0]["url"])).content for done in (first, second)
    ]
    a, b = (decode(data) for data in images)
    assert a.size == b.size == (1024, 1536)
    assert a.tobytes() == b.tobytes()  # same request, same pixels (metadata names the request)


async def test_an_output_url_of_the_emulator_is_a_valid_input(
    app: Starlette, client: httpx.AsyncClient
) -> None:
    generated = await run(
        app, client, "gpt_image_1", {"prompt": "a red apple", "size": "1536x1024"}
    )
    url = generated["result"]["outputs"][0]["url"]
    edited = await run(
        app, client, "gpt_image_1_edit", {"prompt": "make it green", "images": [url]}
    )
    assert edited["code"] == 200
    assert edited["result"]["outputs"][0]["width"] == 1536


async def test_an_unknown_own_url_is_a_placeholder_like_any_unknown_url(
    app: Starlette, client: httpx.AsyncClient
) -> None:
    # No such job, and a signature that does not hold: nothing tells it from another URL
    # (tests/security/test_key_walls.py: another key's file, a forged or expired link).
    url = "http://emulator.test/_files/mmsu_01jd5x3k7m9q2w4e6r8t0y1v3z/0.png?expires=1&sig=x"
    done = await run(app, client, "gpt_image_1_edit", {"prompt": "x", "images": [url]})
    assert done["code"] == 200
    assert done["status"]["status"] == "COMPLETED"
    assert "error_type" not in done["status"]
    (output,) = done["result"]["outputs"]
    assert (output["width"], output["height"]) == (1024, 1024)  # the placeholder's size


@pytest.mark.parametrize(
    ("mask", "error"),
    [
        (png_bytes((1024, 1024), color=(0, 0, 0)), "mask: The mask must have an alpha channel."),
        (
            half_mask(512, 512),
            "mask: The mask must have the same dimensions as the first image (1024x1024), "
            "got 512x512.",
        ),
        (b"not an image at all", "mask: "),
    ],
)
async def test_mask_rules_end_request_invalid(
    app: Starlette, client: httpx.AsyncClient, mask: bytes, error: str
) -> None:
    body = {
        "prompt": "x",
        "images": [data_url(png_bytes((1024, 1024), color=(1, 2, 3)))],
        "mask": data_url(mask),
    }
    done = await run(app, client, "gpt_image_2_edit", body)
    assert done["status"]["error_type"] == "REQUEST_INVALID"
    assert done["status"]["error"].startswith(error)
    assert done["code"] == 422


async def test_garbage_image_reference_is_request_invalid(
    app: Starlette, client: httpx.AsyncClient
) -> None:
    done = await run(app, client, "gpt_image_1_edit", {"prompt": "x", "images": ["not an image!!"]})
    assert done["status"]["error_type"] == "REQUEST_INVALID"
    assert done["status"]["error"].startswith("images.0: ")


@pytest.mark.parametrize(
    ("model", "body", "mode", "size", "fmt"),
    [
        (
            "gpt_image_1",
            {"background": "transparent", "output_format": "png"},
            "RGBA",
            (1024, 1024),
            "PNG",
        ),
        (
            "gpt_image_1_5",
            {"background": "transparent", "output_format": "webp"},
            "RGBA",
            (1024, 1024),
            "WEBP",
        ),
        (
            "gpt_image_2",
            {"background": "transparent", "output_format": "png"},
            "RGB",
            (1024, 1024),
            "PNG",
        ),
        (
            "gpt_image_2",
            {"size": "3840x2160", "output_format": "webp"},
            "RGB",
            (3840, 2160),
            "WEBP",
        ),
        ("gpt_image_2", {"size": "1024x640", "output_format": "jpeg"}, "RGB", (1024, 640), "JPEG"),
        ("gpt_image_2", {"size": "2880x960", "n": 2}, "RGB", (2880, 960), "PNG"),
        ("gpt_image_1", {"size": "auto"}, "RGB", (1024, 1024), "PNG"),
    ],
)
async def test_outputs_have_the_requested_size_format_and_alpha(
    app: Starlette,
    client: httpx.AsyncClient,
    model: str,
    body: dict[str, Any],
    mode: str,
    size: tuple[int, int],
    fmt: str,
) -> None:
    done = await run(app, client, model, {"prompt": "a lighthouse at dusk", **body})
    outputs = done["result"]["outputs"]
    assert len(outputs) == body.get("n", 1)
    for output in outputs:
        assert (output["width"], output["height"]) == size
        image = await fetch_image(client, output["url"])
        assert (image.format, image.size, image.mode) == (fmt, size, mode)
        assert output["content_type"] == f"image/{fmt.lower()}"
        if mode == "RGBA":
            assert image.getextrema()[3][0] == 0  # some pixels fully transparent


async def test_images_carry_provenance_and_repeat_for_the_same_seed(
    app: Starlette, client: httpx.AsyncClient
) -> None:
    body = {"prompt": "a lighthouse", "n": 2}
    done = await run(app, client, "gpt_image_1", body)
    urls = [o["url"] for o in done["result"]["outputs"]]
    datas = [(await client.get(url)).content for url in urls]
    meta = read_provenance(datas[0])
    assert meta["request_id"] == done["result"]["request_id"]
    assert len(meta["prompt_sha256"]) == 64
    a, b = (decode(d).convert("RGB").tobytes() for d in datas)
    assert a != b  # two outputs of one request differ
    again = await run(app, client, "gpt_image_1", body)
    first_again = (await client.get(again["result"]["outputs"][0]["url"])).content
    assert decode(first_again).convert("RGB").tobytes() == a


async def test_allowlisted_hosts_are_really_fetched(serve: Any) -> None:
    from starlette.responses import Response
    from starlette.routing import Route

    async def picture(request: Any) -> Response:
        return Response(png_bytes((1024, 1536), color=(250, 10, 10)), media_type="image/png")

    origin = serve(Starlette(routes=[Route("/input.png", picture)]))
    app = make_app(fetch_remote="allowlist", fetch_allowlist=("127.0.0.1",))
    try:
        async with asgi_client(app, {"Authorization": "Key k"}) as client:
            body = {
                "prompt": "x",
                "images": [f"{origin.base_url}/input.png"],
                "mask": data_url(half_mask(1024, 1536)),
            }
            done = await run(app, client, "gpt_image_1_edit", body)
            assert done["code"] == 200, done
            output = done["result"]["outputs"][0]
            # size auto follows the fetched image
            assert (output["width"], output["height"]) == (1024, 1536)
            image = (await fetch_image(client, output["url"])).convert("RGB")
            # the kept half is the fetched image
            assert image.getpixel((1000, 700)) == (250, 10, 10)
    finally:  # what the lifespan does when a server stops
        await app.state.emulator.fetcher.aclose()
