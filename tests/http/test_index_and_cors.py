"""``GET /`` (HTML or JSON) and CORS for browser clients (``cors_origins``)."""

from __future__ import annotations

import httpx
import pytest

from emulator.http.middleware.request_log import reason_of
from tests.helpers import HOST, asgi_client, fast_app

pytestmark = pytest.mark.anyio
BASE = HOST  # where the in-process client calls


def client_of(**settings: object) -> httpx.AsyncClient:
    return asgi_client(fast_app(**settings))


async def test_index_as_json_names_every_provider_in_its_convention() -> None:
    async with client_of() as client:
        response = await client.get("/")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    bases = {p["provider"]: p["base_url"] for p in body["providers"]}
    assert bases == {
        "seacloud": f"{BASE}/model",
        "odirouter": f"{BASE}/odirouter/model",
        "openai": f"{BASE}/v1",
        "agcloud": f"{BASE}/v1",
        "aa": BASE,
    }
    openai = next(p for p in body["providers"] if p["provider"] == "openai")
    assert openai["env"] == {"OPENAI_BASE_URL": f"{BASE}/v1"}
    assert openai["document"] == f"{BASE}/openapi/openai.json"
    assert openai["auth"] == ["Bearer <key>"]
    assert body["control"]["health"] == "GET /_emulator/health"
    assert body["keys"] == "any key"


async def test_index_follows_the_queue_owner_and_configured_keys() -> None:
    async with client_of(queue_provider="odirouter", api_keys={"openai": ("k",)}) as client:
        body = (await client.get("/")).json()
    bases = {p["provider"]: p["base_url"] for p in body["providers"]}
    assert bases["odirouter"] == f"{BASE}/model"
    assert bases["seacloud"] == f"{BASE}/seacloud/model"
    assert body["keys"] == "only the configured keys"


async def test_index_as_html_for_a_browser() -> None:
    async with client_of() as client:
        response = await client.get("/", headers={"Accept": "text/html,application/xhtml+xml"})
    assert response.headers["content-type"].startswith("text/html")
    assert "<table>" in response.text
    assert f"<code>{BASE}/v1</code>" in response.text
    assert 'href="http://emulator.test/openapi/aa.json"' in response.text


async def test_documents_served_match_the_index() -> None:
    async with client_of() as client:
        body = (await client.get("/")).json()
        for entry in body["providers"]:
            document = await client.get(entry["document"])
            assert document.status_code == 200, entry


async def test_cors_is_off_by_default() -> None:
    async with client_of() as client:
        response = await client.get("/_emulator/health", headers={"Origin": "http://app.test"})
    assert "access-control-allow-origin" not in response.headers


async def test_cors_preflight_and_answers_for_a_listed_origin() -> None:
    async with client_of(cors_origins=("http://app.test",)) as client:
        preflight = await client.options(
            "/v1/images/generations",
            headers={
                "Origin": "http://app.test",
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "authorization, content-type",
            },
        )
        assert preflight.status_code == 200
        assert preflight.headers["access-control-allow-origin"] == "http://app.test"
        assert "POST" in preflight.headers["access-control-allow-methods"]
        allowed = preflight.headers["access-control-allow-headers"].lower()
        assert "authorization" in allowed
        answer = await client.post(
            "/v1/images/generations",
            headers={"Origin": "http://app.test", "Authorization": "Bearer k"},
            json={"prompt": "x", "size": "3x3"},
        )
        assert answer.status_code == 400
        assert answer.headers["access-control-allow-origin"] == "http://app.test"
        assert "x-request-id" in answer.headers["access-control-expose-headers"]
        other = await client.options(
            "/v1/images/generations",
            headers={"Origin": "http://evil.test", "Access-Control-Request-Method": "POST"},
        )
        assert other.status_code == 400
        assert "access-control-allow-origin" not in other.headers


async def test_cors_for_any_origin() -> None:
    async with client_of(cors_origins=("*",)) as client:
        answer = await client.get("/_emulator/health", headers={"Origin": "http://x.test"})
    assert answer.headers["access-control-allow-origin"] == "*"


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (
            b'{"error":{"message":"Bad size","type":"t","param":"size","code":"invalid_value"}}',
            "invalid_value: Bad size",
        ),
        (
            b'{"error":{"code":"UNAUTHORIZED","message":"Invalid API key"},"request_id":"r"}',
            "UNAUTHORIZED: Invalid API key",
        ),
        (b'{"detail":"App not found: x"}', "App not found: x"),
        (b'{"detail":"Bad prompt","error_type":"REQUEST_INVALID"}', "REQUEST_INVALID: Bad prompt"),
        (
            b'{"detail":[{"loc":["body","size"],"msg":"bad","type":"value_error"}]}',
            "body.size: bad",
        ),
        (
            b'{"status":{"code":402,"message":"Insufficient credits","error_code":40201}}',
            "Insufficient credits",
        ),
        (
            b'{"code":400,"message":"prompt is required","request_id":"r","data":null}',
            "prompt is required",
        ),
        (b'{"status":"NOT_FOUND"}', "NOT_FOUND"),
        (b"Internal Server Error", "Internal Server Error"),
    ],
)
async def test_a_refusal_reason_in_every_dialect(body: bytes, reason: str) -> None:
    assert reason_of(body) == reason
