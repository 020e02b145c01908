"""One seed repeats every id of a run over HTTP: jobs, tasks, files, and the requests' own ids."""

from __future__ import annotations

import io
import re
from collections import Counter
from typing import Any

import httpx
import pytest
from PIL import Image

from emulator.app import create_app
from emulator.settings import Settings

pytestmark = pytest.mark.anyio

START = 1_790_000_000.0
QUEUE = {"Authorization": "Key k"}
BEARER = {"Authorization": "Bearer sk-k"}
NOW = {"X-Imgemu-Latency": "0"}
PREFIX = re.compile(
    "mmsu_|task_|file-|req_"
)  # a generation that is done at once, on a clock standing still


def _png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (1024, 1024), (40, 90, 160)).save(out, "PNG")
    return out.getvalue()


async def _run(seed: int) -> list[str]:
    """Every id a mixed sequence of requests over all the providers is answered with."""
    settings = Settings(
        clock="virtual",
        clock_start=START,
        time_scale=1.0,
        log_requests="off",
        steering=True,
        seed=seed,
    )
    transport = httpx.ASGITransport(app=create_app(settings))
    ids: list[str] = []
    async with httpx.AsyncClient(transport=transport, base_url="http://e") as http:

        async def call(method: str, path: str, **kw: Any) -> httpx.Response:
            response = await http.request(method, path, **kw)
            assert response.status_code < 500, response.text
            if "x-request-id" in response.headers:
                ids.append(response.headers["x-request-id"])
            return response

        prompt = {"prompt": "a red apple"}
        sub = await call("POST", "/model/v1/queue/gpt_image_1", json=prompt, headers=QUEUE)
        ids.append(sub.json()["request_id"])
        refused = await call("GET", sub.json()["status_url"])  # no key: the queue's refusal
        ids.append(refused.json()["request_id"])
        await call("POST", "/v1/images/generations", json=prompt, headers={**BEARER, **NOW})
        await call("POST", "/v1/images/generations", content=b"{", headers=BEARER)
        upload = await call(
            "POST", "/api/v1/files", files={"file": ("a.png", _png())}, headers=BEARER
        )
        file_id = upload.json()["data"]["file_id"]
        ids.append(file_id)
        body = {
            "model": "gpt-image-1.5",
            "prompt": "a red apple",
            "images": [{"file_id": file_id}],
            "async": True,
        }
        task = await call("POST", "/api/v1/image/generation", json=body, headers=BEARER)
        task_id = task.json()["data"]["task_id"]
        ids.append(task_id)
        await call("GET", f"/api/v1/image/generation/{task_id}", headers=BEARER)
        other = await call(
            "POST", "/odirouter/model/v1/queue/gpt_image_1", json=prompt, headers=BEARER
        )
        ids.append(other.json()["request_id"])
        wrong = await call("POST", "/seacloud/model/v1/queue/gpt_image_1", json=prompt, headers={})
        ids.append(wrong.json()["request_id"])
        await call("GET", "/v1/nowhere", headers=BEARER)
        await call("DELETE", "/api/v1/files", headers=BEARER)
    return ids


async def test_the_same_seed_gives_the_same_ids_and_another_seed_others() -> None:
    first, again, other = await _run(11), await _run(11), await _run(12)
    kinds = Counter(match[0] if (match := PREFIX.match(i)) else "uuid" for i in first)
    assert kinds == {"mmsu_": 2, "uuid": 2, "file-": 1, "task_": 1, "req_": 7}
    assert len(set(first)) == len(first)
    assert first == again
    assert not set(first) & set(other)
