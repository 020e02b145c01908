"""AGCloud's and OpenAI's documented requests against a real uvicorn server, over sockets."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest
from starlette.applications import Starlette

from tests.helpers import RunningServer, decode, events, fast_app, mask_bytes, png_bytes
from tests.support.images import PROMPT

pytestmark = pytest.mark.server


def test_seed_003_agcloud_edit_with_every_documented_field(
    serve: Callable[[Starlette], RunningServer],
) -> None:
    server = serve(fast_app())
    # Every field of seed 003's table, with real values; input_fidelity is taken and ignored
    # for gpt-image-2 ("always uses high fidelity"), output_format auto renders png.
    fields = {
        "model": "gpt-image-2",
        "prompt": PROMPT,
        "input_fidelity": "high",
        "n": "2",
        "size": "1536x1024",
        "quality": "medium",
        "background": "auto",
        "moderation": "auto",
        "output_format": "auto",
        "output_compression": "100",
        "stream": "false",
        "partial_images": "0",
        "user": "user-1234",
    }
    files = [
        ("image", ("product.png", png_bytes((1536, 1024)), "image/png")),
        ("image", ("logo.jpg", png_bytes((512, 512)), "image/jpeg")),
        ("mask", ("mask.png", mask_bytes((1536, 1024), (0, 0, 768, 1024)), "image/png")),
    ]
    response = httpx.post(
        server.base_url + "/v1/image/edits",
        data=fields,
        files=files,
        headers={"Authorization": "Bearer sk-xxxxxx"},
        timeout=60,
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["size"], body["output_format"], body["quality"]) == ("1536x1024", "png", "medium")
    images = [decode(item["b64_json"]) for item in body["data"]]
    assert [(image.format, image.size) for image in images] == [("PNG", (1536, 1024))] * 2
    assert body["usage"]["output_tokens"] == 2 * 1372  # gpt-image-2 medium 1536x1024


def test_openai_generation_streams_over_sockets(
    serve: Callable[[Starlette], RunningServer],
) -> None:
    server = serve(fast_app())
    body = {"model": "gpt-image-1", "prompt": PROMPT, "stream": True, "partial_images": 1}
    with httpx.stream(
        "POST",
        server.base_url + "/v1/images/generations",
        json=body,
        headers={"Authorization": "Bearer sk-test"},
        timeout=60,
    ) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        text = response.read().decode()
    assert [name for name, _ in events(text)] == [
        "image_generation.partial_image",
        "image_generation.completed",
    ]
