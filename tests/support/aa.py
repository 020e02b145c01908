"""典名词元's tests (provider ``aa``): its key and paths, request bodies, envelope checks."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import jsonschema_rs
import yaml
from starlette.applications import Starlette

from emulator.spec.loader import document_text
from tests.helpers import asgi_client, data_url, png_bytes

KEY = "sk-aa-test"
BEARER = {"Authorization": f"Bearer {KEY}"}
URL = "/api/v1/image/generation"
FILES = "/api/v1/files"
PROMPT = "Replace the background with a clean white studio setup."
ENVELOPE = {"code", "message", "request_id", "data"}
TASK_KEYS = {"urls", "usage", "expired", "task_id", "task_status"}
USAGE_KEYS = {"images", "seconds", "input_tokens", "output_tokens", "total_tokens"}


DOCUMENT = yaml.safe_load(document_text("aa"))


def conform(schema: str, body: Any) -> None:
    """``body`` is valid under the document's ``components/schemas/<schema>``."""
    root = {"$ref": f"#/components/schemas/{schema}", "components": DOCUMENT["components"]}
    errors = [error.message for error in jsonschema_rs.validator_for(root).iter_errors(body)]
    assert errors == [], (schema, errors, body)


def client_for(app: Starlette, headers: dict[str, str] | None = None) -> httpx.AsyncClient:
    """An in-process client with 典名词元's key (or ``headers``)."""
    return asgi_client(app, BEARER if headers is None else headers, timeout=60)


def body(**fields: Any) -> dict[str, Any]:
    """Seed 004's request with one inline image, plus ``fields``."""
    return {
        "model": "gpt-image-1.5",
        "prompt": PROMPT,
        "images": [{"image_url": data_url(png_bytes((1024, 1024)))}],
        **fields,
    }


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def expires_of(url: str) -> int:
    return int(parse_qs(urlsplit(url).query)["expires"][0])


def task_of(response: httpx.Response, status: str, message: str = "success") -> dict[str, Any]:
    """The task inside a success envelope, after checking the envelope and the task's shape."""
    assert response.status_code == 200, response.text
    envelope: dict[str, Any] = response.json()
    assert set(envelope) == ENVELOPE, envelope
    assert (envelope["code"], envelope["message"]) == (0, message)
    assert envelope["request_id"].startswith("req_")
    assert response.headers["x-request-id"] == envelope["request_id"]
    conform("TaskResponse", envelope)
    task: dict[str, Any] = envelope["data"]
    assert set(task) == TASK_KEYS, task
    assert task["task_status"] == status
    assert task["task_id"].startswith("task_")
    if status == "succeeded":
        assert task["urls"], task
        assert set(task["usage"]) == USAGE_KEYS
        usage = task["usage"]
        assert usage["total_tokens"] == usage["input_tokens"] + usage["output_tokens"]
        assert usage["images"] == len(task["urls"])
        assert {expires_of(url) for url in task["urls"]} == {
            int(
                datetime.strptime(task["expired"], "%Y-%m-%dT%H:%M:%SZ")
                .replace(tzinfo=UTC)
                .timestamp()
            )
        }
    else:
        assert (task["urls"], task["usage"], task["expired"]) == ([], None, None)
    return task


def assert_error(
    response: httpx.Response, status: int, message: str, documented: bool = True
) -> None:
    """An error envelope: ``code`` repeats the status, ``data`` is null, exact message."""
    assert response.status_code == status, response.text
    envelope = response.json()
    if documented:
        conform("ErrorResponse", envelope)
    assert set(envelope) == ENVELOPE, envelope
    assert envelope["request_id"].startswith("req_")
    assert response.headers["x-request-id"] == envelope["request_id"]
    assert (envelope["code"], envelope["message"], envelope["data"]) == (status, message, None)


async def upload(client: httpx.AsyncClient, data: bytes, name: str = "in.png") -> str:
    response = await client.post(FILES, files={"file": (name, data, "image/png")})
    assert response.status_code == 200, response.text
    envelope = response.json()
    conform("UploadResponse", envelope)
    assert set(envelope) == ENVELOPE
    assert (envelope["code"], envelope["message"]) == (0, "success")
    assert set(envelope["data"]) == {"file_id"}
    file_id: str = envelope["data"]["file_id"]
    assert file_id.startswith("file-")
    return file_id
