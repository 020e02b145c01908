"""典名词元 ``POST /api/v1/image/generation``: the synchronous answer, its links, every error."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest

from emulator.settings import RateLimit
from tests.helpers import data_url, decode, events, fast_app, mask_bytes, png_bytes
from tests.support.aa import PROMPT, URL, assert_error, body, client_for, expires_of, iso, task_of

pytestmark = pytest.mark.anyio


async def test_the_call_waits_and_answers_signed_links_to_the_images(
    client: httpx.AsyncClient,
) -> None:
    request = body(
        n=2, size="1536x1024", quality="low", output_format="webp", output_compression=80
    )
    response = await client.post(URL, json=request)
    task = task_of(response, "succeeded")
    assert len(task["urls"]) == 2
    for index, url in enumerate(task["urls"]):
        assert url.startswith(f"http://emulator.test/_files/{task['task_id']}/{index}.webp?")
        assert "?expires=" in url
        assert "&sig=" in url
        file = await client.get(url)
        assert file.status_code == 200, file.text
        assert file.headers["content-type"] == "image/webp"
        image = decode(file.content)
        assert (image.format, image.size) == ("WEBP", (1536, 1024))
    usage = task["usage"]
    assert usage["images"] == 2
    assert usage["output_tokens"] == 2 * 400  # gpt-image-1.5, low, 1536x1024
    assert usage["input_tokens"] > 0  # the prompt and the input image
    assert usage["seconds"] >= 0


async def test_defaults_follow_the_first_image_and_answer_one_png(
    client: httpx.AsyncClient,
) -> None:
    request = body(images=[{"image_url": data_url(png_bytes((1024, 1536)))}])
    task = task_of(await client.post(URL, json=request), "succeeded")
    (url,) = task["urls"]
    image = decode((await client.get(url)).content)
    assert (image.format, image.size) == ("PNG", (1024, 1536))


async def test_expired_is_the_result_ttl_after_the_finish() -> None:
    async with client_for(fast_app(result_ttl=3600.0)) as client:
        before = time.time()
        task = task_of(await client.post(URL, json=body()), "succeeded")
        after = time.time()
    assert int(before + 3600) <= expires_of(task["urls"][0]) <= int(after + 3600)
    assert task["expired"] == iso(expires_of(task["urls"][0]))


async def test_stream_answers_events_and_partials_are_billed(client: httpx.AsyncClient) -> None:
    response = await client.post(URL, json=body(stream=True, partial_images="2"))
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    found = events(response.text)
    assert [name for name, _ in found] == [
        "image_edit.partial_image",
        "image_edit.partial_image",
        "image_edit.completed",
    ]
    streamed = found[-1][1]["usage"]
    plain = task_of(await client.post(URL, json=body()), "succeeded")["usage"]
    # Each partial image costs 100 more image-output tokens.
    assert streamed["output_tokens"] == plain["output_tokens"] + 200
    assert streamed["input_tokens"] == plain["input_tokens"]


async def test_partial_images_without_stream_answers_the_envelope(
    client: httpx.AsyncClient,
) -> None:
    response = await client.post(URL, json=body(partial_images="2"))
    assert response.headers["content-type"] == "application/json"
    task_of(response, "succeeded")


async def test_mask_and_url_references(client: httpx.AsyncClient) -> None:
    request = body(
        images=[
            {"image_url": data_url(png_bytes((1024, 1024)))},
            {"image_url": "https://example.com/input.png"},  # a placeholder, nothing fetched
        ],
        mask={"image_url": data_url(mask_bytes((1024, 1024), (0, 0, 512, 512)))},
    )
    task_of(await client.post(URL, json=request), "succeeded")


async def test_a_result_link_sent_back_is_the_image_itself(client: httpx.AsyncClient) -> None:
    first = task_of(await client.post(URL, json=body()), "succeeded")
    link = first["urls"][0]
    result = (await client.get(link)).content

    async def pixels(reference: str) -> bytes:
        request = body(images=[{"image_url": reference}], size="1536x1024")
        task = task_of(await client.post(URL, json=request), "succeeded")
        data = (await client.get(task["urls"][0])).content
        return decode(data).convert("RGB").tobytes()

    # An edit of the link draws exactly what an edit of the same bytes inline draws.
    assert await pixels(link) == await pixels(data_url(result))
    assert await pixels(link) != await pixels("https://example.com/elsewhere.png")


INVALID = [
    pytest.param({"images": []}, "images: List should have at least 1 item(s)", id="no-images"),
    pytest.param(
        {"images": [{"image_url": "https://example.com/a.png", "file_id": "file-x"}]},
        "images[0]: Provide exactly one of 'image_url' or 'file_id'.",
        id="both-keys",
    ),
    pytest.param(
        {"images": [{"url": "https://example.com/a.png"}]},
        "images[0]: Provide exactly one of 'image_url' or 'file_id'.",
        id="other-key",
    ),
    pytest.param(
        {"images": [{"image_url": "data:image/png;base64,AAAA"}]},
        "images[0]: The image is not a PNG, JPEG or WebP image.",
        id="not-an-image",
    ),
    pytest.param(
        {"size": "2048x1152"},
        "size: Invalid value: '2048x1152'. Supported values are: '1024x1024', '1024x1536', "
        "'1536x1024', and 'auto'.",
        id="size",
    ),
    pytest.param(
        {"model": "gpt-image-1"},
        "model: Input should be 'gpt-image-1.5', got 'gpt-image-1'",
        id="model",
    ),
    pytest.param({"n": 11}, "n: Input should be less than or equal to 10", id="n-high"),
    pytest.param({"quality": 3}, "quality: Input should be a string", id="quality-type"),
    pytest.param({"async": "yes"}, "async: Input should be a boolean", id="async-type"),
    pytest.param({"seed": 7}, "seed: Unknown parameter.", id="unknown-field"),
    pytest.param(
        {"output_compression": 50},
        "output_compression: output_compression is only supported for the jpeg and webp "
        "output formats, not 'png'.",
        id="compression-png",
    ),
    pytest.param(
        {"background": "transparent", "output_format": "jpeg"},
        "background: Transparent background requires output_format png or webp, got 'jpeg'.",
        id="transparent-jpeg",
    ),
    pytest.param(
        {"mask": {"image_url": data_url(png_bytes((1024, 1024)))}},
        "mask: The mask must have an alpha channel.",
        id="mask-no-alpha",
    ),
    pytest.param(
        {"mask": {"image_url": data_url(mask_bytes((512, 512), (0, 0, 10, 10)))}},
        "mask: The mask must have the same dimensions as the first image (1024x1024), got 512x512.",
        id="mask-size",
    ),
]


@pytest.mark.parametrize(("change", "message"), INVALID)
async def test_invalid_requests_name_the_field(
    client: httpx.AsyncClient, change: dict[str, Any], message: str
) -> None:
    assert_error(await client.post(URL, json=body(**change)), 400, message)


async def test_missing_fields_are_all_named(client: httpx.AsyncClient) -> None:
    assert_error(
        await client.post(URL, json={}),
        400,
        "images: Field required; model: Field required; prompt: Field required",
    )


async def test_bodies_that_are_not_json_objects(client: httpx.AsyncClient) -> None:
    assert_error(
        await client.post(URL, content=b"{", headers={"content-type": "application/json"}),
        400,
        "The request body must be valid JSON.",
    )
    assert_error(
        await client.post(URL, json=[PROMPT]), 400, "The request body must be a JSON object."
    )


async def test_keys_are_checked() -> None:
    app = fast_app(api_keys={"aa": ("sk-good",)})
    async with client_for(app, headers={}) as client:
        assert_error(
            await client.post(URL, json=body()),
            401,
            "Missing API key: send it as 'Authorization: Bearer <key>'.",
        )
        bad = await client.post(URL, json=body(), headers={"Authorization": "Bearer sk-bad"})
        assert_error(bad, 401, "Invalid API key.")
        key = await client.post(URL, json=body(), headers={"Authorization": "Key sk-good"})
        assert_error(key, 401, "Missing API key: send it as 'Authorization: Bearer <key>'.")
        good = await client.post(URL, json=body(), headers={"Authorization": "Bearer sk-good"})
        task_of(good, "succeeded")


async def test_insufficient_credit_is_a_400_naming_it() -> None:
    async with client_for(fast_app(default_balance_usd=0.0)) as client:
        assert_error(
            await client.post(URL, json=body()),
            400,
            "insufficient_credit: the account balance is too low for this request.",
        )


async def test_rate_limit_is_a_429_with_retry_after() -> None:
    async with client_for(fast_app(rate_limit=RateLimit(limit=1, window_seconds=60))) as client:
        task_of(await client.post(URL, json=body()), "succeeded")
        limited = await client.post(URL, json=body())
        assert_error(limited, 429, "Rate limit exceeded, please try again later.")
        assert 1 <= int(limited.headers["retry-after"]) <= 60


async def test_blocked_prompts_are_refused() -> None:
    async with client_for(fast_app(blocked_terms=("forbidden",))) as client:
        refused = await client.post(URL, json=body(prompt="A forbidden picture"))
        assert_error(refused, 400, "prompt: The request was rejected by the safety system.")


@pytest.mark.parametrize(
    ("outcome", "message"),
    [
        ("INFERENCE_FAILURE", "Image generation failed: an internal error occurred."),
        ("INFERENCE_TIMEOUT", "Image generation failed: the task timed out."),
        (
            "CONTENT_BLOCKED",
            "Image generation failed: the request was rejected by the safety system.",
        ),
    ],
)
async def test_a_failed_generation_is_a_500_and_a_failed_task(outcome: str, message: str) -> None:
    async with client_for(fast_app(steering=True)) as client:
        failed = await client.post(URL, json=body(), headers={"X-Imgemu-Outcome": outcome})
        assert_error(failed, 500, message)


async def test_drawn_failures_fail_the_call() -> None:
    async with client_for(fast_app(failure_rate=1.0)) as client:
        failed = await client.post(URL, json=body())
        assert_error(failed, 500, "Image generation failed: an internal error occurred.")


async def test_bad_steering_headers_are_400s() -> None:
    async with client_for(fast_app(steering=True)) as client:
        bad = await client.post(URL, json=body(), headers={"X-Imgemu-Latency": "soon"})
        assert_error(bad, 400, "X-Imgemu-Latency must be a number of seconds >= 0")


async def test_unknown_paths_and_methods_under_api_answer_the_envelope(
    client: httpx.AsyncClient,
) -> None:
    assert_error(await client.get("/api/v2/nothing"), 404, "Not found: GET /api/v2/nothing")
    # The document lists no 405; the answer has the same envelope all the same.
    assert_error(await client.get(URL), 405, "Method Not Allowed", documented=False)
    assert_error(await client.delete("/api/v1/files"), 405, "Method Not Allowed", documented=False)


async def _bytes_of(app_seed: int, request: dict[str, Any]) -> list[bytes]:
    async with client_for(fast_app(seed=app_seed)) as client:
        task = task_of(await client.post(URL, json=request), "succeeded")
        return [(await client.get(url)).content for url in task["urls"]]


async def test_same_seed_and_request_give_the_same_bytes() -> None:
    request = body(n=2, output_format="jpeg", output_compression=90, quality="low")
    first = await _bytes_of(7, request)
    assert first == await _bytes_of(7, request)
    assert first != await _bytes_of(8, request)
    async with client_for(fast_app(seed=7)) as client:
        # Within one run a repeated request draws the same pictures under a new request id.
        one = task_of(await client.post(URL, json=request), "succeeded")
        two = task_of(await client.post(URL, json=request), "succeeded")
        for a, b in zip(one["urls"], two["urls"], strict=True):
            image_a = decode((await client.get(a)).content)
            image_b = decode((await client.get(b)).content)
            assert image_a.tobytes() == image_b.tobytes()
