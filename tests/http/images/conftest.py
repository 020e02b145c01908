"""Here ``app`` is fast (generations finish at once) and ``client`` speaks with an OpenAI key."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from starlette.applications import Starlette

from tests.helpers import asgi_client, fast_app
from tests.support.images import BEARER


@pytest.fixture
def app() -> Starlette:
    return fast_app()


@pytest.fixture
async def client(app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    async with asgi_client(app, BEARER, timeout=60) as c:
        yield c
