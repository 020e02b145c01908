"""Every documented error of the queue protocol, with the provider's status and body."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from emulator.settings import RateLimit
from tests.helpers import asgi_client, clock_of, make_app
from tests.seeds import SEED_GPT_IMAGE_1
from tests.support.queue import finish, submit

pytestmark = pytest.mark.anyio


def client_for(app: Starlette, auth: str | None = "Key k") -> httpx.AsyncClient:
    headers = {"Authorization": auth} if auth else {}
    return asgi_client(app, headers)


def assert_gateway_error(response: httpx.Response, status: int, code: str, message: str) -> None:
    assert response.status_code == status
    body = response.json()
    assert set(body) == {"error", "request_id"}
    assert body["error"] == {"code": code, "message": message}
    assert isinstance(body["request_id"], str)
    assert body["request_id"]


@pytest.mark.parametrize(
    ("auth", "prefix", "message"),
    [
        (None, "/model", "Authorization Bearer or Key token is required"),
        ("Basic abc", "/model", "Authorization Bearer or Key token is required"),
        ("Key ", "/model", "Authorization Bearer or Key token is required"),
        ("Key k", "/odirouter/model", "Authorization Bearer token is required"),
        (None, "/odirouter/model", "Authorization Bearer token is required"),
    ],
)
async def test_missing_or_wrong_scheme_is_401(auth: str | None, prefix: str, message: str) -> None:
    async with client_for(make_app(), auth) as client:
        for method, path in (
            ("POST", "/v1/queue/gpt_image_1"),
            ("GET", "/v1/queue/gpt_image_1/requests/mmsu_x/status"),
            ("GET", "/v1/queue/gpt_image_1/requests/mmsu_x/response"),
            ("PUT", "/v1/queue/gpt_image_1/requests/mmsu_x/cancel"),
        ):
            response = await client.request(method, prefix + path, json=SEED_GPT_IMAGE_1)
            assert_gateway_error(response, 401, "UNAUTHORIZED", message)


async def test_configured_keys_only() -> None:
    app = make_app(api_keys={"seacloud": ("good",)})
    async with client_for(app, "Bearer bad") as client:
        response = await client.post("/model/v1/queue/gpt_image_1", json=SEED_GPT_IMAGE_1)
        assert_gateway_error(response, 401, "UNAUTHORIZED", "Invalid API key")
    async with client_for(app, "Bearer good") as client:
        assert (
            await client.post("/model/v1/queue/gpt_image_1", json=SEED_GPT_IMAGE_1)
        ).status_code == 200
    async with client_for(app, "Bearer anything") as client:  # odirouter has no key list
        assert (
            await client.post("/odirouter/model/v1/queue/gpt_image_1", json=SEED_GPT_IMAGE_1)
        ).status_code == 200


async def test_rate_limit_is_429_with_retry_after() -> None:
    app = make_app(rate_limit=RateLimit(limit=2, window_seconds=60))
    async with client_for(app) as client:
        for _ in range(2):
            assert (
                await client.post("/model/v1/queue/gpt_image_1", json=SEED_GPT_IMAGE_1)
            ).status_code == 200
        clock_of(app).advance(20)
        limited = await client.post("/model/v1/queue/gpt_image_1", json=SEED_GPT_IMAGE_1)
        assert_gateway_error(
            limited, 429, "RATE_LIMIT_EXCEEDED", "Rate limit exceeded, please try again later"
        )
        assert limited.headers["retry-after"] == "40"
        async with client_for(app, "Key other") as other:  # per key
            assert (
                await other.post("/model/v1/queue/gpt_image_1", json=SEED_GPT_IMAGE_1)
            ).status_code == 200
        clock_of(app).advance(40)
        assert (
            await client.post("/model/v1/queue/gpt_image_1", json=SEED_GPT_IMAGE_1)
        ).status_code == 200


async def test_exhausted_balance_is_402() -> None:
    # gpt-image-1 medium 1024x1024: 1056 tokens x $40/M = $0.04224 an image
    app = make_app(balances={"k": 0.05})
    async with client_for(app) as client:
        ok = await client.post("/model/v1/queue/gpt_image_1", json=SEED_GPT_IMAGE_1)
        assert ok.status_code == 200
        short = await client.post("/model/v1/queue/gpt_image_1", json=SEED_GPT_IMAGE_1)
        assert short.status_code == 402
        assert short.json() == {
            "status": {"code": 402, "message": "Insufficient credits", "error_code": 40201},
            "data": None,
        }
        balance = (await client.get("/_emulator/balances/k")).json()["usd"]
        assert balance == pytest.approx(0.05 - 0.04224)
        await client.put("/_emulator/balances/k", json={"usd": 1})
        assert (
            await client.post("/model/v1/queue/gpt_image_1", json=SEED_GPT_IMAGE_1)
        ).status_code == 200


async def test_unknown_model_is_app_not_found(client: httpx.AsyncClient) -> None:
    response = await client.post("/model/v1/queue/not_exists", json=SEED_GPT_IMAGE_1)
    assert (response.status_code, response.json()) == (404, {"detail": "App not found: not_exists"})


async def test_unsupported_endpoints(client: httpx.AsyncClient) -> None:
    sync = await client.post("/model/v1/queue/gpt_image_1/sync", json=SEED_GPT_IMAGE_1)
    assert (sync.status_code, sync.json()) == (404, {"detail": "Not Found"})
    stream = await client.get("/model/v1/queue/gpt_image_1/requests/mmsu_x/status/stream")
    assert stream.json() == {"detail": "SSE streaming not supported"}


@pytest.mark.parametrize(
    ("content", "detail"),
    [
        (b"not json", "Request body is not valid JSON"),
        (b"", "Request body is not valid JSON"),
        (b"[1, 2]", "Request body must be a JSON object"),
        (b'"text"', "Request body must be a JSON object"),
        (b"\xff\xfe", "Request body is not valid JSON"),
    ],
)
async def test_body_that_is_not_an_object_is_400(
    client: httpx.AsyncClient, content: bytes, detail: str
) -> None:
    response = await client.post("/model/v1/queue/gpt_image_1", content=content)
    assert (response.status_code, response.json()) == (400, {"detail": detail})


@pytest.mark.parametrize(
    ("body", "params", "headers"),
    [
        ({**SEED_GPT_IMAGE_1, "webhook": "https://example.com/h"}, {}, {}),
        (SEED_GPT_IMAGE_1, {"fal_webhook": "https://example.com/h"}, {}),
        (SEED_GPT_IMAGE_1, {}, {"X-Webhook-Url": "https://example.com/h"}),
    ],
)
async def test_webhooks_are_400(
    client: httpx.AsyncClient, body: dict[str, Any], params: dict[str, str], headers: dict[str, str]
) -> None:
    response = await client.post(
        "/model/v1/queue/gpt_image_1", json=body, params=params, headers=headers
    )
    assert (response.status_code, response.json()) == (400, {"detail": "webhook not supported"})


INVALID = [
    ("gpt_image_1", {"prompt": "x", "n": 11}, "n: Input should be less than or equal to 10"),
    ("gpt_image_1", {"prompt": "x", "n": 0}, "n: Input should be greater than or equal to 1"),
    (
        "gpt_image_1",
        {"prompt": "x", "quality": "ultra"},
        "quality: Input should be 'low', 'medium', 'high' or 'auto', got 'ultra'",
    ),
    (
        "gpt_image_1",
        {"prompt": "x", "size": "1792x1024"},
        "size: Input should be 'auto', '1024x1024', '1024x1536' or '1536x1024', got '1792x1024'",
    ),
    ("gpt_image_1", {"prompt": ""}, "prompt: String should have at least 1 character(s)"),
    ("gpt_image_1", {"prompt": "x" * 32001}, "prompt: String should have at most 32000 characters"),
    ("gpt_image_1", {"n": 1}, "prompt: Field required"),
    (
        "gpt_image_1",
        {"prompt": "x", "output_compression": 101},
        "output_compression: Input should be less than or equal to 100",
    ),
    (
        "gpt_image_1",
        {"prompt": "x", "background": "transparent", "output_format": "jpeg"},
        "background: Transparent background requires output_format png or webp, got 'jpeg'.",
    ),
    (
        "gpt_image_2",
        {"prompt": "x", "size": "1000x1000"},
        "size: Invalid size '1000x1000'. Width and height must both be divisible by 16.",
    ),
    ("gpt_image_2_edit", {"prompt": "x"}, "images: Field required"),
    (
        "gpt_image_2_edit",
        {"prompt": "x", "images": ["https://e.com/a.png"] * 17},
        "images: List should have at most 16 items",
    ),
]


@pytest.mark.parametrize(("model", "body", "error"), INVALID)
async def test_invalid_requests_end_request_invalid(
    app: Starlette, client: httpx.AsyncClient, model: str, body: dict[str, Any], error: str
) -> None:
    sub = await submit(client, model, body)
    final = await finish(app, client, sub["status_url"])
    assert final["error_type"] == "REQUEST_INVALID"
    assert final["error"].startswith(error)
    assert "metrics" not in final
    result = await client.get(sub["response_url"])
    assert result.status_code == 422
    assert result.json() == {"detail": final["error"], "error_type": "REQUEST_INVALID"}


@pytest.mark.parametrize(("model", "body", "error"), INVALID)
async def test_sync_validation_answers_422(model: str, body: dict[str, Any], error: str) -> None:
    async with client_for(make_app(validation="sync")) as client:
        response = await client.post(f"/model/v1/queue/{model}", json=body)
    assert response.status_code == 422
    (first, *_) = response.json()["detail"]
    assert set(first) == {"loc", "msg", "type"}
    assert first["loc"][0] == "body"
    field = error.split(":")[0]
    assert first["loc"][1] == field
    assert f"{field}: {first['msg']}".startswith(error)


@pytest.mark.parametrize(
    ("outcome", "status"),
    [
        ("INFERENCE_FAILURE", 500),
        ("INFERENCE_TIMEOUT", 500),
        ("INTERNAL_SERVER_ERROR", 500),
        ("CONTENT_BLOCKED", 422),
    ],
)
async def test_steered_failures(outcome: str, status: int) -> None:
    app = make_app(steering=True)
    async with client_for(app) as client:
        sub = await submit(
            client, "gpt_image_1", SEED_GPT_IMAGE_1, headers={"X-Imgemu-Outcome": outcome}
        )
        final = await finish(app, client, sub["status_url"])
        assert final["error_type"] == outcome
        result = await client.get(sub["response_url"])
        assert result.status_code == status
        assert result.json() == {"detail": final["error"], "error_type": outcome}


async def test_steering_headers_are_checked_and_ignored_when_off() -> None:
    async with client_for(make_app(steering=True)) as client:
        bad = await client.post(
            "/model/v1/queue/gpt_image_1",
            json=SEED_GPT_IMAGE_1,
            headers={"X-Imgemu-Outcome": "EXPLODE"},
        )
        assert bad.status_code == 400
        assert bad.json()["detail"].startswith("X-Imgemu-Outcome must be one of success, ")
        latency = await client.post(
            "/model/v1/queue/gpt_image_1", json=SEED_GPT_IMAGE_1, headers={"X-Imgemu-Latency": "-3"}
        )
        assert latency.json() == {"detail": "X-Imgemu-Latency must be a number of seconds >= 0"}
    app = make_app()
    async with client_for(app) as client:
        sub = await submit(
            client,
            "gpt_image_1",
            SEED_GPT_IMAGE_1,
            headers={"X-Imgemu-Outcome": "INFERENCE_FAILURE"},
        )
        final = await finish(app, client, sub["status_url"])
        assert "error_type" not in final


async def test_blocked_terms_end_content_blocked() -> None:
    app = make_app(blocked_terms=("forbidden",))
    async with client_for(app) as client:
        sub = await submit(
            client, "gpt_image_1", {**SEED_GPT_IMAGE_1, "prompt": "A FORBIDDEN thing"}
        )
        final = await finish(app, client, sub["status_url"])
        assert final["error_type"] == "CONTENT_BLOCKED"
        assert (await client.get(sub["response_url"])).status_code == 422


async def test_failure_rate_is_seeded() -> None:
    outcomes = []
    for _ in range(2):
        app = make_app(failure_rate=0.5, seed=7)
        async with client_for(app) as client:
            subs = [await submit(client, "gpt_image_1", SEED_GPT_IMAGE_1) for _ in range(12)]
            clock_of(app).advance(10_000)
            outcomes.append(
                [(await client.get(s["status_url"])).json().get("error_type") for s in subs]
            )
    assert outcomes[0] == outcomes[1]
    assert set(outcomes[0]) == {None, "INFERENCE_FAILURE"}


async def test_result_links_expire_and_are_signed(
    app: Starlette, client: httpx.AsyncClient
) -> None:
    sub = await submit(client, "gpt_image_1", SEED_GPT_IMAGE_1)
    await finish(app, client, sub["status_url"])
    url = (await client.get(sub["response_url"])).json()["outputs"][0]["url"]
    assert (await client.get(url)).status_code == 200
    tampered = url.replace("sig=", "sig=0")
    forged = await client.get(tampered)
    assert (forged.status_code, forged.json()) == (
        403,
        {"detail": "Request has expired or the signature is invalid"},
    )
    clock_of(app).advance(86_400 + 60)
    expired = await client.get(url)
    assert expired.status_code == 403
