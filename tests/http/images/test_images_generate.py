"""OpenAI ``/v1/images/generations``: bodies, images, usage, every documented error."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from emulator.domain.pricing import output_tokens
from emulator.settings import RateLimit
from tests.helpers import asgi_client, clock_of, decode, fast_app, make_app, on_virtual_clock
from tests.support.images import BEARER, PROMPT, error_of

pytestmark = pytest.mark.anyio
URL = "/v1/images/generations"


async def test_a_generation_answers_images_response_with_resolved_settings(
    client: httpx.AsyncClient,
) -> None:
    response = await client.post(URL, json={"model": "gpt-image-1", "prompt": PROMPT})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    assert response.headers["x-request-id"].startswith("req_")
    body = response.json()
    assert set(body) == {
        "created",
        "data",
        "background",
        "output_format",
        "quality",
        "size",
        "usage",
    }
    assert (body["background"], body["output_format"], body["quality"], body["size"]) == (
        "opaque",
        "png",
        "medium",  # auto resolves to medium
        "1024x1024",  # auto resolves to the square size for a generation
    )
    assert len(body["data"]) == 1
    assert set(body["data"][0]) == {"b64_json"}
    image = decode(body["data"][0]["b64_json"])
    assert (image.format, image.size, image.mode) == ("PNG", (1024, 1024), "RGB")
    usage = body["usage"]
    assert usage["output_tokens"] == 1056  # gpt-image-1 medium 1024x1024, the token table
    assert usage["input_tokens_details"] == {
        "text_tokens": usage["input_tokens"],
        "image_tokens": 0,
    }
    assert usage["total_tokens"] == usage["input_tokens"] + usage["output_tokens"]
    assert usage["output_tokens_details"] == {"image_tokens": 1056, "text_tokens": 0}


@pytest.mark.parametrize(
    ("model", "size", "quality", "fmt", "tokens"),
    [
        ("gpt-image-1", "1536x1024", "high", "jpeg", 6208),
        ("gpt-image-1-mini", "1024x1536", "low", "webp", 408),
        ("gpt-image-1.5", "1024x1024", "low", "png", 272),
        ("gpt-image-2", "1536x864", "medium", "jpeg", 1078),
        ("gpt-image-2", "3840x2160", "low", "webp", 371),
        ("gpt-image-2", "1024x640", "high", "png", 3824),
    ],
)
async def test_every_model_renders_its_size_format_and_tokens(
    client: httpx.AsyncClient, model: str, size: str, quality: str, fmt: str, tokens: int
) -> None:
    body = {"model": model, "prompt": PROMPT, "size": size, "quality": quality}
    body["output_format"] = fmt
    response = await client.post(URL, json=body)
    assert response.status_code == 200, response.text
    data = response.json()
    assert (data["size"], data["quality"], data["output_format"]) == (size, quality, fmt)
    image = decode(data["data"][0]["b64_json"])
    width, height = (int(x) for x in size.split("x"))
    assert image.format == {"png": "PNG", "jpeg": "JPEG", "webp": "WEBP"}[fmt]
    assert image.size == (width, height)
    assert data["usage"]["output_tokens"] == tokens
    family = "gpt-image-1" if model == "gpt-image-1-mini" else model
    assert tokens == output_tokens(family, quality, width, height)


async def test_n_images_differ_and_tokens_scale(client: httpx.AsyncClient) -> None:
    body = {"model": "gpt-image-1.5", "prompt": PROMPT, "n": 3, "quality": "low"}
    data = (await client.post(URL, json=body)).json()
    images = [item["b64_json"] for item in data["data"]]
    assert len(images) == 3
    assert len(set(images)) == 3
    assert data["usage"]["output_tokens"] == 3 * 272


async def test_transparent_background_gives_alpha(client: httpx.AsyncClient) -> None:
    for model in ("gpt-image-1", "gpt-image-1.5", "chatgpt-image-latest"):
        body = {"model": model, "prompt": PROMPT, "background": "transparent"}
        data = (await client.post(URL, json={**body, "output_format": "webp"})).json()
        assert data["background"] == "transparent"
        image = decode(data["data"][0]["b64_json"])
        assert image.mode == "RGBA"
        assert image.getextrema()[3][0] < 255  # some pixel is see-through


async def test_the_same_seed_and_request_give_the_same_bytes() -> None:
    body = {"model": "gpt-image-1", "prompt": PROMPT, "quality": "low"}
    answers = []
    for _ in range(2):
        app = fast_app(seed=7)
        async with asgi_client(app, BEARER) as client:
            answers.append((await client.post(URL, json=body)).json())
    assert answers[0]["data"] == answers[1]["data"]


async def test_the_answer_waits_for_the_generation_time() -> None:
    app = make_app(latency_sigma=0.0)  # virtual clock; gpt-image-1 low 1024x1024 takes 15 s
    clock = clock_of(app)
    async with asgi_client(app, BEARER) as client:
        body = {"model": "gpt-image-1", "prompt": PROMPT, "quality": "low"}
        start = clock.now()
        response = await on_virtual_clock(app, client.post(URL, json=body), step=14.0)
        assert response.status_code == 200
        assert clock.now() - start == 28.0  # one step of 14 s was not enough; the second was
        assert response.json()["created"] == int(start)


async def test_prompts_on_the_block_list_are_moderation_blocked() -> None:
    app = fast_app(blocked_terms=("forbidden",))
    async with asgi_client(app, BEARER) as client:
        body = {"model": "gpt-image-1", "prompt": "A FORBIDDEN fruit"}
        response = await client.post(URL, json=body)
    assert response.status_code == 400
    error = error_of(response)
    assert (error["type"], error["code"], error["param"]) == (
        "image_generation_user_error",
        "moderation_blocked",
        None,
    )
    assert error["message"].startswith("Your request was rejected by the safety system.")


def _bad(**fields: Any) -> dict[str, Any]:
    return {"model": "gpt-image-1", "prompt": PROMPT, **fields}


@pytest.mark.parametrize(
    ("body", "param", "code", "message"),
    [
        ({"model": "gpt-image-1"}, "prompt", "missing_required_parameter",
         "Missing required parameter: 'prompt'."),
        (_bad(n=11), "n", "integer_above_max_value",
         "Invalid 'n': integer above maximum value. Expected a value <= 10, but got 11 instead."),
        (_bad(n=0), "n", "integer_below_min_value",
         "Invalid 'n': integer below minimum value. Expected a value >= 1, but got 0 instead."),
        (_bad(n="2"), "n", "invalid_type",
         "Invalid type for 'n': expected an integer, but got a string instead."),
        (_bad(n=[2]), "n", "invalid_type",
         "Invalid type for 'n': expected an integer, but got an array instead."),
        (_bad(prompt={"text": PROMPT}), "prompt", "invalid_type",
         "Invalid type for 'prompt': expected a string, but got an object instead."),
        (_bad(n="2" * 201), "n", "invalid_type",
         "Invalid type for 'n': expected an integer, but got a string instead."),
        (_bad(prompt="x" * 32001), "prompt", "string_above_max_length",
         "Invalid 'prompt': string too long. Expected a string with maximum length 32000, "
         "but got a string with length 32001 instead."),
        (_bad(style="vivid"), "style", "unknown_parameter", "Unknown parameter: 'style'."),
        (_bad(quality="ultra"), "quality", "invalid_value",
         "Invalid value: 'ultra'. Supported values are: 'low', 'medium', 'high', and 'auto'."),
        (_bad(size="1254x836"), "size", "invalid_value",
         "Invalid value: '1254x836'. Supported values are: '1024x1024', '1024x1536', "
         "'1536x1024', and 'auto'."),
        (_bad(model="gpt-image-2", size="1792x936"), "size", "invalid_value",
         "Invalid size '1792x936'. Width and height must both be divisible by 16."),
        (_bad(model="gpt-image-2", size="9:16"), "size", "invalid_value",
         "Invalid size '9:16'. Expected WIDTHxHEIGHT, for example '1824x1024'."),
        (_bad(model="gpt-image-2", size="4096x1024"), "size", "invalid_value",
         "Invalid size '4096x1024'. The longest side must not exceed 3840 pixels."),
        (_bad(model="gpt-image-2", size="3840x1024"), "size", "invalid_value",
         "Invalid size '3840x1024'. The aspect ratio must not exceed 3:1."),
        (_bad(model="gpt-image-2", size="1008x640"), "size", "invalid_value",
         "Invalid size '1008x640'. Total pixels must be between 655360 and 8294400."),
        (_bad(background="transparent", output_format="jpeg"), "background", "invalid_value",
         "Transparent background requires output_format png or webp, got 'jpeg'."),
    ],
)  # fmt: skip
async def test_invalid_values_are_400_with_param_and_code(
    client: httpx.AsyncClient, body: dict[str, Any], param: str, code: str, message: str
) -> None:
    response = await client.post(URL, json=body)
    assert response.status_code == 400, response.text
    error = error_of(response)
    assert (error["type"], error["param"], error["code"]) == ("invalid_request_error", param, code)
    assert error["message"] == message


async def test_a_model_it_does_not_serve_is_an_invalid_value(client: httpx.AsyncClient) -> None:
    response = await client.post(URL, json=_bad(model="dall-e-3"))
    error = error_of(response)
    assert (response.status_code, error["param"], error["code"]) == (400, "model", "invalid_value")
    assert error["message"].startswith("Invalid value: 'dall-e-3'. Supported values are: ")


@pytest.mark.parametrize("raw", [b"{not json", b"[1, 2]", b'"prompt"'])
async def test_a_body_that_is_not_a_json_object_is_400(
    client: httpx.AsyncClient, raw: bytes
) -> None:
    response = await client.post(URL, content=raw, headers={"content-type": "application/json"})
    assert response.status_code == 400
    error = error_of(response)
    assert (error["type"], error["param"], error["code"]) == ("invalid_request_error", None, None)


async def test_keys_are_checked_and_answered_in_openai_shape() -> None:
    app = fast_app(api_keys={"openai": ("sk-good",)})
    async with asgi_client(app) as client:
        body = _bad()
        missing = await client.post(URL, json=body)
        wrong = await client.post(URL, json=body, headers={"Authorization": "Bearer sk-bad"})
        scheme = await client.post(URL, json=body, headers={"Authorization": "Key sk-good"})
        good = await client.post(URL, json=body, headers={"Authorization": "Bearer sk-good"})
    for response in (missing, wrong, scheme):
        assert response.status_code == 401
        error = error_of(response)
        assert (error["type"], error["code"]) == ("invalid_request_error", "invalid_api_key")
    assert error_of(missing)["message"].startswith("You didn't provide an API key.")
    assert error_of(wrong)["message"].startswith("Incorrect API key provided")
    assert good.status_code == 200


async def test_rate_limit_and_quota_are_429s() -> None:
    app = fast_app(rate_limit=RateLimit(limit=1, window_seconds=60))
    async with asgi_client(app, BEARER) as client:
        assert (await client.post(URL, json=_bad())).status_code == 200
        limited = await client.post(URL, json=_bad())
    assert limited.status_code == 429
    error = error_of(limited)
    assert (error["type"], error["code"]) == ("requests", "rate_limit_exceeded")
    assert int(limited.headers["retry-after"]) >= 1
    assert int(limited.headers["retry-after-ms"]) >= 1
    assert limited.headers["x-ratelimit-remaining-requests"] == "0"
    assert limited.headers["x-ratelimit-limit-requests"] == "1"

    broke = fast_app(default_balance_usd=0.0)
    async with asgi_client(broke, BEARER) as client:
        quota = await client.post(URL, json=_bad())
    error = error_of(quota)
    assert (quota.status_code, error["type"], error["code"]) == (
        429,
        "insufficient_quota",
        "insufficient_quota",
    )


async def test_a_steered_failure_is_a_server_error_after_the_generation_time() -> None:
    app = fast_app(steering=True)
    async with asgi_client(app, BEARER) as client:
        failed = await client.post(
            URL, json=_bad(), headers={"X-Imgemu-Outcome": "INFERENCE_FAILURE"}
        )
        timed_out = await client.post(
            URL, json=_bad(), headers={"X-Imgemu-Outcome": "INFERENCE_TIMEOUT"}
        )
    for response in (failed, timed_out):
        assert response.status_code == 500
        error = error_of(response)
        assert (error["type"], error["code"]) == ("server_error", "server_error")
    assert error_of(timed_out)["message"] == "Request timed out."


async def test_paths_it_does_not_serve_are_openai_404s(app: Starlette) -> None:
    async with asgi_client(app, BEARER) as client:
        response = await client.get("/v1/images/variations")
    assert response.status_code == 404
    error = error_of(response)
    assert error["message"] == "Invalid URL (GET /v1/images/variations)"
