"""The Images protocols' tests (OpenAI, AGCloud): their key, a prompt, the error envelope."""

from __future__ import annotations

from typing import Any

import httpx

BEARER = {"Authorization": "Bearer sk-test"}
PROMPT = "A clean product photo of a red apple on a white table, soft studio lighting."


def error_of(response: httpx.Response) -> dict[str, Any]:
    """The OpenAI error object, after checking the envelope's shape."""
    body = response.json()
    assert set(body) == {"error"}, body
    error: dict[str, Any] = body["error"]
    assert set(error) == {"message", "type", "param", "code"}, error
    assert response.headers["x-request-id"].startswith("req_")
    return error
