"""典名词元 against a real uvicorn server: seed 004's request, links downloaded over sockets."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from tests.helpers import RunningServer, data_url, decode, fast_app, jpeg_bytes, png_bytes
from tests.support.aa import BEARER, FILES, PROMPT, URL, task_of

pytestmark = pytest.mark.server
ORDER = ["pending", "processing", "succeeded"]


def _seed_004(client: httpx.Client, **fields: Any) -> dict[str, Any]:
    """Seed 004's body with real values: an inline image, then an uploaded file by id."""
    uploaded = client.post(FILES, files={"file": ("input.jpg", jpeg_bytes((640, 480)), "")})
    assert uploaded.status_code == 200, uploaded.text
    return {
        "images": [
            {"image_url": data_url(png_bytes((1024, 1536)))},
            {"file_id": uploaded.json()["data"]["file_id"]},
        ],
        "prompt": PROMPT,
        "model": "gpt-image-1.5",
        **fields,
    }


@pytest.mark.parametrize(
    ("fields", "size", "fmt"),
    [
        ({}, (1024, 1536), "PNG"),  # size auto follows the first image
        (
            {"n": 2, "size": "1536x1024", "quality": "low", "output_format": "jpeg"},
            (1536, 1024),
            "JPEG",
        ),
    ],
)
def test_seed_004_over_real_sockets(
    serve: Callable[[Starlette], RunningServer],
    fields: dict[str, Any],
    size: tuple[int, int],
    fmt: str,
) -> None:
    server = serve(fast_app())
    with httpx.Client(base_url=server.base_url, headers=BEARER, timeout=30) as client:
        response = client.post(URL, json=_seed_004(client, **fields))
        task = task_of(response, "succeeded")
        assert len(task["urls"]) == fields.get("n", 1)
        for url in task["urls"]:
            assert url.startswith(f"{server.base_url}/_files/task_")
            file = httpx.get(url, timeout=30)  # links need no key
            assert file.status_code == 200, file.text
            image = decode(file.content)
            assert (image.format, image.size) == (fmt, size)


def test_an_async_task_polled_over_sockets(serve: Callable[[Starlette], RunningServer]) -> None:
    server = serve(fast_app(time_scale=0.01))
    with httpx.Client(base_url=server.base_url, headers=BEARER, timeout=30) as client:
        body = _seed_004(client, quality="low", **{"async": True})
        task_id = task_of(client.post(URL, json=body), "pending")["task_id"]
        seen = []
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            data = client.get(f"{URL}/{task_id}").json()["data"]
            seen.append(data["task_status"])
            if data["task_status"] == "succeeded":
                break
            time.sleep(0.02)
        assert seen[-1] == "succeeded", seen
        assert seen == sorted(seen, key=ORDER.index)
        (url,) = data["urls"]
        assert decode(httpx.get(url, timeout=30).content).size == (1024, 1536)
