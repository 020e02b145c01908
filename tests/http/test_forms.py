"""Multipart forms are read whole or refused: a body that ends inside a part is a malformed
form (400 in the provider's shape), not a complete form without that part, and the parser
closes the file it opened for the part (an unclosed file fails the run: warnings are errors).
"""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from python_multipart.exceptions import MultipartParseError
from starlette.types import Message

from emulator.http.forms import require_closing
from tests.helpers import asgi_client, examples, fast_app, png_bytes
from tests.support.images import BEARER, error_of

pytestmark = pytest.mark.anyio

PNG = png_bytes((64, 64), "RGB")


def _form(*parts: tuple[str, str | None, bytes], boundary: str = "b0") -> bytes:
    out = b""
    for name, filename, payload in parts:
        head = f'Content-Disposition: form-data; name="{name}"'
        if filename is not None:
            head += f'; filename="{filename}"\r\nContent-Type: image/png'
        out += f"--{boundary}\r\n{head}\r\n\r\n".encode() + payload + b"\r\n"
    return out


FIELDS = (("prompt", None, b"a red apple"), ("model", None, b"gpt-image-1"))
EDIT = _form(*FIELDS, ("image", "image.png", PNG))
CUT_IN_THE_FILE = _form(*FIELDS) + b'--b0\r\nContent-Disposition: form-data; name="image"'
CUT_IN_THE_FILE += b'; filename="image.png"\r\nContent-Type: image/png\r\n\r\n' + PNG[:40]
UNCLOSED = [
    pytest.param(EDIT, id="no closing delimiter"),
    pytest.param(EDIT + b"--b1--\r\n", id="closed with another boundary"),
    pytest.param(EDIT + b"--b0-\r\n", id="closed with one dash"),
    pytest.param(CUT_IN_THE_FILE, id="cut inside the file"),
]
CLOSED = [
    pytest.param(EDIT + b"--b0--", id="closed"),
    pytest.param(EDIT + b"--b0--\r\n", id="closed with a line end"),
    pytest.param(EDIT + b"--b0--\r\nepilogue", id="an epilogue"),
]
TYPE = "multipart/form-data; boundary=b0"


@pytest.mark.parametrize("body", UNCLOSED)
@pytest.mark.parametrize("path", ["/v1/images/edits", "/v1/image/edits"])
async def test_an_unclosed_form_is_refused_in_the_openai_shape(body: bytes, path: str) -> None:
    async with asgi_client(fast_app(), BEARER) as client:
        response = await client.post(path, content=body, headers={"Content-Type": TYPE})
    assert response.status_code == 400, response.text
    error = error_of(response)
    assert error == {
        "message": "Could not parse the multipart form: Invalid multipart data.",
        "type": "invalid_request_error",
        "param": None,
        "code": None,
    }


@pytest.mark.parametrize("body", CLOSED)
async def test_a_closed_form_is_read_whole(body: bytes) -> None:
    async with asgi_client(fast_app(), BEARER, timeout=60) as client:
        response = await client.post(
            "/v1/images/edits", content=body, headers={"Content-Type": TYPE}
        )
    assert response.status_code == 200, response.text
    assert len(response.json()["data"]) == 1


async def test_an_unclosed_upload_is_refused_in_the_envelope() -> None:
    body = _form(("file", "image.png", PNG))
    async with asgi_client(fast_app(), {"Authorization": "Bearer sk-test"}) as client:
        response = await client.post("/api/v1/files", content=body, headers={"Content-Type": TYPE})
        closed = await client.post(
            "/api/v1/files", content=body + b"--b0--\r\n", headers={"Content-Type": TYPE}
        )
    assert response.status_code == 400, response.text
    envelope = response.json()
    assert envelope["code"] == 400
    assert envelope["message"] == "Could not parse the multipart form: Invalid multipart data."
    assert closed.status_code == 200, closed.text


async def test_a_form_without_a_boundary_names_the_parsers_words() -> None:
    async with asgi_client(fast_app(), BEARER) as client:
        response = await client.post(
            "/v1/images/edits", content=EDIT, headers={"Content-Type": "multipart/form-data"}
        )
    assert error_of(response)["message"] == (
        "Could not parse the multipart form: Missing boundary in multipart."
    )


async def _feed(body: bytes, cuts: list[int]) -> list[Message]:
    """Every message ``require_closing`` passes on for ``body`` sent in pieces at ``cuts``."""
    edges = [0, *sorted(set(cuts)), len(body)]
    messages: list[Message] = [
        {"type": "http.request", "body": body[a:b], "more_body": i < len(edges) - 2}
        for i, (a, b) in enumerate(itertools.pairwise(edges))
    ]
    queue = list(messages)

    async def receive() -> Message:
        return queue.pop(0)

    checked = require_closing(receive, b"b0")
    return [await checked() for _ in messages]


@settings(max_examples=examples())
@given(
    closing=st.sampled_from([b"--b0--", b"--b0--\r\n", b"--b0--\r\nepilogue"]),
    cuts=st.lists(st.integers(0, len(EDIT) + 16), max_size=6),
)
async def test_the_closing_delimiter_is_found_however_the_body_is_cut(
    closing: bytes, cuts: list[int]
) -> None:
    body = EDIT + closing
    passed = await _feed(body, [cut for cut in cuts if cut < len(body)])
    assert b"".join(message["body"] for message in passed) == body


@settings(max_examples=examples())
@given(
    body=st.sampled_from([EDIT, EDIT + b"--b1--", CUT_IN_THE_FILE, b"--b0\r\n", b""]),
    cuts=st.lists(st.integers(0, len(EDIT)), max_size=6),
)
async def test_a_body_without_its_closing_delimiter_fails_at_its_end(
    body: bytes, cuts: list[int]
) -> None:
    with pytest.raises(MultipartParseError):
        await _feed(body, [cut for cut in cuts if cut < len(body)])
