"""The contract suite's own tests: the contract key, fast emulators, broken variants (ASGI
middleware that rewrites the emulator's answers)."""

from __future__ import annotations

import base64
import io
import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from starlette.applications import Starlette

from clients._core import emulator_base_url
from tests.helpers import RunningServer, decode, fast_app

KEY = "contract-key"
PROVIDERS = ("seacloud", "odirouter", "openai", "agcloud", "aa")
EXAMPLES = 5  # Schemathesis cases per operation and mode: enough to exercise every check

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
ASGI = Callable[
    [Scope, Callable[[], Awaitable[Message]], Callable[[Message], Awaitable[None]]], Awaitable[None]
]


def contract_app() -> Starlette:
    """An emulator whose jobs finish at once; only ``KEY`` is valid (so auth checks bite)."""
    return fast_app(api_keys={p: (KEY,) for p in PROVIDERS})


def target_of(server: RunningServer, provider: str) -> str:
    """The provider's base URL on the emulator, in the clients' convention (``.../v1``,
    ``.../seacloud/model``, the root for 典名词元)."""
    return emulator_base_url(provider, server.base_url)


def status_goes_back(app: Any) -> Rewrite:
    """A queue whose finished jobs report ``IN_PROGRESS`` again from the second status on."""
    seen: set[str] = set()

    def rewrite(body: bytes) -> bytes:
        data = json.loads(body)
        if data.get("status") != "COMPLETED":
            return body
        if data["request_id"] not in seen:
            seen.add(data["request_id"])
            return body
        data["status"] = "IN_PROGRESS"
        for key in ("metrics", "error", "error_type"):
            data.pop(key, None)
        return json.dumps(data).encode()

    return Rewrite(app, lambda s: str(s["path"]).endswith("/status"), rewrite)


def wrong_image_size(app: Any) -> Rewrite:
    """OpenAI generations whose images come back at half the size asked."""

    def rewrite(body: bytes) -> bytes:
        try:
            data = json.loads(body)
        except ValueError:
            return body  # a stream: left alone
        for item in data.get("data") or []:
            item["b64_json"] = halved(item["b64_json"])
        return json.dumps(data).encode()

    return Rewrite(app, lambda s: s["path"] == "/v1/images/generations", rewrite)


def halved(b64: str) -> str:
    """A base64 image (a ``b64_json``) at half its width and height, in its own format."""
    image = decode(b64)
    out = io.BytesIO()
    image.resize((image.width // 2, image.height // 2)).save(out, image.format)
    return base64.b64encode(out.getvalue()).decode()


Answer = tuple[int, list[tuple[bytes, bytes]], bytes]


class Reshape:
    """ASGI middleware: rewrites status, headers and body of the answers ``match`` selects.

    ``rewrite(scope, status, headers, body)`` returns the new ``(status, headers, body)``; the
    content length is set again afterwards. Streams are buffered whole (as ``ASGITransport``
    does), which is all the contract checks read.
    """

    def __init__(
        self,
        app: Any,
        match: Callable[[Scope], bool],
        rewrite: Callable[[Scope, int, list[tuple[bytes, bytes]], bytes], Answer],
    ) -> None:
        self.app, self.match, self.rewrite = app, match, rewrite

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or not self.match(scope):
            await self.app(scope, receive, send)
            return
        start: Message = {}
        chunks: list[bytes] = []

        async def capture(message: Message) -> None:
            if message["type"] == "http.response.start":
                start.update(message)
                return
            if message["type"] != "http.response.body":
                return
            chunks.append(message.get("body", b""))
            if message.get("more_body"):
                return
            headers = [(k, v) for k, v in start["headers"] if k.lower() != b"content-length"]
            status, headers, body = self.rewrite(scope, start["status"], headers, b"".join(chunks))
            headers.append((b"content-length", str(len(body)).encode()))
            await send({**start, "status": status, "headers": headers})
            await send({"type": "http.response.body", "body": body})

        await self.app(scope, receive, capture)


class Rewrite(Reshape):
    """``Reshape`` of the body alone: ``rewrite(body)`` returns the new body."""

    def __init__(
        self, app: Any, match: Callable[[Scope], bool], rewrite: Callable[[bytes], bytes]
    ) -> None:
        super().__init__(
            app, match, lambda _, status, headers, body: (status, headers, rewrite(body))
        )


def json_answers(
    app: Any,
    match: Callable[[Scope], bool],
    change: Callable[[int, Any], tuple[int, Any] | None],
) -> Reshape:
    """Rewrite JSON answers: ``change(status, data)`` returns ``(status, data)`` or None (keep)."""

    def rewrite(
        scope: Scope, status: int, headers: list[tuple[bytes, bytes]], body: bytes
    ) -> Answer:
        try:
            data = json.loads(body)
        except ValueError:
            return status, headers, body
        changed = change(status, data)
        if changed is None:
            return status, headers, body
        return changed[0], headers, json.dumps(changed[1]).encode()

    return Reshape(app, match, rewrite)


def header(headers: list[tuple[bytes, bytes]], name: bytes) -> str:
    """One header's value ("" when absent)."""
    return next((v.decode() for k, v in headers if k.lower() == name), "")


def set_header(headers: list[tuple[bytes, bytes]], name: bytes, value: str) -> None:
    """Replace one header's value in place."""
    headers[:] = [(k, v) for k, v in headers if k.lower() != name]
    headers.append((name, value.encode()))


def accepts_every_key(app: Any) -> ASGI:
    """A gateway that accepts every key: any ``Authorization`` header is replaced by a valid
    one before the emulator sees it (a request without the header is still refused)."""

    async def wrapped(scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            headers = [(k, v) for k, v in scope["headers"] if k.lower() != b"authorization"]
            if len(headers) < len(scope["headers"]):
                headers.append((b"authorization", f"Bearer {KEY}".encode()))
            scope = {**scope, "headers": headers}
        await app(scope, receive, send)

    return wrapped


def result_before_completion(app: Any) -> Reshape:
    """Status says ``IN_PROGRESS`` until the result has been served (200) twice.

    Lying once would look like a job that finished between two calls, which a check must
    accept; a status that still says ``IN_PROGRESS`` right after a served result cannot be.
    """
    served: dict[str, int] = {}

    def change(status: int, data: Any) -> tuple[int, Any] | None:
        rid = data.get("request_id")
        if "outputs" in data:  # a served result
            served[rid] = served.get(rid, 0) + 1
            return None
        if data.get("status") != "COMPLETED" or served.get(rid, 0) >= 2:
            return None
        kept = {k: v for k, v in data.items() if k not in ("metrics", "error", "error_type")}
        return status, {**kept, "status": "IN_PROGRESS"}

    return json_answers(app, lambda s: str(s["path"]).endswith(("/status", "/response")), change)
