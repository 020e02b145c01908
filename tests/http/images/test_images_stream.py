"""``stream=true``: partial images, one completed event per image, keep-alives, errors."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from PIL import ImageChops

from tests.helpers import RunningServer, asgi_client, decode, events, fast_app, png_bytes
from tests.support.images import BEARER, PROMPT

URL = "/v1/images/generations"
REQUESTED = ("size", "quality", "background", "output_format")


@pytest.mark.anyio
async def test_partials_then_completed_each_a_real_image(client: httpx.AsyncClient) -> None:
    body = {"model": "gpt-image-1", "prompt": PROMPT, "stream": True, "partial_images": 2}
    response = await client.post(URL, json={**body, "size": "1536x1024"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    assert response.headers["x-request-id"].startswith("req_")
    found = events(response.text)
    assert [name for name, _ in found] == [
        "image_generation.partial_image",
        "image_generation.partial_image",
        "image_generation.completed",
    ]
    for name, data in found:
        assert data["type"] == name
        assert isinstance(data["created_at"], int)
        # Events echo the settings as requested: quality and background stay "auto".
        assert [data[k] for k in REQUESTED] == ["1536x1024", "auto", "auto", "png"]
    assert [data["partial_image_index"] for _, data in found[:2]] == [0, 1]
    assert all("usage" not in data for _, data in found[:2])
    usage = found[-1][1]["usage"]
    assert usage["output_tokens"] == 1568 + 2 * 100  # medium 1536x1024, +100 per partial
    final = decode(found[-1][1]["b64_json"])
    partials = [decode(data["b64_json"]) for _, data in found[:2]]
    assert all(p.size == final.size == (1536, 1024) for p in partials)
    for partial in partials:  # a rougher render of the same picture, not the final one
        assert ImageChops.difference(partial.convert("RGB"), final.convert("RGB")).getbbox()


@pytest.mark.anyio
async def test_n_images_each_get_their_events_and_usage_adds_up(
    client: httpx.AsyncClient,
) -> None:
    body = {"model": "gpt-image-1.5", "prompt": PROMPT, "stream": True, "partial_images": 1}
    found = events((await client.post(URL, json={**body, "n": 3, "quality": "low"})).text)
    names = [name.rsplit(".", 1)[1] for name, _ in found]
    assert names == ["partial_image", "completed"] * 3
    completed = [data for name, data in found if name.endswith("completed")]
    assert len({data["b64_json"] for data in completed}) == 3
    assert sum(data["usage"]["output_tokens"] for data in completed) == 3 * (272 + 100)
    assert [data["partial_image_index"] for name, data in found if "partial" in name] == [0] * 3


@pytest.mark.anyio
async def test_no_partials_means_one_completed_event(client: httpx.AsyncClient) -> None:
    body = {"model": "gpt-image-2", "prompt": PROMPT, "stream": True, "size": "1024x1024"}
    found = events((await client.post(URL, json=body)).text)
    assert [name for name, _ in found] == ["image_generation.completed"]
    assert found[0][1]["usage"]["output_tokens"] == 1756


@pytest.mark.anyio
async def test_edits_stream_image_edit_events(client: httpx.AsyncClient) -> None:
    files = {"image": ("in.png", png_bytes((1024, 1024)), "image/png")}
    data = {"model": "gpt-image-1.5", "prompt": PROMPT, "stream": "true", "partial_images": "1"}
    response = await client.post("/v1/images/edits", data=data, files=files)
    assert [name for name, _ in events(response.text)] == [
        "image_edit.partial_image",
        "image_edit.completed",
    ]


@pytest.mark.anyio
async def test_a_failure_after_the_stream_began_is_an_error_event() -> None:
    app = fast_app(steering=True)
    async with asgi_client(app, BEARER) as client:
        body: dict[str, Any] = {"model": "gpt-image-1", "prompt": PROMPT, "stream": True}
        response = await client.post(
            URL, json=body, headers={"X-Imgemu-Outcome": "INFERENCE_FAILURE"}
        )
    assert response.status_code == 200  # the stream had begun
    found = events(response.text)
    assert [name for name, _ in found] == ["error"]  # no partials asked for: only the error
    error = found[0][1]
    assert error["type"] == "error"
    assert set(error["error"]) == {"message", "type", "param", "code"}
    assert error["error"]["code"] == "server_error"


@pytest.mark.anyio
async def test_a_stream_that_fails_midway_sends_its_early_partials_first() -> None:
    app = fast_app(steering=True)
    async with asgi_client(app, BEARER) as client:
        body = {"model": "gpt-image-1", "prompt": PROMPT, "stream": True, "partial_images": 3}
        response = await client.post(
            URL, json=body, headers={"X-Imgemu-Outcome": "INFERENCE_TIMEOUT"}
        )
    found = events(response.text)
    # Partials 0 and 1 are due at 1/4 and 2/4 of the time: before the midpoint; then it fails.
    assert [name for name, _ in found] == [
        "image_generation.partial_image",
        "image_generation.partial_image",
        "error",
    ]
    assert decode(found[0][1]["b64_json"]).size == (1024, 1024)
    assert found[-1][1]["error"]["message"] == "Request timed out."


@pytest.mark.server
def test_events_are_paced_and_idle_time_carries_keepalives(
    serve: Callable[[Any], RunningServer],
) -> None:
    # gpt-image-1 low 1024x1024 is 15 s; x0.05 = 0.75 s, split over 2 partials and the final.
    server = serve(fast_app(time_scale=0.05, latency_sigma=0.0, keepalive_seconds=0.1))
    body = {"model": "gpt-image-1", "prompt": PROMPT, "stream": True, "partial_images": 2}
    body["quality"] = "low"
    arrivals: list[tuple[float, str]] = []
    start = time.monotonic()
    with httpx.stream(
        "POST", server.base_url + URL, json=body, headers=BEARER, timeout=30
    ) as response:
        assert response.status_code == 200
        for line in response.iter_lines():
            if line.startswith(("event:", ":")):
                arrivals.append((time.monotonic() - start, line))
    names = [line for _, line in arrivals if line.startswith("event:")]
    assert names == [
        "event: image_generation.partial_image",
        "event: image_generation.partial_image",
        "event: image_generation.completed",
    ]
    assert any(line.startswith(": keep-alive") for _, line in arrivals)
    times = [t for t, line in arrivals if line.startswith("event:")]
    # Due at a third, two thirds and the end of 0.75 s: never early (lateness is the machine's).
    assert times[0] >= 0.2
    assert times[1] >= 0.45
    assert times[2] >= 0.7
