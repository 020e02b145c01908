"""A refused job keeps nothing but what its error needs, in either store: not the request's
parameters, not its images, and an error that names a bounded number of faults."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from starlette.applications import Starlette

from emulator.domain.queue import MAX_REPORTED
from emulator.state import Emulator
from tests.helpers import AUTH, asgi_client, data_url, fast_app
from tests.support.queue import finish, submit
from tests.support.security import broken_pixels

pytestmark = pytest.mark.anyio


@pytest.fixture(params=["memory", "redis"])
async def app(request: pytest.FixtureRequest) -> AsyncIterator[Starlette]:
    if request.param == "memory":
        yield fast_app()
        return
    made = fast_app(store=request.getfixturevalue("redis_url"))
    try:
        yield made
    finally:  # no lifespan runs in-process: the store's connections are closed here
        emulator: Emulator = made.state.emulator
        await emulator.store.close()


async def test_a_refused_job_keeps_only_its_error(app: Starlette) -> None:
    emulator: Emulator = app.state.emulator
    prompt = "p" * 40_000  # over the schema's 32,000 characters, within the body limit
    body = {
        "prompt": prompt,
        "images": [data_url(broken_pixels())] * 3,
        "size": "huge",
        "quality": "ultra",
        "n": 99,
    }
    async with asgi_client(app, AUTH) as client:
        sub = await submit(client, "gpt_image_1_edit", body)
        status = await finish(app, client, sub["status_url"])
        broken = await submit(client, "gpt_image_1_edit", {"prompt": "p", "images": body["images"]})
        await finish(app, client, broken["status_url"])
    assert status["error_type"] == "REQUEST_INVALID"
    for request_id in (sub["request_id"], broken["request_id"]):
        job = await emulator.store.get_job(request_id)
        assert job is not None
        assert (job.params, job.inputs, job.mask) == ({}, (), None)
        assert job.error is not None
        assert len(job.error) < 2000
    assert prompt not in (status["error"] or "")


async def test_an_error_names_at_most_a_few_faults(app: Starlette) -> None:
    fields = ("prompt", "images", "mask", "n", "size", "quality", "background", "moderation")
    body = {name: [[1]] for name in (*fields, "output_format", "input_fidelity")}  # 15+ faults
    async with asgi_client(app, AUTH) as client:
        sub = await submit(client, "gpt_image_1_edit", body)
        status = await finish(app, client, sub["status_url"])
    assert status["error_type"] == "REQUEST_INVALID"
    assert status["error"].count("; ") + 1 == MAX_REPORTED
    assert len(status["error"]) < 2000
