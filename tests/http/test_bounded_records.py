"""Bounded records over HTTP, on the virtual clock: once ``result_ttl`` plus ``GRACE`` has
passed, a queue job, a 典名词元 task and upload, and a result file are gone from the store and
its caches, and every read answers exactly as the provider answers for an id it never issued.
A job keeps what rendering needs of its inputs (fitted, one copy per content), its parameters
the digest and size of an inline image; uploads are bounded in bytes, not per request."""

from __future__ import annotations

import base64
import hashlib
import io
import random
from dataclasses import replace
from typing import Any

import httpx
import pytest
from PIL import Image
from starlette.applications import Starlette

from emulator.domain.drawing import read_provenance, render
from emulator.domain.files import render_spec
from emulator.domain.records import GRACE
from emulator.state import Emulator
from emulator.store import MemoryStore
from tests.helpers import AUTH, clock_of, make_app, png_bytes
from tests.support.queue import finish, submit

pytestmark = pytest.mark.anyio

TTL = 300.0
QUEUE = "/model/v1/queue/gpt_image_1_5"
EDIT = "gpt_image_1_5_edit"
BEARER = {"Authorization": "Bearer sk-aa-test"}
TASKS = "/api/v1/image/generation"
FILES = "/api/v1/files"


def emulator_of(app: Starlette) -> Emulator:
    emulator: Emulator = app.state.emulator
    return emulator


def store_of(app: Starlette) -> MemoryStore:
    store = emulator_of(app).store
    assert isinstance(store, MemoryStore)
    return store


def client_for(app: Starlette, headers: dict[str, str]) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app)
    return httpx.AsyncClient(transport=transport, base_url="http://emulator.test", headers=headers)


def other_id(known: str) -> str:
    """An id of the same shape that was never issued."""
    return known[:-4] + ("zzzz" if not known.endswith("zzzz") else "yyyy")


def answer(response: httpx.Response, *ids: str) -> tuple[int, str, str | None]:
    """Status, body with ``ids`` written as ``<id>``, and content type, for comparing."""
    text = response.text
    for ident in ids:
        text = text.replace(ident, "<id>")
    # 典名词元's envelope carries the request's own id, new for every call.
    if text.startswith('{"code"'):
        body = response.json()
        body["request_id"] = "<request>"
        text = str(body)
        for ident in ids:
            text = text.replace(ident, "<id>")
    return response.status_code, text, response.headers.get("content-type")


def noise_png(size: tuple[int, int], seed: int = 5) -> bytes:
    width, height = size
    pixels = random.Random(seed).randbytes(width * height * 3)
    out = io.BytesIO()
    Image.frombytes("RGB", size, pixels).save(out, "PNG", compress_level=0)
    return out.getvalue()


def data_url(data: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(data).decode()


async def test_a_queue_job_and_its_file_are_forgotten_and_read_as_never_issued() -> None:
    app = make_app(result_ttl=TTL)
    async with client_for(app, AUTH) as client:
        sub = await submit(client, "gpt_image_1_5", {"prompt": "a lamp", "quality": "low"})
        await finish(app, client, sub["status_url"])
        result = await client.get(sub["response_url"])
        assert result.status_code == 200
        link = result.json()["outputs"][0]["url"]
        assert (await client.get(link)).status_code == 200
        request_id = sub["request_id"]
        assert (request_id, 0) in emulator_of(app).files._cache
        job = await store_of(app).get_job(request_id)
        assert job is not None
        clock_of(app).set(job.finished_at + TTL + GRACE)

        assert await store_of(app).job_count() == 0
        assert store_of(app)._jobs == {}
        unknown = other_id(request_id)
        for path in (sub["status_url"], sub["response_url"], sub["cancel_url"]):
            method = "PUT" if path == sub["cancel_url"] else "GET"
            gone = await client.request(method, path)
            never = await client.request(method, path.replace(request_id, unknown))
            assert gone.status_code == 404
            assert answer(gone, request_id) == answer(never, unknown), path
        # The link has expired (its answer, as for any expired link), and once another file is
        # kept the cache lets go of the old one.
        expired = await client.get(link)
        assert (expired.status_code, expired.json()["detail"]) == (
            403,
            "Request has expired or the signature is invalid",
        )
        again = await submit(client, "gpt_image_1_5", {"prompt": "a desk", "quality": "low"})
        await finish(app, client, again["status_url"])
        output = (await client.get(again["response_url"])).json()["outputs"][0]
        assert (await client.get(output["url"])).status_code == 200
        assert list(emulator_of(app).files._cache) == [(again["request_id"], 0)]


async def test_a_task_and_an_upload_are_forgotten_and_read_as_never_issued() -> None:
    app = make_app(result_ttl=TTL)
    async with client_for(app, BEARER) as client:
        uploaded = await client.post(FILES, files={"file": ("in.png", png_bytes((1024, 1024)))})
        file_id = uploaded.json()["data"]["file_id"]
        request = {
            "model": "gpt-image-1.5",
            "prompt": "a chair in a garden",
            "images": [{"file_id": file_id}],
            "async": True,
        }
        created = await client.post(TASKS, json=request)
        assert created.status_code == 200, created.text
        task_id = created.json()["data"]["task_id"]
        stored = await store_of(app).get_task(task_id)
        assert stored is not None
        clock_of(app).set(stored.generation.finishes_at)
        task = (await client.get(f"{TASKS}/{task_id}")).json()["data"]
        assert task["task_status"] == "succeeded"
        assert (await client.get(task["urls"][0])).status_code == 200
        clock_of(app).set(stored.generation.finishes_at + TTL + GRACE)

        assert await store_of(app).job_count() == 0  # drops everything that is due
        assert store_of(app)._tasks == {}
        assert store_of(app)._uploads == {}
        unknown_task = other_id(task_id)
        gone = await client.get(f"{TASKS}/{task_id}")
        never = await client.get(f"{TASKS}/{unknown_task}")
        assert gone.status_code == 404
        assert answer(gone, task_id) == answer(never, unknown_task)
        # The forgotten upload is refused as a file id never issued is.
        unknown_file = other_id(file_id)
        gone = await client.post(TASKS, json=request)
        never_request = {**request, "images": [{"file_id": unknown_file}]}
        never = await client.post(TASKS, json=never_request)
        assert gone.status_code == 400
        assert answer(gone, file_id) == answer(never, unknown_file)


async def test_uploads_are_bounded_in_bytes_but_not_per_request() -> None:
    app = make_app(max_upload_mb=1)
    image = noise_png((450, 450))  # about 600 KB: two of them are more than the budget
    async with client_for(app, BEARER) as client:
        ids = []
        for _ in range(2):
            uploaded = await client.post(FILES, files={"file": ("in.png", image)})
            assert uploaded.status_code == 200  # each is within the provider's own limit
            ids.append(uploaded.json()["data"]["file_id"])
        assert [name for _, name in store_of(app)._uploads] == [ids[1]]
        request = {"model": "gpt-image-1.5", "prompt": "a vase", "async": True}
        oldest = await client.post(TASKS, json={**request, "images": [{"file_id": ids[0]}]})
        assert oldest.status_code == 400
        assert f"No such file: '{ids[0]}'" in oldest.json()["message"]
        newest = await client.post(TASKS, json={**request, "images": [{"file_id": ids[1]}]})
        assert newest.status_code == 200, newest.text


async def test_an_edit_keeps_the_digest_of_its_input_and_one_fitted_copy() -> None:
    app = make_app()
    big = noise_png((1100, 1100))  # more pixels and bytes than a 1024x1024 output
    body: dict[str, Any] = {
        "prompt": "a teapot on a shelf",
        "images": [data_url(big)],
        "size": "1024x1024",
        "quality": "low",
    }
    async with client_for(app, AUTH) as client:
        subs = [await submit(client, EDIT, body) for _ in range(2)]
        jobs = [await store_of(app).get_job(sub["request_id"]) for sub in subs]
        first, second = jobs
        assert first is not None
        assert second is not None
        digest = {"sha256": hashlib.sha256(big).hexdigest(), "bytes": len(big)}
        assert first.params["images"] == [digest]
        (kept,) = first.inputs
        assert second.inputs[0] is kept  # one copy for both jobs
        assert Image.open(io.BytesIO(kept)).size == (1024, 1024)
        assert len(kept) < len(big)
        await finish(app, client, subs[0]["status_url"])
        result = (await client.get(subs[0]["response_url"])).json()
        assert result["metadata"] == {"prompt": "a teapot on a shelf"}
        output = await client.get(result["outputs"][0]["url"])
        assert output.status_code == 200
    # The very file a job that kept its whole input renders, provenance included.
    job = await store_of(app).get_job(subs[0]["request_id"])
    assert job is not None
    whole = replace(job, inputs=(big,), params={**job.params, "images": body["images"]})
    spec = render_spec(whole, job.outputs[0], emulator_of(app).files.seed)
    assert output.content == render(spec)
    assert "images" not in read_provenance(output.content)["params"]


async def test_a_task_keeps_the_digest_of_its_inline_input() -> None:
    app = make_app()
    image = png_bytes((1024, 1024))
    request = {
        "model": "gpt-image-1.5",
        "prompt": "a chair",
        "images": [{"image_url": data_url(image)}],
        "async": True,
    }
    async with client_for(app, BEARER) as client:
        created = await client.post(TASKS, json=request)
        assert created.status_code == 200, created.text
    task = await store_of(app).get_task(created.json()["data"]["task_id"])
    assert task is not None
    digest = {"sha256": hashlib.sha256(image).hexdigest(), "bytes": len(image)}
    assert task.generation.params["images"] == [{"image_url": digest}]
    assert task.generation.base == image


async def test_an_upload_over_the_providers_limit_gets_its_error_whatever_the_budget() -> None:
    app = make_app(max_upload_mb=1)
    oversized = png_bytes((8, 8)) + bytes(50 * 1024 * 1024)
    async with client_for(app, BEARER) as client:
        refused = await client.post(FILES, files={"file": ("in.png", oversized)})
    assert refused.status_code == 400
    assert refused.json()["message"] == "file: The file must be smaller than 50 MB."
    assert store_of(app)._uploads == {}
