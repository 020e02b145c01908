"""Helpers for the Images protocols' tests (OpenAI, AGCloud): clients, images, SSE parsing."""

from __future__ import annotations

import base64
import io
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from PIL import Image
from starlette.applications import Starlette

from tests.conftest import fast_app as fast_app
from tests.conftest import mask_bytes as mask_bytes
from tests.conftest import on_virtual_clock as on_virtual_clock
from tests.conftest import png_bytes as png_bytes

BEARER = {"Authorization": "Bearer sk-test"}
PROMPT = "A clean product photo of a red apple on a white table, soft studio lighting."


@pytest.fixture
def app() -> Starlette:
    return fast_app()


@pytest.fixture
async def client(app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(
        transport=transport, base_url="http://emulator.test", headers=BEARER, timeout=60
    ) as c:
        yield c


def decode(b64: str) -> Image.Image:
    image = Image.open(io.BytesIO(base64.b64decode(b64)))
    image.load()
    return image


def events(text: str) -> list[tuple[str, dict[str, Any]]]:
    """``(event, data)`` pairs of an SSE body; comment lines are skipped."""
    found = []
    for block in text.split("\n\n"):
        lines = [line for line in block.split("\n") if line and not line.startswith(":")]
        if not lines:
            continue
        fields = dict(line.split(": ", 1) for line in lines)
        found.append((fields["event"], json.loads(fields["data"])))
    return found


def error_of(response: httpx.Response) -> dict[str, Any]:
    """The OpenAI error object, after checking the envelope's shape."""
    body = response.json()
    assert set(body) == {"error"}, body
    error: dict[str, Any] = body["error"]
    assert set(error) == {"message", "type", "param", "code"}, error
    assert response.headers["x-request-id"].startswith("req_")
    return error
