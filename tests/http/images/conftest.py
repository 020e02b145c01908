"""Helpers for the Images protocols' tests (OpenAI, AGCloud): clients, images, SSE parsing."""

from __future__ import annotations

import asyncio
import base64
import io
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from PIL import Image
from starlette.applications import Starlette

from tests.conftest import clock_of, make_app

BEARER = {"Authorization": "Bearer sk-test"}
PROMPT = "A clean product photo of a red apple on a white table, soft studio lighting."


def fast_app(**overrides: Any) -> Starlette:
    """An emulator whose generations finish at once (a real clock, a vanishing time scale)."""
    values: dict[str, Any] = {"clock": "real", "clock_start": None, "time_scale": 1e-9}
    values.update(overrides)
    return make_app(**values)


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


def png_bytes(size: tuple[int, int], mode: str = "RGB", color: Any = (40, 90, 160)) -> bytes:
    out = io.BytesIO()
    Image.new(mode, size, color).save(out, "PNG")
    return out.getvalue()


def mask_bytes(size: tuple[int, int], box: tuple[int, int, int, int]) -> bytes:
    """An RGBA mask, opaque except a transparent ``box`` (the area to edit)."""
    mask = Image.new("RGBA", size, (0, 0, 0, 255))
    mask.paste((0, 0, 0, 0), box)
    out = io.BytesIO()
    mask.save(out, "PNG")
    return out.getvalue()


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


async def on_virtual_clock(app: Starlette, request: Any, step: float = 1000.0) -> httpx.Response:
    """Run ``request`` (a coroutine) while moving the virtual clock each time it waits."""
    task = asyncio.ensure_future(request)
    clock = clock_of(app)
    while not task.done():
        await asyncio.sleep(0)
        if clock.sleepers:
            clock.advance(step)
    response: httpx.Response = task.result()
    return response
