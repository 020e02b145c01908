"""The route middleware: the gateway's order of checks per operation, the request ids, steering.

Each provider operation is wrapped in the middleware its ``Endpoint`` asks for; these tests
hold each operation to the order it always answered in (key, rate limit, then the handler's
own checks) and the parts of the app no middleware stands in front of.
"""

from __future__ import annotations

import ast
import inspect
import io
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image

from emulator.app import create_app
from emulator.http.middleware import gateway, request_id, request_log, steering
from emulator.settings import RateLimit, Settings

pytestmark = pytest.mark.anyio

REPO = Path(__file__).resolve().parents[2]
KEY = {"Authorization": "Key k"}
BEARER = {"Authorization": "Bearer sk-k"}
SUBMIT = "/model/v1/queue/gpt_image_1"
UNKNOWN = "/model/v1/queue/gpt_image_9"
PROMPT = {"prompt": "a red apple"}
BAD_OUTCOME = {"X-Imgemu-Outcome": "SOMETIMES"}
STEERING_TEXT = "X-Imgemu-Outcome must be one of success, INFERENCE_FAILURE"


def _app(**overrides: Any) -> Any:
    values: dict[str, Any] = {
        "clock": "virtual",
        "clock_start": 1_790_000_000.0,
        "log_requests": "off",
        "steering": True,
    }
    return create_app(Settings(**{**values, **overrides}))


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with _client(_app()) as client:
        yield client


def _client(app: Any) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://e")


def _png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (1024, 1024), (40, 90, 160)).save(out, "PNG")
    return out.getvalue()


# --- the order of checks ------------------------------------------------------------------


async def test_queue_submit_checks_key_then_rate_then_model_then_body_then_steering() -> None:
    async with _client(_app(rate_limit=RateLimit(limit=1))) as http:
        assert (await http.post(UNKNOWN, content=b"{", headers=BAD_OUTCOME)).status_code == 401
        first = await http.post(UNKNOWN, content=b"{", headers={**KEY, **BAD_OUTCOME})
        assert (first.status_code, first.json()) == (404, {"detail": "App not found: gpt_image_9"})
        limited = await http.post(UNKNOWN, content=b"{", headers={**KEY, **BAD_OUTCOME})
        assert limited.status_code == 429
    async with _client(_app()) as http:
        body = await http.post(SUBMIT, content=b"{", headers={**KEY, **BAD_OUTCOME})
        assert body.json() == {"detail": "Request body is not valid JSON"}
        steered = await http.post(SUBMIT, json=PROMPT, headers={**KEY, **BAD_OUTCOME})
        assert steered.status_code == 400
        assert steered.json()["detail"].startswith(STEERING_TEXT)


async def test_queue_reads_and_cancels_need_a_key_but_not_a_window() -> None:
    async with _client(_app(rate_limit=RateLimit(limit=1))) as http:
        job = (await http.post(SUBMIT, json=PROMPT, headers=KEY)).json()
        assert (await http.post(SUBMIT, json=PROMPT, headers=KEY)).status_code == 429
        for _ in range(3):
            assert (await http.get(job["status_url"], headers=KEY)).status_code == 202
            assert (await http.get(job["response_url"], headers=KEY)).status_code == 202
        assert (await http.get(job["status_url"])).status_code == 401
        assert (await http.put(job["cancel_url"], headers=KEY)).status_code == 202
        # The status stream answers "not supported" to anyone: no gateway in front of it.
        stream = await http.get(job["status_url"] + "/stream")
        assert (stream.status_code, stream.json()) == (
            400,
            {"detail": "SSE streaming not supported"},
        )


async def test_images_check_key_then_rate_then_steering_then_body() -> None:
    url = "/v1/images/generations"
    async with _client(_app(rate_limit=RateLimit(limit=1))) as http:
        assert (await http.post(url, content=b"{", headers=BAD_OUTCOME)).status_code == 401
        steered = await http.post(url, content=b"{", headers={**BEARER, **BAD_OUTCOME})
        assert steered.status_code == 400
        assert steered.json()["error"]["message"].startswith(STEERING_TEXT)
        limited = await http.post(url, content=b"{", headers={**BEARER, **BAD_OUTCOME})
        assert limited.status_code == 429


async def test_aa_uploads_count_against_the_window_and_task_reads_do_not() -> None:
    async with _client(_app(rate_limit=RateLimit(limit=1))) as http:
        files = {"file": ("a.png", _png())}
        assert (await http.post("/api/v1/files", files=files, headers=BEARER)).status_code == 200
        assert (await http.post("/api/v1/files", files=files, headers=BEARER)).status_code == 429
        task = await http.get("/api/v1/image/generation/task_x", headers=BEARER)
        assert (task.status_code, task.json()["message"]) == (404, "Task not found: task_x")
        again = await http.post(
            "/api/v1/image/generation", content=b"{", headers={**BEARER, **BAD_OUTCOME}
        )
        assert again.status_code == 429


async def test_the_control_plane_documents_files_and_index_have_no_gateway(
    http: httpx.AsyncClient,
) -> None:
    assert (await http.get("/_emulator/health")).status_code == 200
    assert (await http.get("/")).status_code == 200
    assert (await http.get("/openapi/seacloud.json")).status_code == 200
    assert (await http.get("/_files/mmsu_x/0.png")).status_code == 403


# --- request ids --------------------------------------------------------------------------


async def test_images_and_aa_answers_carry_one_request_id_and_the_queue_none(
    http: httpx.AsyncClient,
) -> None:
    answers = [
        await http.post("/v1/images/generations", content=b"{", headers=BEARER),
        await http.post("/v1/images/generations", content=b"{"),
        await http.get("/v1/images/generations", headers=BEARER),
        await http.get("/v1/nowhere"),
        await http.post("/api/v1/image/generation", content=b"{", headers=BEARER),
        await http.get("/api/v1/image/generation/task_x"),
        await http.delete("/api/v1/files"),
        await http.get("/api/nowhere"),
    ]
    ids = [answer.headers.get_list("x-request-id") for answer in answers]
    assert all(len(found) == 1 and found[0].startswith("req_") for found in ids), ids
    assert len({found[0] for found in ids}) == len(ids)
    aa = [answer for answer in answers if answer.url.path.startswith("/api/")]
    assert all(a.json()["request_id"] == a.headers["x-request-id"] for a in aa)
    queue = [
        await http.post(SUBMIT, json=PROMPT, headers=KEY),
        await http.post(SUBMIT, json=PROMPT),
        await http.get("/model/nowhere"),
        await http.get("/_emulator/health"),
    ]
    assert not any("x-request-id" in answer.headers for answer in queue)


# --- plain ASGI -----------------------------------------------------------------------------


def test_no_base_http_middleware_anywhere() -> None:
    for path in (REPO / "emulator").rglob("*.py"):
        tree = ast.parse(path.read_text())
        names = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
        names |= {n.attr for n in ast.walk(tree) if isinstance(n, ast.Attribute)}
        names |= {a.name for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) for a in n.names}
        assert "BaseHTTPMiddleware" not in names, path


@pytest.mark.parametrize("module", [gateway, request_id, request_log, steering])
def test_each_middleware_is_a_plain_asgi_callable(module: Any) -> None:
    assert module.__doc__
    found = [
        cls
        for _, cls in inspect.getmembers(module, inspect.isclass)
        if cls.__module__ == module.__name__ and "app" in inspect.signature(cls.__init__).parameters
    ]
    assert len(found) == 1, found
    call = found[0].__call__
    assert inspect.iscoroutinefunction(call)
    assert list(inspect.signature(call).parameters) == ["self", "scope", "receive", "send"]
