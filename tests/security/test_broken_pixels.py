"""An input whose header is valid but whose pixel data is not: every provider refuses it as the
request's input, in its own shape, before anything is accepted; nothing reports success for an
output that could not be served; and a stream that fails says so with an ``error`` event."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from emulator.domain.records import Generation
from emulator.http.images.handlers import _stream
from emulator.http.shutdown import Drain
from emulator.state import Emulator
from emulator.store import MemoryStore
from tests.helpers import AUTH, asgi_client, data_url, events, fast_app, mask_bytes, png_bytes
from tests.support.aa import BEARER as AA_BEARER
from tests.support.aa import URL as AA_URL
from tests.support.aa import assert_error
from tests.support.images import BEARER, error_of
from tests.support.queue import finish, submit
from tests.support.security import broken_pixels

pytestmark = pytest.mark.anyio

BROKEN = "The base image could not be decoded."


def emulator_of(app: Starlette) -> Emulator:
    emulator: Emulator = app.state.emulator
    return emulator


def edit_form(image: bytes, **fields: str) -> dict[str, Any]:
    return {
        "files": [("image[]", ("in.png", image, "image/png"))],
        "data": {"prompt": "make it blue", "model": "gpt-image-1", **fields},
    }


@pytest.mark.parametrize("path", ["/v1/images/edits", "/v1/image/edits"])  # OpenAI, AGCloud
async def test_a_synchronous_edit_is_refused_as_invalid_input(path: str) -> None:
    app = fast_app()
    async with asgi_client(app, BEARER) as client:
        response = await client.post(path, **edit_form(broken_pixels()))
    assert response.status_code == 400, response.text
    assert error_of(response) == {
        "message": BROKEN,
        "type": "invalid_request_error",
        "param": "image[0]",
        "code": "invalid_image_format",
    }


async def test_a_stream_is_refused_before_it_begins() -> None:
    app = fast_app()
    async with asgi_client(app, BEARER) as client:
        response = await client.post(
            "/v1/images/edits", **edit_form(broken_pixels(), stream="true")
        )
    assert response.status_code == 400, response.text
    assert response.headers["content-type"] == "application/json"
    assert error_of(response)["code"] == "invalid_image_format"


async def test_a_json_edit_names_the_broken_reference_and_mask() -> None:
    app = fast_app()
    good = data_url(png_bytes((64, 64)))
    async with asgi_client(app, BEARER) as client:
        second = await client.post(
            "/v1/images/edits",
            json={
                "model": "gpt-image-1.5",
                "prompt": "p",
                "images": [{"image_url": good}, {"image_url": data_url(broken_pixels())}],
            },
        )
        mask = await client.post(
            "/v1/images/edits",
            json={
                "model": "gpt-image-1.5",
                "prompt": "p",
                "images": [{"image_url": data_url(png_bytes((256, 256)))}],
                "mask": {"image_url": data_url(broken_pixels(fmt="PNG"))},
            },
        )
    assert second.status_code == 400
    assert error_of(second) == {
        "message": "The image could not be decoded.",
        "type": "invalid_request_error",
        "param": "images[1]",
        "code": "invalid_image_format",
    }
    assert mask.status_code == 400
    # A mask must have alpha: a broken one without is refused for that, by its header.
    assert error_of(mask)["param"] == "mask"


async def test_a_broken_mask_with_alpha_is_refused_when_decoded() -> None:
    app = fast_app()
    mask = bytearray(mask_bytes((256, 256)))
    start = mask.index(b"IDAT") + 10
    mask[start : start + 40] = bytes(40)  # zeroed deflate data, checksum left wrong
    async with asgi_client(app, BEARER) as client:
        response = await client.post(
            "/v1/images/edits",
            files=[
                ("image", ("in.png", png_bytes((256, 256)), "image/png")),
                ("mask", ("mask.png", bytes(mask), "image/png")),
            ],
            data={"prompt": "p", "model": "gpt-image-1.5"},
        )
    assert response.status_code == 400, response.text
    assert error_of(response) == {
        "message": "The mask could not be decoded.",
        "type": "invalid_request_error",
        "param": "mask",
        "code": "invalid_image_format",
    }


async def test_a_queue_job_ends_request_invalid_and_keeps_nothing() -> None:
    app = fast_app()
    async with asgi_client(app, AUTH) as client:
        sub = await submit(
            client, "gpt_image_1_edit", {"prompt": "p", "images": [data_url(broken_pixels())]}
        )
        status = await finish(app, client, sub["status_url"])
        result = await client.get(sub["response_url"])
    assert status["error_type"] == "REQUEST_INVALID"
    assert status["error"] == f"images.0: {BROKEN}"
    assert result.status_code == 422
    assert result.json() == {"detail": f"images.0: {BROKEN}", "error_type": "REQUEST_INVALID"}
    job = await emulator_of(app).store.get_job(sub["request_id"])
    assert job is not None
    assert (job.params, job.inputs, job.mask, job.n_outputs) == ({}, (), None, 0)


async def test_a_queue_submit_in_sync_mode_answers_422() -> None:
    app = fast_app(validation="sync")
    async with asgi_client(app, AUTH) as client:
        response = await client.post(
            "/model/v1/queue/gpt_image_1_edit",
            json={"prompt": "p", "images": [data_url(broken_pixels())]},
        )
    assert response.status_code == 422
    assert response.json() == {
        "detail": [{"loc": ["body", "images", 0], "msg": BROKEN, "type": "invalid_image_format"}]
    }


async def test_a_task_is_refused_and_never_made() -> None:
    app = fast_app()
    async with asgi_client(app, AA_BEARER) as client:
        for asynchronous in (False, True):
            response = await client.post(
                AA_URL,
                json={
                    "model": "gpt-image-1.5",
                    "prompt": "p",
                    "images": [{"image_url": data_url(broken_pixels())}],
                    "async": asynchronous,
                },
            )
            assert_error(response, 400, f"images[0]: {BROKEN}")
    store = emulator_of(app).store
    assert isinstance(store, MemoryStore)
    assert store._tasks == {}


async def test_a_stream_that_fails_midway_ends_with_an_error_event() -> None:
    """A failure nothing could see in advance (here: the image it draws on is broken in the
    record itself) ends the stream with the provider's ``error`` event, not a dropped
    connection."""
    app = fast_app()
    emulator = emulator_of(app)
    async with asgi_client(app, BEARER):
        generation: Generation = await emulator.images.prepare(
            "openai",
            "images.edit",
            "sk-test",
            {
                "model": "gpt-image-1.5",
                "prompt": "p",
                "images": [{"image_url": data_url(png_bytes((1024, 1024)))}],
            },
            request_id="req_1",
        )
    broken = replace(generation, stream=True, partial_images=1, base=broken_pixels())
    chunks = [chunk async for chunk in _stream(emulator, broken, Drain())]
    found = events(b"".join(chunks).decode())
    assert [name for name, _ in found] == ["error"]
    assert found[0][1] == {
        "type": "error",
        "error": {
            "message": "The server had an error while processing your request. Sorry about that!",
            "type": "server_error",
            "param": None,
            "code": "server_error",
        },
    }


async def test_every_answer_over_sockets_is_a_provider_answer(serve: Any) -> None:
    """The same refusals from a real server: never a plain-text 500, never a dropped stream."""
    server = serve(fast_app())
    async with httpx.AsyncClient(base_url=server.base_url, timeout=30) as client:
        sync = await client.post("/v1/images/edits", headers=BEARER, **edit_form(broken_pixels()))
        stream = await client.post(
            "/v1/images/edits", headers=BEARER, **edit_form(broken_pixels(), stream="true")
        )
    for response in (sync, stream):
        assert response.status_code == 400
        assert error_of(response)["code"] == "invalid_image_format"


# A palette PNG whose PLTE chunk is missing (found by tests/fuzz): Pillow opens it and then
# asserts on it; every provider refuses it from the header instead.
PALETTE_WITHOUT_COLOURS = bytes.fromhex(
    "89504e470d0a1a0a0000000d49484452000000040000000408030000009e2f6e4c0000000b49444154789c63"
    "60c00400001400017dfe1eee0000000049454e44ae426082"
)


@pytest.mark.parametrize("path", ["/v1/images/edits", "/v1/image/edits"])  # OpenAI, AGCloud
async def test_a_palette_image_without_its_palette_is_refused(path: str) -> None:
    app = fast_app()
    async with asgi_client(app, BEARER) as client:
        response = await client.post(path, **edit_form(PALETTE_WITHOUT_COLOURS))
    assert response.status_code == 400, response.text
    assert error_of(response) == {
        "message": "The image is not a valid PNG image (a palette without colours).",
        "type": "invalid_request_error",
        "param": "image[0]",
        "code": "invalid_image_format",
    }
