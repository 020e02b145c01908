"""Request logging as pure ASGI middleware: refused requests with their reason, or all.

A refusal's reason is read from the answer's own error body (each dialect names it in its own
field), so handlers log nothing themselves. Only the status is looked at on the way out;
bodies are kept (at most 4 KiB) only for answers of 400 and above.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from emulator.http.common import NotJson, load_json

_KEEP = 4096


def reason_of(body: bytes) -> str:
    """Why an error answer refused the request, in the words of its body (any dialect)."""
    try:
        data = load_json(body)
    except NotJson:
        return body[:200].decode("utf-8", "replace")
    if not isinstance(data, dict):
        return str(data)[:200]
    error = data.get("error")
    if isinstance(error, dict):  # OpenAI and the queue gateways
        code = error.get("code")
        message = error.get("message", "")
        return f"{code}: {message}" if code else str(message)
    detail = data.get("detail")
    if isinstance(detail, list) and detail and isinstance(detail[0], dict):  # 422 at submit
        first = detail[0]
        where = ".".join(str(p) for p in first.get("loc", ()))
        return f"{where}: {first.get('msg', '')}"
    if detail is not None:  # the queue's {"detail": ...}, with its error_type if any
        kind = data.get("error_type")
        return f"{kind}: {detail}" if kind else str(detail)
    status = data.get("status")
    if isinstance(status, dict):  # the queue's 402
        return str(status.get("message", status))
    if "message" in data:  # 典名词元's envelope
        return str(data["message"])
    return str(status if status is not None else data)[:200]


class RequestLog:
    """Log each request (``everything``) or only those answered 400 and above."""

    def __init__(self, app: ASGIApp, everything: bool = False, logger: str = "imgemu") -> None:
        self.app = app
        self.everything = everything
        self.log = logging.getLogger(f"{logger}.requests")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 0
        body: list[bytes] = []
        kept = 0

        async def send_and_watch(message: Message) -> None:
            nonlocal status, kept
            if message["type"] == "http.response.start":
                status = message["status"]
            elif status >= 400 and kept < _KEEP:
                chunk = message.get("body", b"")[: _KEEP - kept]
                body.append(chunk)
                kept += len(chunk)
            await send(message)

        try:
            await self.app(scope, receive, send_and_watch)
        except Exception:
            if status == 0:  # no answer began: the server answers 500
                status = 500
                body.append(b"unhandled error")
            raise
        finally:
            if status >= 400 or self.everything:
                self._write(scope, status, time.perf_counter() - start, b"".join(body))

    def _write(self, scope: Scope, status: int, seconds: float, body: bytes) -> None:
        client = scope.get("client")
        path = scope.get("path", "")
        query = scope.get("query_string", b"")
        target = f"{path}?{query.decode('latin-1')}" if query else path
        fields: dict[str, Any] = {
            "client": f"{client[0]}:{client[1]}" if client else "-",
            "method": scope.get("method", ""),
            "path": target,
            "status": status,
            "ms": round(seconds * 1000, 1),
        }
        line = f'{fields["client"]} "{fields["method"]} {target}" {status} {fields["ms"]}ms'
        if status >= 400:
            fields["reason"] = reason_of(body) if body else ""
            line += f" {fields['reason']}"
            self.log.warning(line, extra=fields)
        else:
            self.log.info(line, extra=fields)
