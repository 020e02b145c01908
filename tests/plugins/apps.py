"""In-process fixtures: the emulator ``app`` on a virtual clock and an httpx ``client`` calling
it with the queue dialect's key (tests/http/images and tests/http/aa override both with a fast
app and their dialect's key), and the async backend of ``pytest.mark.anyio`` tests."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from starlette.applications import Starlette

from tests.helpers import AUTH, asgi_client, make_app


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def app() -> Starlette:
    return make_app()


@pytest.fixture
async def client(app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    async with asgi_client(app, AUTH) as c:
        yield c
