"""The load mode: renders reused across requests, each file with its own provenance."""

from __future__ import annotations

import base64
import io
from collections.abc import AsyncIterator

import httpx
import pytest
from PIL import Image

from emulator.app import create_app
from emulator.domain.drawing import read_provenance
from emulator.settings import Settings

AUTH = {"Authorization": "Bearer load-key"}


def _pixels(data: bytes) -> tuple[tuple[int, int], bytes]:
    with Image.open(io.BytesIO(data)) as image:
        return image.size, image.convert("RGB").tobytes()


async def _generate(client: httpx.AsyncClient, prompt: str, **params: object) -> bytes:
    body = {"model": "gpt-image-1", "prompt": prompt, "quality": "low", **params}
    answer = await client.post("/v1/images/generations", json=body, headers=AUTH)
    assert answer.status_code == 200, answer.text
    return base64.b64decode(answer.json()["data"][0]["b64_json"])


@pytest.fixture
async def client(request: pytest.FixtureRequest) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(Settings(load_mode=request.param, time_scale=0.0001, log_requests="off"))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://emulator") as client:
        yield client


@pytest.mark.anyio
@pytest.mark.parametrize("client", [True], indirect=True)
async def test_in_load_mode_prompts_share_pixels_and_keep_their_own_provenance(
    client: httpx.AsyncClient,
) -> None:
    apple = await _generate(client, "an apple")
    pear = await _generate(client, "a pear")
    assert _pixels(apple) == _pixels(pear)
    assert read_provenance(apple)["request_id"] != read_provenance(pear)["request_id"]
    wide = await _generate(client, "a pear", size="1536x1024")
    assert _pixels(wide)[0] == (1536, 1024)
    jpeg = await _generate(client, "a pear", output_format="jpeg")
    assert jpeg.startswith(b"\xff\xd8")
    assert read_provenance(jpeg)["request_id"].startswith("req_")


@pytest.mark.anyio
@pytest.mark.parametrize("client", [True], indirect=True)
async def test_in_load_mode_queue_downloads_are_stamped_too(client: httpx.AsyncClient) -> None:
    links = []
    for prompt in ("an apple", "a pear"):
        job = (
            await client.post(
                "/model/v1/queue/gpt_image_1",
                json={"prompt": prompt, "quality": "low"},
                headers=AUTH,
            )
        ).json()
        for _ in range(200):
            result = await client.get(job["response_url"], headers=AUTH)
            if result.status_code == 200:
                break
        links.append(result.json()["outputs"][0]["url"])
    files = [(await client.get(link)).content for link in links]
    assert _pixels(files[0]) == _pixels(files[1])
    assert [read_provenance(f)["request_id"] for f in files] == [
        link.split("/_files/")[1].split("/")[0] for link in links
    ]


@pytest.mark.anyio
@pytest.mark.parametrize("client", [False], indirect=True)
async def test_by_default_each_prompt_is_drawn(client: httpx.AsyncClient) -> None:
    assert _pixels(await _generate(client, "an apple")) != _pixels(
        await _generate(client, "a pear")
    )
