"""A key containing ``invalid`` is refused by the permissive default: the gateway's rule, and each
provider's 401 in its own dialect, the same answer as a wrong key where keys are configured."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from emulator.domain.errors import Unauthorized
from emulator.domain.gateway import Gateway, is_invalid_key
from emulator.settings import RateLimit
from tests.helpers import asgi_client, fast_app, png_bytes

PNG = png_bytes((16, 16))
INVALID_KEYS = ("SCHEMATHESIS-INVALID-VALUE", "invalid", "sk-Invalid-1", "my_INVALID_key")


# --- the gateway -------------------------------------------------------------------------------


@pytest.mark.parametrize("key", INVALID_KEYS)
def test_the_default_gateway_refuses_a_key_containing_invalid(key: str) -> None:
    assert is_invalid_key(key)
    gateway = Gateway({}, RateLimit())
    for provider in ("seacloud", "odirouter", "openai", "agcloud", "aa"):
        with pytest.raises(Unauthorized) as refused:
            gateway.authenticate(provider, f"Bearer {key}")
        assert refused.value.reason == "invalid"
    with pytest.raises(Unauthorized, match="invalid"):
        gateway.authenticate("seacloud", f"Key {key}")


@pytest.mark.parametrize("key", ["sk-test", "k", "valid", "in-valid", "contract-key"])
def test_the_default_gateway_takes_any_other_key(key: str) -> None:
    assert not is_invalid_key(key)
    assert Gateway({}, RateLimit()).authenticate("openai", f"Bearer {key}") == key


def test_configured_keys_decide_alone() -> None:
    gateway = Gateway({"openai": ("right", "invalid-but-configured")}, RateLimit())
    assert gateway.authenticate("openai", "Bearer right") == "right"
    # A configured key is taken whatever it says; an unconfigured one is refused as before.
    assert gateway.authenticate("openai", "Bearer invalid-but-configured").startswith("invalid")
    with pytest.raises(Unauthorized, match="invalid"):
        gateway.authenticate("openai", "Bearer wrong")
    # Providers without a key list keep the permissive default, with its one exception.
    assert gateway.authenticate("aa", "Bearer anything") == "anything"
    with pytest.raises(Unauthorized, match="invalid"):
        gateway.authenticate("aa", "Bearer INVALID")


def test_a_missing_key_is_still_the_missing_answer() -> None:
    gateway = Gateway({}, RateLimit())
    with pytest.raises(Unauthorized) as refused:
        gateway.authenticate("openai", None)
    assert refused.value.reason == "missing"


# --- over HTTP, in each dialect -----------------------------------------------------------------

QUEUE_BODY = {"prompt": "a red apple", "quality": "low"}
# provider, method, path, request keywords, scheme
Call = tuple[str, str, str, dict[str, Any], str]
CALLS: list[Call] = [
    ("seacloud", "POST", "/seacloud/model/v1/queue/gpt_image_1", {"json": QUEUE_BODY}, "Bearer"),
    ("seacloud", "POST", "/seacloud/model/v1/queue/gpt_image_1", {"json": QUEUE_BODY}, "Key"),
    (
        "seacloud",
        "GET",
        "/seacloud/model/v1/queue/gpt_image_1/requests/mmsu_x/status",
        {},
        "Bearer",
    ),
    ("odirouter", "POST", "/odirouter/model/v1/queue/gpt_image_2", {"json": QUEUE_BODY}, "Bearer"),
    (
        "odirouter",
        "PUT",
        "/odirouter/model/v1/queue/gpt_image_2/requests/mmsu_x/cancel",
        {},
        "Bearer",
    ),
    ("openai", "POST", "/v1/images/generations", {"json": {"prompt": "a red apple"}}, "Bearer"),
    (
        "openai",
        "POST",
        "/v1/images/edits",
        {"data": {"prompt": "a hat"}, "files": {"image": ("a.png", PNG, "image/png")}},
        "Bearer",
    ),
    (
        "agcloud",
        "POST",
        "/v1/image/edits",
        {"data": {"prompt": "a hat"}, "files": {"image": ("a.png", PNG, "image/png")}},
        "Bearer",
    ),
    ("aa", "POST", "/api/v1/image/generation", {"json": {"prompt": "a red apple"}}, "Bearer"),
    ("aa", "GET", "/api/v1/image/generation/task_x", {}, "Bearer"),
    ("aa", "POST", "/api/v1/files", {"files": {"file": ("a.png", PNG, "image/png")}}, "Bearer"),
]

OPENAI_INVALID = {
    "error": {
        "message": "Incorrect API key provided. You can find your API key in your dashboard.",
        "type": "invalid_request_error",
        "param": None,
        "code": "invalid_api_key",
    }
}


async def _send(app: Any, call: Call, key: str) -> httpx.Response:
    _, method, path, kw, scheme = call
    async with asgi_client(app, {"Authorization": f"{scheme} {key}"}, timeout=30) as client:
        return await client.request(method, path, **kw)


def _without_ids(body: Any) -> Any:
    if isinstance(body, dict):
        return {k: v for k, v in body.items() if k != "request_id"}
    return body


def _assert_dialect(provider: str, response: httpx.Response) -> None:
    assert response.status_code == 401, response.text
    body = response.json()
    if provider in ("seacloud", "odirouter"):
        assert set(body) == {"error", "request_id"}
        assert body["error"] == {"code": "UNAUTHORIZED", "message": "Invalid API key"}
        assert isinstance(body["request_id"], str)
        assert body["request_id"]
    elif provider in ("openai", "agcloud"):
        assert body == OPENAI_INVALID
    else:
        assert set(body) == {"code", "message", "request_id", "data"}
        assert (body["code"], body["message"], body["data"]) == (401, "Invalid API key.", None)
        assert body["request_id"].startswith("req_")
        assert response.headers["x-request-id"] == body["request_id"]


@pytest.mark.anyio
@pytest.mark.parametrize("call", CALLS, ids=[f"{c[0]}-{c[1]}-{c[2]}-{c[4]}" for c in CALLS])
async def test_an_invalid_key_is_401_in_the_providers_dialect(call: Call) -> None:
    provider = call[0]
    refused = await _send(fast_app(), call, "SCHEMATHESIS-INVALID-VALUE")
    _assert_dialect(provider, refused)
    # The same answer as a key the configured list does not hold.
    wrong = await _send(fast_app(api_keys={provider: ("right",)}), call, "wrong")
    _assert_dialect(provider, wrong)
    assert _without_ids(refused.json()) == _without_ids(wrong.json())
    assert refused.headers["content-type"] == wrong.headers["content-type"]


@pytest.mark.anyio
@pytest.mark.parametrize("call", CALLS[::2], ids=[f"{c[0]}-{c[1]}-{c[2]}" for c in CALLS[::2]])
async def test_any_other_key_still_passes_the_gateway(call: Call) -> None:
    answer = await _send(fast_app(), call, "sk-anything")
    assert answer.status_code != 401, answer.text
