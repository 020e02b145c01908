"""The queue lifecycle in-process: submit, status, result, cancel, with the seeds' requests."""

from __future__ import annotations

import httpx
import jsonschema_rs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from starlette.applications import Starlette

from tests.helpers import AUTH, START, asgi_client, clock_of, decode, examples, make_app
from tests.seeds import SEED_GPT_IMAGE_1
from tests.support.bad_requests import document
from tests.support.queue import finish, submit

pytestmark = pytest.mark.anyio


async def test_submit_answers_the_documented_body(client: httpx.AsyncClient) -> None:
    body = await submit(client, "gpt_image_1", SEED_GPT_IMAGE_1)
    assert set(body) == {"request_id", "response_url", "status_url", "cancel_url", "queue_position"}
    rid = body["request_id"]
    assert rid.startswith("mmsu_")
    assert len(rid) == 31
    base = f"http://emulator.test/model/v1/queue/gpt_image_1/requests/{rid}"
    assert body["status_url"] == base + "/status"
    assert body["response_url"] == base + "/response"
    assert body["cancel_url"] == base + "/cancel"
    assert body["queue_position"] == 0


async def test_full_lifecycle_to_a_decodable_image(
    app: Starlette, client: httpx.AsyncClient
) -> None:
    sub = await submit(client, "gpt_image_1", SEED_GPT_IMAGE_1)
    status = (await client.get(sub["status_url"])).json()
    assert status == {
        "status": "IN_PROGRESS",
        "request_id": sub["request_id"],
        "response_url": sub["response_url"],
        "logs": None,
    }
    early = await client.get(sub["response_url"])
    assert early.status_code == 202
    assert early.json()["status"] == "IN_PROGRESS"
    final = await finish(app, client, sub["status_url"])
    assert final["metrics"]["inference_time"] > 0
    assert "error" not in final
    result = await client.get(sub["response_url"])
    assert result.status_code == 200
    data = result.json()
    assert data["request_id"] == sub["request_id"]
    assert data["metadata"] == {"prompt": SEED_GPT_IMAGE_1["prompt"]}
    (output,) = data["outputs"]
    assert output["type"] == "image"
    assert output["content_type"] == "image/jpeg"
    assert (output["width"], output["height"]) == (1024, 1024)
    assert output["url"].startswith("http://emulator.test/_files/")
    image = await client.get(output["url"], headers={"Authorization": ""})
    assert image.status_code == 200
    assert image.headers["content-type"] == "image/jpeg"
    decoded = decode(image.content)
    assert (decoded.format, decoded.size, decoded.mode) == ("JPEG", (1024, 1024), "RGB")


async def test_queue_position_falls_as_slots_free() -> None:
    # SeaCloud's page fixes it at 0 (the default); the simulated queue counts with the setting.
    app = make_app(slots=1, latency_sigma=0.0, queue_position_zero=())
    async with asgi_client(app, {"Authorization": "Key k"}) as client:
        body = {"prompt": "x", "quality": "low"}  # gpt-image-1 low 1024x1024: 15 s
        subs = [await submit(client, "gpt_image_1", body) for _ in range(3)]
        assert [s["queue_position"] for s in subs] == [0, 0, 1]
        last = subs[2]["status_url"]
        seen = []
        for _ in range(8):
            status = (await client.get(last)).json()
            seen.append((status["status"], status.get("queue_position")))
            clock_of(app).advance(7.5)
        assert seen[:2] == [("IN_QUEUE", 1), ("IN_QUEUE", 1)]
        assert seen[2:4] == [("IN_QUEUE", 0), ("IN_QUEUE", 0)]
        assert seen[4][0] == "IN_PROGRESS"
        assert seen[-1][0] == "COMPLETED"


async def test_status_reads_change_nothing(app: Starlette, client: httpx.AsyncClient) -> None:
    sub = await submit(client, "gpt_image_2", {"prompt": "a cat"})
    first = [(await client.get(sub["status_url"] + "?logs=1")).json() for _ in range(3)]
    assert first[0] == first[1] == first[2]
    jobs = (await client.get("/_emulator/jobs")).json()["jobs"]
    assert len(jobs) == 1


async def test_logs_are_listed_when_asked(app: Starlette, client: httpx.AsyncClient) -> None:
    sub = await submit(client, "gpt_image_1", SEED_GPT_IMAGE_1)
    await finish(app, client, sub["status_url"])
    for flag in ("1", "true"):
        logs = (await client.get(sub["status_url"], params={"logs": flag})).json()["logs"]
        assert [entry["level"] for entry in logs] == ["INFO", "INFO", "INFO"]
        assert all(set(e) == {"message", "level", "source", "timestamp"} for e in logs)
        assert logs[0]["timestamp"].endswith("Z")
    assert (await client.get(sub["status_url"], params={"logs": "0"})).json()["logs"] is None


LOGS_SCHEMA = jsonschema_rs.validator_for(
    document("seacloud")["components"]["parameters"]["Logs"]["schema"]
)


@settings(max_examples=examples(0.5))
@given(flag=st.text(max_size=12))
async def test_any_logs_value_is_taken_and_only_1_or_true_lists_the_logs(flag: str) -> None:
    # The flag is never refused: the document says so, and the poll answers whatever it is.
    assert LOGS_SCHEMA.is_valid(flag)
    async with asgi_client(make_app(), AUTH) as client:
        sub = await submit(client, "gpt_image_1", SEED_GPT_IMAGE_1)
        response = await client.get(sub["status_url"], params={"logs": flag})
    assert response.status_code == 202, response.text  # IN_PROGRESS
    logs = response.json()["logs"]
    assert (logs is not None) == (flag.lower() in ("1", "true"))


async def test_cancel_while_queued_and_after() -> None:
    async with asgi_client(make_app(slots=1), AUTH) as client:
        await submit(client, "gpt_image_1", SEED_GPT_IMAGE_1)  # takes the one slot
        sub = await submit(client, "gpt_image_1", SEED_GPT_IMAGE_1)
        assert (await client.get(sub["status_url"])).json()["status"] == "IN_QUEUE"
        response = await client.put(sub["cancel_url"])
        assert (response.status_code, response.json()) == (
            202,
            {"status": "CANCELLATION_REQUESTED"},
        )
        status = (await client.get(sub["status_url"])).json()
        assert status["status"] == "COMPLETED"
        assert status["error_type"] == "CANCELED"
        assert status["error"] == "Request was canceled"
        result = await client.get(sub["response_url"])
        assert result.status_code == 400
        assert result.json() == {"detail": "Request was canceled", "error_type": "CANCELED"}
        again = await client.put(sub["cancel_url"])
        assert (again.status_code, again.json()) == (400, {"status": "ALREADY_COMPLETED"})


async def test_cancel_of_a_completed_job(app: Starlette, client: httpx.AsyncClient) -> None:
    sub = await submit(client, "gpt_image_1", SEED_GPT_IMAGE_1)
    await finish(app, client, sub["status_url"])
    response = await client.put(sub["cancel_url"])
    assert (response.status_code, response.json()) == (400, {"status": "ALREADY_COMPLETED"})


async def test_unknown_request_ids(client: httpx.AsyncClient) -> None:
    rid = "mmsu_01jd5x3k7m9q2w4e6r8t0y1u3i"
    base = f"/model/v1/queue/gpt_image_1/requests/{rid}"
    for path in ("/status", "/response"):
        response = await client.get(base + path)
        assert (response.status_code, response.json()) == (404, {"detail": "Request not found"})
    response = await client.put(base + "/cancel")
    assert (response.status_code, response.json()) == (404, {"status": "NOT_FOUND"})


async def test_model_id_must_match_the_submit(client: httpx.AsyncClient) -> None:
    sub = await submit(client, "gpt_image_1", SEED_GPT_IMAGE_1)
    rid = sub["request_id"]
    other = f"/model/v1/queue/gpt_image_2/requests/{rid}/status"
    response = await client.get(other)
    assert (response.status_code, response.json()) == (404, {"detail": "Request not found"})
    cancel = await client.put(f"/model/v1/queue/gpt_image_2/requests/{rid}/cancel")
    assert (cancel.status_code, cancel.json()) == (404, {"status": "NOT_FOUND"})


async def test_keys_never_see_each_others_jobs(client: httpx.AsyncClient) -> None:
    sub = await submit(client, "gpt_image_1", SEED_GPT_IMAGE_1)
    other = {"Authorization": "Key someone-else"}
    for url in (sub["status_url"], sub["response_url"]):
        response = await client.get(url, headers=other)
        assert (response.status_code, response.json()) == (404, {"detail": "Request not found"})
    cancel = await client.put(sub["cancel_url"], headers=other)
    assert (cancel.status_code, cancel.json()) == (404, {"status": "NOT_FOUND"})
    mine = await client.get(sub["status_url"], headers={"Authorization": "Bearer test-key"})
    assert mine.status_code == 202  # the same key under the other scheme (the job is running)


async def test_providers_have_separate_mounts(client: httpx.AsyncClient) -> None:
    sub = await submit(
        client,
        "gpt_image_1",
        SEED_GPT_IMAGE_1,
        prefix="/odirouter/model",
        headers={"Authorization": "Bearer test-key"},
    )
    assert sub["status_url"].startswith("http://emulator.test/odirouter/model/v1/queue/")
    response = await client.get(sub["status_url"], headers={"Authorization": "Bearer test-key"})
    assert response.status_code == 202  # IN_PROGRESS
    seacloud_view = sub["status_url"].replace("/odirouter/model", "/model")
    assert (await client.get(seacloud_view)).status_code == 404


async def test_virtual_clock_starts_where_told(client: httpx.AsyncClient) -> None:
    clock = (await client.get("/_emulator/clock")).json()
    assert clock == {"now": START, "kind": "virtual", "time_scale": 1.0}
    moved = await client.post("/_emulator/clock", json={"advance": 10})
    assert moved.json()["now"] == START + 10
    back = await client.post("/_emulator/clock", json={"set": START})
    assert back.status_code == 400


async def test_steered_latency_sets_the_service_time() -> None:
    app = make_app(steering=True)
    async with asgi_client(app, {"Authorization": "Key k"}) as client:
        sub = await submit(
            client, "gpt_image_2", {"prompt": "x"}, headers={"X-Imgemu-Latency": "12.5"}
        )
        clock_of(app).advance(12.4)
        assert (await client.get(sub["status_url"])).json()["status"] == "IN_PROGRESS"
        clock_of(app).advance(0.1)
        final = (await client.get(sub["status_url"])).json()
        assert final["status"] == "COMPLETED"
        assert final["metrics"] == {"inference_time": 12.5}


async def test_time_scale_shortens_jobs() -> None:
    app = make_app(time_scale=0.01, latency_sigma=0.0)
    async with asgi_client(app, {"Authorization": "Key k"}) as client:
        sub = await submit(client, "gpt_image_2", {"prompt": "x", "quality": "medium"})
        clock_of(app).advance(0.79)
        assert (await client.get(sub["status_url"])).json()["status"] == "IN_PROGRESS"
        clock_of(app).advance(0.02)
        assert (await client.get(sub["status_url"])).json()["metrics"] == {"inference_time": 0.8}


async def test_a_seeded_run_repeats_its_request_ids() -> None:
    ids = []
    for _ in range(2):
        app = make_app(seed=42)
        async with asgi_client(app, {"Authorization": "Key k"}) as client:
            ids.append(
                [
                    (await submit(client, "gpt_image_1", {"prompt": "x"}))["request_id"]
                    for _ in range(3)
                ]
            )
    assert ids[0] == ids[1]
    assert len(set(ids[0])) == 3
