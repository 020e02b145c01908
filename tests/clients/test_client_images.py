"""ImagesClient / AsyncImagesClient: generations, edits from bytes, paths and files, streams."""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette

from clients import (
    AsyncImagesClient,
    ImageCompleted,
    ImageEvent,
    ImagesClient,
    InvalidRequestError,
    PartialImage,
    ServerError,
)
from tests.helpers import HOST, KEY, RunningServer, decode, fast_app, mask_bytes, png_bytes
from tests.support.clients import Flaky, client_options

Serve = Callable[[Starlette], RunningServer]
pytestmark = pytest.mark.anyio


async def test_generate_decodes_images_and_reports_resolved_settings() -> None:
    async with AsyncImagesClient(base_url=HOST, **client_options(fast_app())) as client:
        result = await client.generate(
            "a red apple", model="gpt-image-1", n=2, size="1536x1024", output_format="webp"
        )
    assert [decode(image).size for image in result.images] == [(1536, 1024)] * 2
    assert decode(result.images[0]).format == "WEBP"
    assert (result.size, result.output_format, result.background) == ("1536x1024", "webp", "opaque")
    assert result.quality in ("low", "medium", "high")
    assert result.usage is not None
    assert result.usage.output_tokens > 0
    assert result.usage.total_tokens == result.usage.input_tokens + result.usage.output_tokens
    assert result.request_id
    assert result.request_id.startswith("req_")


async def test_edit_takes_bytes_paths_and_files_with_a_mask(tmp_path: Path) -> None:
    app = fast_app()
    network = Flaky(httpx.ASGITransport(app=app), [])
    path = tmp_path / "in.png"
    path.write_bytes(png_bytes((1024, 1024)))
    async with AsyncImagesClient(base_url=HOST, **client_options(app, transport=network)) as c:
        one = await c.edit(
            "greener", png_bytes((1024, 1024)), mask=mask_bytes((1024, 1024)), size="1024x1024"
        )
        many = await c.edit(
            "greener", [path, io.BytesIO(png_bytes((1024, 1024))), str(path)], model="gpt-image-2"
        )
    assert decode(one.images[0]).size == (1024, 1024)
    assert len(many.images) == 1
    first, second = (request.read() for request in network.seen)
    assert b'name="image"; filename="image.png"' in first
    assert b'name="mask"; filename="image.png"' in first
    assert second.count(b'name="image[]"') == 3
    assert b'filename="in.png"' in second


async def test_agcloud_edits_on_its_singular_path() -> None:
    app = fast_app()
    network = Flaky(httpx.ASGITransport(app=app), [])
    options = client_options(app, transport=network)
    async with AsyncImagesClient("agcloud", base_url=HOST, **options) as client:
        result = await client.edit(
            "greener", png_bytes((1024, 1024)), model="gpt-image-2", size="1536x864"
        )
    assert decode(result.images[0]).size == (1536, 864)
    assert network.seen[0].url.path == "/v1/image/edits"
    assert network.seen[0].headers["authorization"] == f"Bearer {KEY}"


async def test_a_stream_yields_partials_then_the_completed_image() -> None:
    async with AsyncImagesClient(base_url=HOST, **client_options(fast_app())) as client:
        events: list[ImageEvent] = [
            e async for e in client.stream_generate("an apple", partial_images=2, size="1024x1024")
        ]
    partials = [e for e in events if isinstance(e, PartialImage)]
    assert [p.index for p in partials] == [0, 1]
    assert {p.type for p in partials} == {"image_generation.partial_image"}
    assert all(decode(p.image).size == (1024, 1024) for p in partials)
    (completed,) = events[2:]
    assert isinstance(completed, ImageCompleted)
    assert completed.type == "image_generation.completed"
    assert completed.usage is not None
    assert completed.usage.output_tokens > 0
    assert decode(completed.image).size == (1024, 1024)


async def test_a_stream_error_event_raises_the_provider_error() -> None:
    app = fast_app(steering=True)
    options = client_options(app, headers={"X-Imgemu-Outcome": "INFERENCE_FAILURE"})
    seen: list[ImageEvent] = []

    async def read_all(client: AsyncImagesClient) -> None:
        async for event in client.stream_edit("greener", png_bytes((512, 512)), partial_images=3):
            seen.append(event)

    async with AsyncImagesClient(base_url=HOST, **options) as client:
        with pytest.raises(ServerError) as failed:
            await read_all(client)
    assert failed.value.code == "server_error"
    assert failed.value.request_id
    assert failed.value.request_id.startswith("req_")
    assert all(isinstance(e, PartialImage) for e in seen)


async def test_a_blocked_prompt_is_an_invalid_request() -> None:
    app = fast_app(blocked_terms=("forbidden",))
    async with AsyncImagesClient(base_url=HOST, **client_options(app)) as client:
        with pytest.raises(InvalidRequestError) as blocked:
            await client.generate("a forbidden apple")
        assert (blocked.value.status, blocked.value.code) == (400, "moderation_blocked")
        with pytest.raises(InvalidRequestError) as invalid:
            await client.generate("x", size="999x999")
        assert invalid.value.code == "invalid_value"
        assert invalid.value.body["error"]["param"] == "size"


@pytest.mark.server
def test_sync_client_streams_over_a_real_server(serve: Serve) -> None:
    server = serve(fast_app())
    with ImagesClient("openai", base_url=server.base_url, api_key=KEY) as client:
        events = list(client.stream_edit("greener", [png_bytes((1024, 1024))], partial_images=1))
        result = client.generate("an apple", size="1024x1536", quality="low")
    assert [type(e) for e in events] == [PartialImage, ImageCompleted]
    assert events[0].type == "image_edit.partial_image"
    assert decode(result.images[0]).size == (1024, 1536)
