"""OpenAI ``/v1/images/edits`` (multipart and JSON) and AGCloud ``/v1/image/edits``."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from PIL import ImageChops

from tests.helpers import data_url, decode, image_bytes, jpeg_bytes, mask_bytes, png_bytes
from tests.support.images import PROMPT, error_of

pytestmark = pytest.mark.anyio
URL = "/v1/images/edits"
AGCLOUD = "/v1/image/edits"
BASE = png_bytes((1024, 1024))


def _form(**fields: Any) -> dict[str, str]:
    return {"prompt": PROMPT, "model": "gpt-image-1", **{k: str(v) for k, v in fields.items()}}


async def test_one_image_edit_keeps_the_input_size_and_answers_usage(
    client: httpx.AsyncClient,
) -> None:
    files = {"image": ("in.png", BASE, "image/png")}
    response = await client.post(URL, data=_form(quality="low"), files=files)
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["size"], body["quality"]) == ("1024x1024", "low")
    image = decode(body["data"][0]["b64_json"])
    assert (image.format, image.size) == ("PNG", (1024, 1024))
    details = body["usage"]["input_tokens_details"]
    assert details["image_tokens"] > 0  # the input image is counted
    assert body["usage"]["output_tokens"] == 272


@pytest.mark.parametrize("name", ["image", "image[]"])
async def test_several_images_as_repeated_parts(client: httpx.AsyncClient, name: str) -> None:
    files = [
        (name, ("a.png", png_bytes((1536, 1024)), "image/png")),
        (name, ("b.jpg", jpeg_bytes((640, 480)), "image/jpeg")),
    ]
    response = await client.post(URL, data=_form(n=2), files=files)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["size"] == "1536x1024"  # auto follows the first image's aspect ratio
    assert [decode(d["b64_json"]).size for d in body["data"]] == [(1536, 1024)] * 2


async def test_image_and_image_brackets_together_are_refused(client: httpx.AsyncClient) -> None:
    files = [
        ("image", ("a.png", png_bytes((64, 64)), "image/png")),
        ("image[]", ("b.png", png_bytes((64, 64)), "image/png")),
    ]
    response = await client.post(URL, data=_form(), files=files)
    error = error_of(response)
    assert (response.status_code, error["param"], error["code"]) == (400, "image", "invalid_value")
    assert error["message"] == (
        "Send the input images as 'image' parts or as 'image[]' parts, not both."
    )


async def test_a_declared_content_type_is_ignored_for_the_magic_bytes(
    client: httpx.AsyncClient,
) -> None:
    files = {"image": ("upload", jpeg_bytes((1024, 1024)), "application/octet-stream")}
    response = await client.post(URL, data=_form(), files=files)
    assert response.status_code == 200, response.text


async def test_the_mask_limits_the_edit_to_its_transparent_area(
    client: httpx.AsyncClient,
) -> None:
    box = (256, 256, 768, 768)
    files = {
        "image": ("in.png", BASE, "image/png"),
        "mask": ("mask.png", mask_bytes((1024, 1024), box), "image/png"),
    }
    response = await client.post(URL, data=_form(), files=files)
    assert response.status_code == 200, response.text
    out = decode(response.json()["data"][0]["b64_json"]).convert("RGB")
    diff = ImageChops.difference(out, decode(BASE).convert("RGB"))
    outside = diff.copy()
    outside.paste((0, 0, 0), box)
    assert outside.getbbox() is None  # nothing changed outside the mask's hole
    assert diff.crop(box).getbbox() is not None  # the hole was edited


@pytest.mark.parametrize(
    ("mask", "message"),
    [
        (png_bytes((1024, 1024)), "The mask must have an alpha channel."),
        (
            mask_bytes((512, 512), (0, 0, 10, 10)),
            "The mask must have the same dimensions as the first image (1024x1024), got 512x512.",
        ),
    ],
)
async def test_mask_problems_are_invalid_values(
    client: httpx.AsyncClient, mask: bytes, message: str
) -> None:
    files = {"image": ("in.png", BASE, "image/png"), "mask": ("m.png", mask, "image/png")}
    response = await client.post(URL, data=_form(), files=files)
    assert response.status_code == 400
    error = error_of(response)
    assert (error["param"], error["message"]) == ("mask", message)


async def test_a_mask_must_be_a_png(client: httpx.AsyncClient) -> None:
    webp = image_bytes((1024, 1024), "RGBA", (0, 0, 0, 0), "WEBP")
    files = {"image": ("in.png", BASE, "image/png"), "mask": ("m", webp, "")}
    response = await client.post(URL, data=_form(), files=files)
    error = error_of(response)
    assert (response.status_code, error["param"]) == (400, "mask")
    assert error["message"] == "The mask must be a PNG image, got webp."


async def test_image_part_problems(client: httpx.AsyncClient) -> None:
    missing = await client.post(URL, data=_form(), files={"other": ("x", b"x", "text/plain")})
    assert missing.status_code == 400
    no_image = await client.post(URL, data=_form(), files={"mask": ("m", BASE, "image/png")})
    error = error_of(no_image)
    assert (error["param"], error["code"]) == ("image", "missing_required_parameter")
    assert error["message"] == "Missing required parameter: 'image'."
    text = await client.post(
        URL, data={**_form(), "image": "not a file"}, files={"mask": ("m", BASE, "image/png")}
    )
    assert error_of(text)["code"] == "invalid_type"
    garbage = await client.post(URL, data=_form(), files={"image": ("x.png", b"GIF89a..", "")})
    error = error_of(garbage)
    assert (garbage.status_code, error["param"]) == (400, "image[0]")
    many = [("image[]", (f"{i}.png", png_bytes((64, 64)), "image/png")) for i in range(17)]
    too_many = await client.post(URL, data=_form(), files=many)
    error = error_of(too_many)
    assert (too_many.status_code, error["param"], error["code"]) == (
        400,
        "image",
        "array_above_max_length",
    )


async def test_form_fields_are_typed_and_checked(client: httpx.AsyncClient) -> None:
    files = {"image": ("in.png", BASE, "image/png")}
    bad_n = await client.post(URL, data=_form(n="eleven"), files=files)
    error = error_of(bad_n)
    assert (error["param"], error["code"]) == ("n", "invalid_type")
    high_n = await client.post(URL, data=_form(n=11), files=files)
    assert error_of(high_n)["code"] == "integer_above_max_value"
    mini = await client.post(
        URL, data=_form(model="gpt-image-1-mini", input_fidelity="high"), files=files
    )
    error = error_of(mini)
    assert (error["param"], error["code"]) == ("input_fidelity", "invalid_value")
    assert error["message"] == (
        "input_fidelity 'high' is not supported for model gpt-image-1-mini. Supported values "
        "are: 'low'."
    )


async def test_json_edits_take_image_references(client: httpx.AsyncClient) -> None:
    inline = data_url(png_bytes((1024, 1536)))
    body = {
        "model": "gpt-image-1.5",
        "prompt": PROMPT,
        "images": [{"image_url": inline}, {"image_url": "https://example.com/cat.png"}],
    }
    response = await client.post(URL, json=body)
    assert response.status_code == 200, response.text
    assert response.json()["size"] == "1024x1536"
    unknown = await client.post(URL, json={**body, "images": [{"file_id": "file-nope"}]})
    error = error_of(unknown)
    assert (unknown.status_code, error["param"]) == (400, "images[0].file_id")
    assert error["message"] == "No such file: 'file-nope'."
    bad = await client.post(URL, json={**body, "images": [{"image_url": "x", "file_id": "y"}]})
    assert bad.status_code == 400
    assert error_of(bad)["param"].startswith("images[0]")


async def test_agcloud_edit_speaks_the_same_dialect_and_refuses_gpt_image_2_transparency(
    client: httpx.AsyncClient,
) -> None:
    files = {"image": ("in.png", BASE, "image/png")}
    ok = await client.post(AGCLOUD, data=_form(model="gpt-image-2", size="1536x864"), files=files)
    assert ok.status_code == 200, ok.text
    body = ok.json()
    assert (body["size"], body["output_format"]) == ("1536x864", "png")  # auto -> png
    assert decode(body["data"][0]["b64_json"]).size == (1536, 864)
    refused = await client.post(
        AGCLOUD, data=_form(model="gpt-image-2", background="transparent"), files=files
    )
    error = error_of(refused)
    assert (refused.status_code, error["param"], error["code"]) == (
        400,
        "background",
        "invalid_value",
    )
    plus = await client.post(
        AGCLOUD, data=_form(model="gpt-image-2-plus", quality="high"), files=files
    )
    error = error_of(plus)
    assert (error["param"], error["message"]) == (
        "quality",
        "quality is not supported for gpt-image-2-plus.",
    )
