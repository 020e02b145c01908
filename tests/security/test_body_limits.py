"""Request bodies over their operation's limit are refused with 413 in the provider's shape as
they arrive: by their Content-Length before any of it is read, or (chunked) once the bytes
received pass the limit; nothing is made or kept of them."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from starlette.applications import Starlette

from emulator.state import Emulator
from emulator.store import MemoryStore
from tests.helpers import AUTH, START, asgi_client, data_url, examples, fast_app, png_bytes
from tests.support.aa import BEARER as AA_BEARER
from tests.support.aa import assert_error
from tests.support.images import BEARER, error_of

pytestmark = pytest.mark.anyio

MB = 1024 * 1024
KB = 1024
IMAGES_LIMIT = 1 * MB  # max_request_mb=1
TEXT_LIMIT = 2 * KB  # max_text_request_kb=2


@dataclass(frozen=True)
class Operation:
    name: str
    path: str
    headers: dict[str, str]
    form: bool  # multipart/form-data, else JSON
    limit: int
    dialect: str  # "queue" (and the control plane), "images" or "aa"


OPERATIONS = [
    Operation("queue text submit", "/model/v1/queue/gpt_image_1", AUTH, False, TEXT_LIMIT, "queue"),
    Operation(
        "queue edit submit", "/model/v1/queue/gpt_image_1_edit", AUTH, False, IMAGES_LIMIT, "queue"
    ),
    Operation(
        "odirouter submit",
        "/odirouter/model/v1/queue/gpt_image_2",
        {"Authorization": "Bearer k"},
        False,
        TEXT_LIMIT,
        "queue",
    ),
    Operation("openai generation", "/v1/images/generations", BEARER, False, TEXT_LIMIT, "images"),
    Operation("openai json edit", "/v1/images/edits", BEARER, False, IMAGES_LIMIT, "images"),
    Operation("openai form edit", "/v1/images/edits", BEARER, True, IMAGES_LIMIT, "images"),
    Operation("agcloud form edit", "/v1/image/edits", BEARER, True, IMAGES_LIMIT, "images"),
    Operation("aa generation", "/api/v1/image/generation", AA_BEARER, False, IMAGES_LIMIT, "aa"),
    Operation("aa upload", "/api/v1/files", AA_BEARER, True, IMAGES_LIMIT, "aa"),
    Operation("control clock", "/_emulator/clock", {}, False, TEXT_LIMIT, "queue"),
]
BOUNDARY = "imgemu-test-boundary"


def small_limits_app() -> Starlette:
    # A virtual clock (the control plane moves only that one) at a vanishing time scale.
    return fast_app(max_request_mb=1, max_text_request_kb=2, clock="virtual", clock_start=START)


def body_of(op: Operation, size: int) -> tuple[bytes, str]:
    """A body of exactly ``size`` bytes for ``op``, and its content type."""
    if not op.form:
        head, tail = b'{"prompt": "', b'"}'
        return head + b"x" * (size - len(head) - len(tail)) + tail, "application/json"
    part = "file" if op.path.endswith("/files") else "image"
    head = (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="prompt"\r\n\r\np\r\n'
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{part}"; filename="a.png"\r\n'
        "Content-Type: image/png\r\n\r\n"
    ).encode()
    tail = f"\r\n--{BOUNDARY}--\r\n".encode()
    padding = b"\0" * (size - len(head) - len(tail))
    return head + padding + tail, f"multipart/form-data; boundary={BOUNDARY}"


async def chunked(data: bytes, piece: int = 64 * KB) -> AsyncIterator[bytes]:
    for start in range(0, len(data), piece):
        yield data[start : start + piece]


def size_text(limit: int) -> str:
    return f"{limit // MB} MB" if limit >= MB else f"{limit // KB} KB"


def assert_too_large(op: Operation, response: httpx.Response) -> None:
    assert response.status_code == 413, (op.name, response.text)
    if op.dialect == "queue":
        assert response.json() == {
            "detail": f"Request body too large: the limit is {size_text(op.limit)}"
        }
    elif op.dialect == "images":
        assert error_of(response) == {
            "message": (
                "The request body is too large: this endpoint accepts at most "
                f"{size_text(op.limit)}."
            ),
            "type": "invalid_request_error",
            "param": None,
            "code": "request_too_large",
        }
    else:
        assert_error(response, 413, f"The request body must not exceed {size_text(op.limit)}.")


def assert_nothing_kept(app: Starlette) -> None:
    emulator: Emulator = app.state.emulator
    store = emulator.store
    assert isinstance(store, MemoryStore)
    assert (store._jobs, store._tasks, dict(store._uploads)) == ({}, {}, {})


async def post(client: httpx.AsyncClient, op: Operation, size: int, stream: bool) -> httpx.Response:
    data, content_type = body_of(op, size)
    content: Any = chunked(data) if stream else data
    headers = {**op.headers, "content-type": content_type}
    return await client.post(op.path, content=content, headers=headers)


@pytest.mark.parametrize("stream", [False, True], ids=["content-length", "chunked"])
@pytest.mark.parametrize("op", OPERATIONS, ids=[op.name for op in OPERATIONS])
async def test_a_body_over_the_limit_is_refused_in_the_providers_shape(
    op: Operation, stream: bool
) -> None:
    app = small_limits_app()
    async with asgi_client(app) as client:
        response = await post(client, op, op.limit + 1, stream)
    assert_too_large(op, response)
    assert_nothing_kept(app)


@pytest.mark.parametrize("op", OPERATIONS, ids=[op.name for op in OPERATIONS])
async def test_a_body_at_the_limit_is_read(op: Operation) -> None:
    app = small_limits_app()
    async with asgi_client(app) as client:
        response = await post(client, op, op.limit, stream=True)
    assert response.status_code != 413, response.text
    assert response.status_code < 500, response.text


async def test_a_declared_length_is_refused_before_the_body_is_read() -> None:
    """The refusal comes from the Content-Length alone: the body is never asked for."""
    app = small_limits_app()
    asked = 0

    async def receive() -> dict[str, Any]:
        nonlocal asked
        asked += 1
        return {"type": "http.request", "body": b"", "more_body": False}

    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/model/v1/queue/gpt_image_1",
        "raw_path": b"/model/v1/queue/gpt_image_1",
        "root_path": "",
        "query_string": b"",
        "headers": [
            (b"host", b"emulator.test"),
            (b"authorization", b"Key k"),
            (b"content-type", b"application/json"),
            (b"content-length", b"9" * 40),  # more digits than any body has
        ],
        "client": ("127.0.0.1", 1),
        "server": ("emulator.test", 80),
    }
    async with asgi_client(app):  # runs nothing: the app needs no lifespan for this
        await app(scope, receive, send)
    assert asked == 0
    assert sent[0]["status"] == 413


async def test_the_default_limits_refuse_a_100_mb_body() -> None:
    """The review's case: 100 MB of JSON to a queue model and as an OpenAI edit's data URL."""
    app = fast_app()
    junk = b'{"prompt": "' + b"x" * (100 * MB) + b'"}'
    url = data_url(b"\0" * (75 * MB))  # 100 MB of base64
    async with asgi_client(app) as client:
        queue = await client.post(
            "/model/v1/queue/gpt_image_1_edit",
            content=junk,
            headers={**AUTH, "content-type": "application/json"},
        )
        edit = await client.post(
            "/v1/images/edits",
            json={"prompt": "p", "images": [{"image_url": url}]},
            headers=BEARER,
        )
    assert queue.status_code == 413
    assert queue.json() == {"detail": "Request body too large: the limit is 80 MB"}
    assert edit.status_code == 413
    assert error_of(edit)["code"] == "request_too_large"
    assert_nothing_kept(app)


async def test_an_image_reference_past_the_schema_is_named_not_quoted() -> None:
    """An OpenAI JSON edit whose data URL is longer than the document takes: the error names
    the field and the limit, not a fragment of the (huge) value."""
    app = fast_app()
    url = data_url(png_bytes((8, 8)) + b"\0" * (16 * MB))
    async with asgi_client(app, BEARER) as client:
        response = await client.post(
            "/v1/images/edits", json={"prompt": "p", "images": [{"image_url": url}]}
        )
    assert response.status_code == 400
    error = error_of(response)
    assert error["param"] == "images[0].image_url"
    assert error["code"] == "string_above_max_length"
    assert error["message"] == (
        "Invalid 'images[0].image_url': string too long. Expected a string with maximum length "
        f"20971520, but got a string with length {len(url)} instead."
    )


@settings(max_examples=examples(0.5))
@given(
    offset=st.integers(-64, 64),
    stream=st.booleans(),
    which=st.sampled_from([OPERATIONS[0], OPERATIONS[3], OPERATIONS[-1]]),
)
def test_exactly_the_bodies_over_the_limit_are_refused(
    offset: int, stream: bool, which: Operation
) -> None:
    async def run() -> None:
        app = small_limits_app()
        async with asgi_client(app) as client:
            response = await post(client, which, which.limit + offset, stream)
        if offset > 0:
            assert_too_large(which, response)
        else:
            assert response.status_code != 413
            assert response.status_code < 500

    asyncio.run(run())
