"""The queue protocol's tests: submit a job, run it to completion on the virtual clock."""

from __future__ import annotations

from typing import Any

import httpx
from starlette.applications import Starlette

from tests.helpers import clock_of


async def submit(
    client: httpx.AsyncClient, model: str, body: dict[str, Any], prefix: str = "/model", **kw: Any
) -> dict[str, Any]:
    response = await client.post(f"{prefix}/v1/queue/{model}", json=body, **kw)
    assert response.status_code == 200, response.text
    data: dict[str, Any] = response.json()
    return data


async def finish(app: Starlette, client: httpx.AsyncClient, status_url: str) -> dict[str, Any]:
    """Advance the virtual clock until the job is COMPLETED; return the final status body."""
    for _ in range(200):
        body: dict[str, Any] = (await client.get(status_url)).json()
        if body["status"] == "COMPLETED":
            return body
        clock_of(app).advance(5.0)
    raise AssertionError("the job never completed")
