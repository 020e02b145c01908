"""Here ``app`` is fast (generations finish at once) and ``client`` speaks with 典名词元's key."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from starlette.applications import Starlette

from tests.helpers import fast_app
from tests.support.aa import client_for


@pytest.fixture
def app() -> Starlette:
    return fast_app()


@pytest.fixture
async def client(app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(app) as c:
        yield c
