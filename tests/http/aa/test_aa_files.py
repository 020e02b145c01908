"""典名词元 ``POST /api/v1/files``: uploads, and ``file_id`` references that reuse them."""

from __future__ import annotations

import httpx
import pytest
from PIL import Image, ImageChops

from tests.helpers import decode, fast_app, jpeg_bytes, mask_bytes, png_bytes
from tests.support.aa import FILES, PROMPT, URL, assert_error, body, client_for, task_of, upload

pytestmark = pytest.mark.anyio


async def _images(client: httpx.AsyncClient, task: dict[str, object]) -> list[Image.Image]:
    urls = task["urls"]
    assert isinstance(urls, list)
    return [decode((await client.get(url)).content) for url in urls]


async def test_an_uploaded_file_is_an_input_and_can_be_reused(client: httpx.AsyncClient) -> None:
    file_id = await upload(client, png_bytes((1536, 1024)))
    request = body(images=[{"file_id": file_id}])
    for _ in range(2):
        task = task_of(await client.post(URL, json=request), "succeeded")
        (image,) = await _images(client, task)
        assert image.size == (1536, 1024)  # size auto follows the uploaded image


async def test_the_upload_is_recognised_by_its_magic_bytes(client: httpx.AsyncClient) -> None:
    response = await client.post(
        FILES,
        files={"file": ("upload", jpeg_bytes((1024, 1536)), "application/octet-stream")},
        data={"purpose": "vision"},
    )
    file_id = response.json()["data"]["file_id"]
    task = task_of(await client.post(URL, json=body(images=[{"file_id": file_id}])), "succeeded")
    assert (await _images(client, task))[0].size == (1024, 1536)


async def test_an_uploaded_mask_limits_the_edit(client: httpx.AsyncClient) -> None:
    base = png_bytes((1024, 1024))
    box = (256, 256, 768, 768)
    image_id = await upload(client, base)
    mask_id = await upload(client, mask_bytes((1024, 1024), box))
    request = body(images=[{"file_id": image_id}], mask={"file_id": mask_id})
    task = task_of(await client.post(URL, json=request), "succeeded")
    (out,) = await _images(client, task)
    diff = ImageChops.difference(out.convert("RGB"), decode(base).convert("RGB"))
    outside = diff.copy()
    outside.paste((0, 0, 0), box)
    assert outside.getbbox() is None  # nothing changed outside the mask's hole
    assert diff.crop(box).getbbox() is not None  # the hole was edited


async def test_an_uploaded_mask_of_another_size_is_refused(client: httpx.AsyncClient) -> None:
    image_id = await upload(client, png_bytes((1024, 1024)))
    mask_id = await upload(client, mask_bytes((512, 512), (0, 0, 10, 10)))
    request = body(images=[{"file_id": image_id}], mask={"file_id": mask_id})
    assert_error(
        await client.post(URL, json=request),
        400,
        "mask: The mask must have the same dimensions as the first image (1024x1024), got 512x512.",
    )


async def test_upload_problems(client: httpx.AsyncClient) -> None:
    not_an_image = await client.post(FILES, files={"file": ("a.txt", b"hello", "text/plain")})
    assert_error(not_an_image, 400, "file: The image is not a PNG, JPEG or WebP image.")
    other_part = await client.post(FILES, files={"image": ("a.png", png_bytes((8, 8)), "")})
    assert_error(other_part, 400, "file: Field required")
    text = await client.post(FILES, data={"file": "not a file"}, files={"x": ("x", b"x", "")})
    assert_error(text, 400, "file: Expected a file, got text.")
    json_body = await client.post(FILES, json={"file": PROMPT})
    assert_error(json_body, 400, "Send the file as multipart/form-data in a part named 'file'.")


async def test_upload_needs_a_key() -> None:
    app = fast_app(api_keys={"aa": ("sk-good",)})
    async with client_for(app, headers={"Authorization": "Bearer sk-bad"}) as client:
        refused = await client.post(FILES, files={"file": ("a.png", png_bytes((8, 8)), "")})
        assert_error(refused, 401, "Invalid API key.")
