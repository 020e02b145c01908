"""Each validation limit of the Images protocols, just inside and just outside."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.helpers import decode, png_bytes
from tests.support.images import PROMPT, error_of

pytestmark = pytest.mark.anyio
URL = "/v1/images/generations"


@pytest.mark.parametrize(
    ("size", "ok"),
    [
        ("3072x1024", True),  # exactly 3:1
        ("3088x1024", False),  # just over 3:1
        ("1024x3072", True),
        ("3840x2160", True),  # the longest edge and the most pixels
        ("3856x2160", False),  # one step over the edge
        ("2880x2880", True),  # 8,294,400 pixels exactly
        ("2896x2880", False),  # just over
        ("1024x640", True),  # 655,360 pixels exactly
        ("1008x640", False),  # just under
        ("1040x640", True),
        ("1032x640", False),  # not a multiple of 16
    ],
)
async def test_gpt_image_2_sizes_at_their_limits(
    client: httpx.AsyncClient, size: str, ok: bool
) -> None:
    body = {"model": "gpt-image-2", "prompt": PROMPT, "size": size, "quality": "low"}
    response = await client.post(URL, json={**body, "output_format": "jpeg"})
    if ok:
        assert response.status_code == 200, response.text
        width, height = (int(x) for x in size.split("x"))
        assert decode(response.json()["data"][0]["b64_json"]).size == (width, height)
    else:
        assert response.status_code == 400
        error = error_of(response)
        assert (error["param"], error["code"]) == ("size", "invalid_value")
        assert error["message"].startswith(f"Invalid size '{size}'. ")


@pytest.mark.parametrize(
    ("fields", "param"),
    [
        ({"n": 10}, None),
        ({"n": 11}, "n"),
        ({"prompt": "p" * 32000}, None),
        ({"prompt": "p" * 32001}, "prompt"),
        ({"prompt": ""}, "prompt"),
        ({"output_compression": 0, "output_format": "webp"}, None),
        ({"output_compression": -1, "output_format": "webp"}, "output_compression"),
        ({"output_compression": 101, "output_format": "webp"}, "output_compression"),
        ({"stream": True, "partial_images": 3}, None),
        ({"stream": True, "partial_images": 4}, "partial_images"),
        ({"stream": True, "partial_images": -1}, "partial_images"),
    ],
)
async def test_counts_lengths_and_ranges_at_their_limits(
    client: httpx.AsyncClient, fields: dict[str, Any], param: str | None
) -> None:
    body = {"model": "gpt-image-1-mini", "prompt": PROMPT, "quality": "low", "size": "1024x1024"}
    response = await client.post(URL, json={**body, **fields})
    if param is None:
        assert response.status_code == 200, response.text
    else:
        assert response.status_code == 400
        assert error_of(response)["param"] == param


@pytest.mark.parametrize(("count", "ok"), [(16, True), (17, False)])
async def test_sixteen_input_images_at_most(
    client: httpx.AsyncClient, count: int, ok: bool
) -> None:
    files = [("image[]", (f"{i}.png", png_bytes((64, 64)), "image/png")) for i in range(count)]
    data = {"prompt": PROMPT, "model": "gpt-image-1", "quality": "low", "size": "1024x1024"}
    response = await client.post("/v1/images/edits", data=data, files=files)
    if ok:
        assert response.status_code == 200, response.text
        usage = response.json()["usage"]
        assert usage["input_tokens_details"]["image_tokens"] == 16 * 255  # 85 + 170, each
    else:
        assert response.status_code == 400
        assert error_of(response)["param"] == "image"
