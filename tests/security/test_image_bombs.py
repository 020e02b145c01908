"""Input images are bounded before any pixel is decoded: their bytes, and their pixels as their
header gives them (a 344 KB PNG that decodes to 353 MB is refused as invalid input by every
provider, in its own shape). An image within the limits is decoded once and kept at the output
size, so a request's outputs never decode more than that."""

from __future__ import annotations

import io
import random

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image
from starlette.applications import Starlette

from emulator.domain.drawing import ImageLimits
from emulator.domain.errors import Violation
from emulator.domain.inputs import InputResolver
from emulator.state import Emulator
from emulator.store import MemoryStore
from tests.helpers import AUTH, asgi_client, data_url, examples, fast_app, png_bytes
from tests.support.aa import BEARER as AA_BEARER
from tests.support.aa import FILES as AA_FILES
from tests.support.aa import URL as AA_URL
from tests.support.aa import assert_error
from tests.support.images import BEARER, error_of
from tests.support.queue import finish, submit
from tests.support.security import png_bomb

pytestmark = pytest.mark.anyio

BOMB_TEXT = (
    "The image is too large: 9400x9400 pixels (88.4 megapixels); an input image may have at "
    "most 50 megapixels."
)


@pytest.fixture(scope="module")
def bomb() -> bytes:
    data = png_bomb(9400, 9400)
    assert len(data) < 400_000
    return data


def emulator_of(app: Starlette) -> Emulator:
    emulator: Emulator = app.state.emulator
    return emulator


def nothing_kept(app: Starlette) -> None:
    store = emulator_of(app).store
    assert isinstance(store, MemoryStore)
    assert store._tasks == {}
    assert all(not job.inputs and job.params == {} for job in store._jobs.values())


@pytest.mark.parametrize("path", ["/v1/images/edits", "/v1/image/edits"])  # OpenAI, AGCloud
async def test_a_bomb_in_a_form_is_refused_by_its_header(bomb: bytes, path: str) -> None:
    app = fast_app()
    async with asgi_client(app, BEARER) as client:
        response = await client.post(
            path,
            files=[("image", ("bomb.png", bomb, "image/png"))],
            data={"prompt": "p", "model": "gpt-image-1", "n": "3"},
        )
    assert response.status_code == 400, response.text
    assert error_of(response) == {
        "message": BOMB_TEXT,
        "type": "invalid_request_error",
        "param": "image[0]",
        "code": "image_too_large",
    }


async def test_a_bomb_by_reference_is_refused_by_openai(bomb: bytes) -> None:
    app = fast_app()
    async with asgi_client(app, BEARER) as client:
        response = await client.post(
            "/v1/images/edits",
            json={
                "model": "gpt-image-1.5",
                "prompt": "p",
                "images": [{"image_url": data_url(bomb)}],
                "n": 3,
            },
        )
    assert response.status_code == 400
    assert error_of(response) == {
        "message": BOMB_TEXT,
        "type": "invalid_request_error",
        "param": "images[0]",
        "code": "image_too_large",
    }


async def test_a_bomb_makes_a_queue_job_request_invalid(bomb: bytes) -> None:
    app = fast_app()
    async with asgi_client(app, AUTH) as client:
        sub = await submit(client, "gpt_image_2_edit", {"prompt": "p", "images": [data_url(bomb)]})
        status = await finish(app, client, sub["status_url"])
        result = await client.get(sub["response_url"])
    assert (status["error_type"], status["error"]) == ("REQUEST_INVALID", f"images.0: {BOMB_TEXT}")
    assert result.status_code == 422
    assert result.json() == {"detail": f"images.0: {BOMB_TEXT}", "error_type": "REQUEST_INVALID"}
    nothing_kept(app)


async def test_a_bomb_is_refused_by_aa_in_a_generation_and_as_an_upload(bomb: bytes) -> None:
    app = fast_app()
    async with asgi_client(app, AA_BEARER) as client:
        generation = await client.post(
            AA_URL,
            json={
                "model": "gpt-image-1.5",
                "prompt": "p",
                "images": [{"image_url": data_url(bomb)}],
            },
        )
        upload = await client.post(AA_FILES, files={"file": ("bomb.png", bomb, "image/png")})
    assert_error(generation, 400, f"images[0]: {BOMB_TEXT}")
    assert_error(upload, 400, f"file: {BOMB_TEXT}")
    nothing_kept(app)
    store = emulator_of(app).store
    assert isinstance(store, MemoryStore)
    assert not store._uploads


def noise_png(size: tuple[int, int]) -> bytes:
    pixels = random.Random(7).randbytes(size[0] * size[1] * 3)
    out = io.BytesIO()
    Image.frombytes("RGB", size, pixels).save(out, "PNG")
    return out.getvalue()


async def test_an_image_over_the_byte_limit_is_refused_in_each_shape() -> None:
    app = fast_app(max_image_mb=1)
    big = noise_png((800, 800))  # 1.8 MB: noise does not compress
    async with asgi_client(app, AUTH) as client:
        openai = await client.post(
            "/v1/images/edits",
            headers=BEARER,
            files=[("image", ("big.png", big, "image/png"))],
            data={"prompt": "p", "model": "gpt-image-1"},
        )
        queue = await client.post(
            "/model/v1/queue/gpt_image_1_edit",
            headers=AUTH,
            json={"prompt": "p", "images": [data_url(big)]},
        )
        aa = await client.post(
            AA_URL,
            headers=AA_BEARER,
            json={
                "model": "gpt-image-1.5",
                "prompt": "p",
                "images": [{"image_url": data_url(big)}],
            },
        )
        status = await finish(app, client, queue.json()["status_url"])
    assert error_of(openai) == {
        "message": "Invalid 'image': each image must be smaller than 1 MB.",
        "type": "invalid_request_error",
        "param": "image[0]",
        "code": "image_too_large",
    }
    assert status["error"] == (
        f"images.0: The image is too large: {len(big) / 2**20:.1f} MB; an input image may have "
        "at most 1 MB."
    )
    assert_error(aa, 400, "images[0]: The image must be smaller than 1 MB.")


@pytest.mark.parametrize("n", [1, 3])
async def test_an_image_within_the_limits_is_kept_at_the_output_size(n: int) -> None:
    """A large input is decoded once, reduced, and kept as a PNG of the output's size: every
    output (and every download) renders from that, never from the input."""
    app = fast_app()
    big = png_bomb(4096, 4096)  # 16.8 megapixels, within the limit
    async with asgi_client(app, AUTH) as client:
        sub = await submit(
            client,
            "gpt_image_1_edit",
            {"prompt": "p", "images": [data_url(big)], "size": "1024x1024", "n": n},
            headers=AUTH,
        )
        job = await emulator_of(app).store.get_job(sub["request_id"])
        await finish(app, client, sub["status_url"])
        result = (await client.get(sub["response_url"], headers=AUTH)).json()
        files = [await client.get(output["url"]) for output in result["outputs"]]
        task = await client.post(
            AA_URL,
            headers=AA_BEARER,
            json={
                "model": "gpt-image-1.5",
                "prompt": "p",
                "images": [{"image_url": data_url(big)}],
                "size": "1024x1024",
                "n": n,
            },
        )
    assert job is not None
    assert len(job.inputs) == 1
    assert Image.open(io.BytesIO(job.inputs[0])).size == (1024, 1024)
    assert [file.status_code for file in files] == [200] * n
    assert task.status_code == 200, task.text
    store = emulator_of(app).store
    assert isinstance(store, MemoryStore)
    (kept,) = store._tasks.values()
    assert kept.generation.base is not None
    assert Image.open(io.BytesIO(kept.generation.base)).size == (1024, 1024)


async def no_files(request_id: str, index: int, fmt: str) -> bytes | None:
    return None


@settings(max_examples=examples())
@given(width=st.integers(1, 160), height=st.integers(1, 160), limit=st.integers(1, 12_000))
async def test_exactly_the_images_over_the_pixel_limit_are_refused(
    width: int, height: int, limit: int
) -> None:
    resolver = InputResolver(no_files, None, ImageLimits(max_pixels=limit))
    found = resolver.inspect(png_bytes((width, height)), ("image", 0))
    if width * height <= limit:
        assert not isinstance(found, Violation)
        assert (found.info.width, found.info.height) == (width, height)
    else:
        assert isinstance(found, Violation)
        assert found.kind == "image_too_large"
        assert found.facts == {"max_pixels": limit, "width": width, "height": height}


async def test_over_sockets_a_bomb_gets_an_answer_not_a_stall(bomb: bytes, serve: object) -> None:
    server = serve(fast_app())  # type: ignore[operator]
    async with httpx.AsyncClient(base_url=server.base_url, headers=BEARER, timeout=30) as client:
        response = await client.post(
            "/v1/images/edits",
            files=[("image", ("bomb.png", bomb, "image/png"))],
            data={"prompt": "p", "model": "gpt-image-1", "n": "3"},
        )
    assert response.status_code == 400
    assert error_of(response)["code"] == "image_too_large"
