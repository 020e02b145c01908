"""The stores under test: each behavioural test runs against memory and against Redis."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from emulator.store import MemoryStore, Store, open_store
from tests.support.store import RESULT_TTL


@pytest.fixture(params=["memory", "redis"])
async def store(request: pytest.FixtureRequest) -> AsyncIterator[Store]:
    """A fresh store of each kind (Redis: the session's server, emptied)."""
    if request.param == "memory":
        yield MemoryStore()
        return
    opened = open_store(request.getfixturevalue("redis_url"), RESULT_TTL)
    try:
        yield opened
    finally:
        await opened.close()
