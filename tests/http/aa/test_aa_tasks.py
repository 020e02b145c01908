"""典名词元 tasks on a virtual clock: ``async: true``, the task query, links that expire."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest
from starlette.applications import Starlette

from tests.helpers import START, clock_of, decode, make_app, on_virtual_clock
from tests.support.aa import URL, assert_error, body, client_for, expires_of, iso, task_of

pytestmark = pytest.mark.anyio
SECONDS = 50.0  # the steered service time; pending for its first tenth
ASYNC = body(**{"async": True})
LATENCY = {"X-Imgemu-Latency": str(SECONDS)}


@pytest.fixture
def app() -> Starlette:
    """A virtual clock at ``START``, real-time latencies, steering on."""
    return make_app(steering=True)


@pytest.fixture
async def client(app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(app) as c:
        yield c


async def _submit(client: httpx.AsyncClient, **headers: str) -> str:
    response = await client.post(URL, json=ASYNC, headers={**LATENCY, **headers})
    task_id: str = task_of(response, "pending")["task_id"]
    return task_id


async def test_async_task_goes_pending_processing_succeeded_with_the_clock(
    app: Starlette, client: httpx.AsyncClient
) -> None:
    clock = clock_of(app)
    task_id = await _submit(client)
    url = f"{URL}/{task_id}"
    task_of(await client.get(url), "pending")
    clock.set(START + 0.1 * SECONDS - 0.001)
    task_of(await client.get(url), "pending")
    clock.set(START + 0.1 * SECONDS)
    task_of(await client.get(url), "processing")
    clock.set(START + SECONDS - 0.001)
    task_of(await client.get(url), "processing")
    clock.set(START + SECONDS)
    task = task_of(await client.get(url), "succeeded")
    assert task["task_id"] == task_id
    assert task["usage"]["seconds"] == SECONDS
    assert task["expired"] == iso(START + SECONDS + 86400)
    for link in task["urls"]:
        image = decode((await client.get(link)).content)
        assert (image.format, image.size) == ("PNG", (1024, 1024))


async def test_reading_a_task_changes_nothing(app: Starlette, client: httpx.AsyncClient) -> None:
    task_id = await _submit(client)
    clock_of(app).set(START + SECONDS + 1)
    reads = [(await client.get(f"{URL}/{task_id}")).json() for _ in range(3)]
    assert len({read["request_id"] for read in reads}) == 3  # every read is its own request
    assert all(read["data"] == reads[0]["data"] for read in reads)


async def test_a_failed_async_task_reports_the_reason_with_code_0(
    app: Starlette, client: httpx.AsyncClient
) -> None:
    task_id = await _submit(client, **{"X-Imgemu-Outcome": "CONTENT_BLOCKED"})
    task_of(await client.get(f"{URL}/{task_id}"), "pending")
    clock_of(app).set(START + SECONDS)
    task_of(
        await client.get(f"{URL}/{task_id}"),
        "failed",
        "Image generation failed: the request was rejected by the safety system.",
    )


async def test_a_synchronous_call_waits_for_the_clock_and_its_task_can_be_read(
    app: Starlette, client: httpx.AsyncClient
) -> None:
    call = asyncio.ensure_future(client.post(URL, json=body(), headers=LATENCY))
    clock = clock_of(app)
    for _ in range(5000):  # let the call reach its wait (its input decodes in a thread first)
        if clock.sleepers:
            break
        await asyncio.sleep(0.001)
    assert clock.sleepers
    assert not call.done()  # it waits for the generation's time
    clock.advance(SECONDS)
    response = await call
    task = task_of(response, "succeeded")
    assert task["usage"]["seconds"] == SECONDS
    again = task_of(await client.get(f"{URL}/{task['task_id']}"), "succeeded")
    assert again["urls"] == task["urls"]
    assert again["usage"] == task["usage"]


async def test_a_failed_synchronous_call_leaves_a_failed_task(
    app: Starlette, client: httpx.AsyncClient
) -> None:
    response = await on_virtual_clock(
        app,
        client.post(URL, json=body(), headers={**LATENCY, "X-Imgemu-Outcome": "INFERENCE_TIMEOUT"}),
    )
    assert_error(response, 500, "Image generation failed: the task timed out.")


async def test_tasks_belong_to_their_key(app: Starlette, client: httpx.AsyncClient) -> None:
    task_id = await _submit(client)
    other = await client.get(f"{URL}/{task_id}", headers={"Authorization": "Bearer sk-other"})
    assert_error(other, 404, f"Task not found: {task_id}")
    unknown = await client.get(f"{URL}/task_nothing")
    assert_error(unknown, 404, "Task not found: task_nothing")
    anonymous = await client.get(f"{URL}/{task_id}", headers={"Authorization": ""})
    assert_error(anonymous, 401, "Missing API key: send it as 'Authorization: Bearer <key>'.")


async def test_links_work_until_they_expire_then_answer_403() -> None:
    app = make_app(steering=True, result_ttl=600.0)
    clock = clock_of(app)
    async with client_for(app) as client:
        call = client.post(URL, json=body(), headers=LATENCY)
        task = task_of(await on_virtual_clock(app, call, step=SECONDS), "succeeded")
        (url,) = task["urls"]
        expires = expires_of(url)
        assert expires == int(START + SECONDS + 600)
        first = await client.get(url)
        assert first.status_code == 200
        assert first.headers["content-type"] == "image/png"
        assert (await client.get(url)).content == first.content  # cached, the same file
        forged = url.replace("sig=", "sig=0")
        assert (await client.get(forged)).status_code == 403
        other_index = url.replace("/0.png", "/1.png")
        assert (await client.get(other_index)).status_code == 403
        clock.set(expires)
        assert (await client.get(url)).status_code == 200
        clock.set(expires + 1)
        expired = await client.get(url)
        assert (expired.status_code, expired.json()) == (
            403,
            {"detail": "Request has expired or the signature is invalid"},
        )
        # The task itself is still there, with the same (now dead) links.
        again = task_of(await client.get(f"{URL}/{task['task_id']}"), "succeeded")
        assert again["urls"] == task["urls"]
