"""The stores under test: each behavioural test runs against memory and against Redis."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from emulator.domain.records import Job
from emulator.store import MemoryStore, Store, open_store

RESULT_TTL = 3600.0


def make_job(seq: int, seconds: float, model: str = "gpt_image_1", **fields: Any) -> Job:
    """A job as the queue service hands it to ``schedule``: seq ``seq``, ``seconds`` of work."""
    values: dict[str, Any] = {
        "request_id": f"r{seq}",
        "provider": "seacloud",
        "model": model,
        "owner": "o",
        "seq": seq,
        "params": {},
        "submitted_at": 0.0,
        "started_at": None,
        "finished_at": 0.0,
        "service_seconds": seconds,
    }
    values.update(fields)
    return Job(**values)


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
