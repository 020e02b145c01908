"""The control plane and the served documents."""

from __future__ import annotations

import httpx
import pytest
from starlette.applications import Starlette

from tests.helpers import START, asgi_client, make_app
from tests.seeds import SEED_GPT_IMAGE_1
from tests.support.queue import submit

pytestmark = pytest.mark.anyio


async def test_health_and_capabilities(client: httpx.AsyncClient) -> None:
    assert (await client.get("/_emulator/health")).json() == {"status": "ok"}
    caps = (await client.get("/_emulator/capabilities")).json()
    assert caps["providers"]["seacloud"]["path"] == "/model"
    assert caps["providers"]["odirouter"]["path"] == "/odirouter/model"
    assert len(caps["providers"]["odirouter"]["models"]) == 6
    assert caps["models"]["gpt_image_2"] == {
        "family": "gpt-image-2",
        "edit": False,
        "transparency": False,
    }
    assert caps["providers"]["openai"] == {
        "protocol": "images",
        "paths": ["/v1/images/edits", "/v1/images/generations"],
        "models": [
            "gpt-image-1",
            "gpt-image-1-mini",
            "gpt-image-1.5",
            "gpt-image-2",
            "gpt-image-2-2026-04-21",
            "chatgpt-image-latest",
        ],
        "transparent_preview": False,
    }
    assert caps["providers"]["agcloud"] == {"protocol": "images", "paths": ["/v1/image/edits"]}
    assert caps["providers"]["aa"]["protocol"] == "envelope"
    assert "/api/v1/image/generation" in caps["providers"]["aa"]["paths"]
    assert caps["image_models"]["gpt-image-1-mini"] == {
        "family": "gpt-image-1-mini",
        "custom_sizes": False,
        "transparency": True,
        "input_fidelity": ["low"],
        "quality": True,
    }


async def test_reset_forgets_jobs_but_keeps_virtual_time(
    app: Starlette, client: httpx.AsyncClient
) -> None:
    sub = await submit(client, "gpt_image_1", SEED_GPT_IMAGE_1)
    await client.post("/_emulator/clock", json={"advance": 5})
    listed = (await client.get("/_emulator/jobs")).json()["jobs"]
    assert [job["request_id"] for job in listed] == [sub["request_id"]]
    one = (await client.get(f"/_emulator/jobs/{sub['request_id']}")).json()
    assert one["status"] == "IN_PROGRESS"
    assert one["submitted_at"] == START
    assert (await client.post("/_emulator/reset")).json() == {"status": "reset"}
    assert (await client.get("/_emulator/jobs")).json() == {
        "jobs": [],
        "total": 0,
        "offset": 0,
        "limit": 100,
    }
    assert (await client.get(sub["status_url"])).status_code == 404
    assert (await client.get("/_emulator/clock")).json()["now"] == START + 5
    missing = await client.get(f"/_emulator/jobs/{sub['request_id']}")
    assert (missing.status_code, missing.json()) == (404, {"detail": "Request not found"})


@pytest.mark.parametrize(
    "body",
    [{}, {"advance": 1, "set": 2}, {"advance": "soon"}, {"advance": True}, {"advance": -1}, []],
)
async def test_clock_moves_need_a_valid_body(client: httpx.AsyncClient, body: object) -> None:
    response = await client.post("/_emulator/clock", json=body)
    assert response.status_code == 400
    assert isinstance(response.json()["detail"], str)


async def test_a_real_clock_cannot_be_moved() -> None:
    app = make_app(clock="real")
    async with asgi_client(app, base_url="http://e") as client:
        response = await client.post("/_emulator/clock", json={"advance": 1})
    assert response.status_code == 409


async def test_balances(client: httpx.AsyncClient) -> None:
    assert (await client.get("/_emulator/balances/k")).json() == {"usd": None}
    assert (await client.put("/_emulator/balances/k", json={"usd": 2.5})).json() == {"usd": 2.5}
    bad = await client.put("/_emulator/balances/k", json={"usd": "lots"})
    assert (bad.status_code, bad.json()) == (400, {"detail": 'Send {"usd": amount}'})


async def test_documents_point_at_the_emulator(client: httpx.AsyncClient) -> None:
    seacloud = (await client.get("/openapi/seacloud.json")).json()
    assert seacloud["servers"] == [
        {"url": "http://emulator.test/model", "description": "this emulator"}
    ]
    odirouter = (await client.get("/openapi/odirouter.json")).json()
    assert odirouter["servers"][0]["url"] == "http://emulator.test/odirouter/model"
    assert len(odirouter["paths"]) == 36  # 6 models: submit, sync, status, stream, result, cancel
    for provider in ("openai", "agcloud", "aa"):  # their paths start at the root
        document = (await client.get(f"/openapi/{provider}.json")).json()
        assert document["servers"][0]["url"] == "http://emulator.test"
    missing = await client.get("/openapi/nobody.json")
    assert (missing.status_code, missing.json()) == (
        404,
        {"detail": "No document for provider 'nobody'"},
    )


async def test_queue_provider_setting_moves_the_bare_path() -> None:
    app = make_app(queue_provider="odirouter")
    async with asgi_client(app, base_url="http://e") as client:
        keyed = await client.post(
            "/model/v1/queue/gpt_image_1", json=SEED_GPT_IMAGE_1, headers={"Authorization": "Key k"}
        )
        assert keyed.status_code == 401  # odirouter takes Bearer only
        bearer = await client.post(
            "/model/v1/queue/gpt_image_1",
            json=SEED_GPT_IMAGE_1,
            headers={"Authorization": "Bearer k"},
        )
        assert bearer.status_code == 200
        assert (await client.get("/openapi/odirouter.json")).json()["servers"][0][
            "url"
        ] == "http://e/model"


async def test_unknown_paths_and_methods_answer_json(client: httpx.AsyncClient) -> None:
    response = await client.get("/nothing/here")
    assert (response.status_code, response.json()) == (404, {"detail": "Not Found"})
    wrong_method = await client.delete("/model/v1/queue/gpt_image_1")
    assert wrong_method.status_code == 405
    assert wrong_method.json() == {"detail": "Method Not Allowed"}


async def test_jobs_are_listed_a_page_at_a_time(client: httpx.AsyncClient) -> None:
    subs = [await submit(client, "gpt_image_1", SEED_GPT_IMAGE_1) for _ in range(5)]
    ids = [sub["request_id"] for sub in subs]
    page = (await client.get("/_emulator/jobs", params={"offset": 1, "limit": 3})).json()
    assert [job["request_id"] for job in page["jobs"]] == ids[1:4]
    assert (page["total"], page["offset"], page["limit"]) == (5, 1, 3)
    rest = (await client.get("/_emulator/jobs", params={"offset": 4})).json()
    assert [job["request_id"] for job in rest["jobs"]] == ids[4:]
    beyond = (await client.get("/_emulator/jobs", params={"offset": 9})).json()
    assert (beyond["jobs"], beyond["total"]) == ([], 5)


@pytest.mark.parametrize(
    "params", [{"limit": 0}, {"limit": 10_001}, {"limit": "ten"}, {"offset": -1}, {"offset": "x"}]
)
async def test_job_pages_need_sane_numbers(
    client: httpx.AsyncClient, params: dict[str, object]
) -> None:
    response = await client.get("/_emulator/jobs", params=params)
    assert response.status_code == 400
    assert response.json() == {
        "detail": "offset must be an integer >= 0 and limit an integer 1-10000"
    }
