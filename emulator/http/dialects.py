"""Answers in a dialect chosen by the request rather than by a handler.

The gateway refuses requests for every provider (and shows a key's rate limits on the answers of
the providers whose dialect has headers for them), and a path no route takes (or a method a route
does not take) is answered in the dialect its prefix belongs to (``providers.dialect_of``).
Each answer is written by that dialect's renderer; this module only picks the renderer and
hands it the request's id.
"""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from emulator.domain.errors import DomainError
from emulator.http.aa import render as aa_render
from emulator.http.common import json_response
from emulator.http.images import render as images_render
from emulator.http.middleware.endpoint import Endpoint
from emulator.http.middleware.gateway import QuotaHeaders, Refusal
from emulator.http.middleware.request_id import HEADER, request_id
from emulator.http.queue import render as queue_render
from emulator.http.queue.handlers import unrouted as queue_unrouted
from emulator.providers import dialect_of


def refusal(endpoint: Endpoint) -> Refusal:
    """How ``endpoint``'s provider answers a request its gateway refuses."""
    provider, kind = endpoint.provider, endpoint.kind
    if endpoint.dialect == "queue":

        def queue(exc: DomainError, scope: Scope) -> Response:
            rid = request_id(scope, "queue")
            return queue_render.error_response(
                exc, provider=provider, operation=kind, request_id=rid
            )

        return queue
    if endpoint.dialect == "images":
        return lambda exc, scope: images_render.error_response(exc)
    return lambda exc, scope: aa_render.error_response(exc, request_id(scope, "aa"))


def quota_headers(endpoint: Endpoint) -> QuotaHeaders | None:
    """How ``endpoint``'s provider shows a key's rate limits on its answers: the Images
    dialect's ``x-ratelimit-*`` headers; the others send none."""
    return images_render.quota_headers if endpoint.dialect == "images" else None


async def http_error(request: Request, exc: Exception) -> Response:
    """An ``HTTPException`` (a method a route does not take) in the dialect of its path."""
    assert isinstance(exc, HTTPException)
    headers = dict(exc.headers or {})
    dialect = dialect_of(request.url.path)
    if dialect == "queue":
        return json_response({"detail": exc.detail}, exc.status_code, headers)
    rid = request_id(request.scope, dialect)
    headers[HEADER] = rid
    if dialect == "aa":
        return aa_render.error(exc.status_code, str(exc.detail), rid, headers)
    body = images_render.error_body(str(exc.detail), "invalid_request_error", None, None)
    return json_response(body, exc.status_code, headers)


async def unrouted(scope: Scope, receive: Receive, send: Send) -> None:
    """A path no route takes gets a not-found answer in the dialect its prefix belongs to."""
    path: str = scope.get("path", "")
    dialect = dialect_of(path) if scope["type"] == "http" else "queue"
    if dialect == "queue":
        await queue_unrouted(scope, receive, send)
        return
    rid = request_id(scope, dialect)
    if dialect == "aa":
        response = aa_render.unrouted(scope["method"], path, rid)
    else:
        response = images_render.unrouted(scope["method"], path)
    response.headers[HEADER] = rid
    await response(scope, receive, send)
