"""Queue handlers: parse the request, call ``QueueService``, render the queue dialect.

Submit and status, the operations a load test drives, are plain ASGI apps
(``SubmitEndpoint``, ``StatusEndpoint``): they read the scope and the body themselves and send
their answer without Starlette's ``Request`` and ``Response`` objects, byte for byte the answer
those would send. The other operations are ``QueueHandlers``' request -> response methods.
"""

from __future__ import annotations

import math
from typing import Any

from starlette.datastructures import QueryParams
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from emulator.domain.errors import (
    AlreadyCompleted,
    BadRequestTimeout,
    DomainError,
    InvalidBody,
    RateLimited,
)
from emulator.domain.queue import Snapshot
from emulator.http.common import (
    NotJson,
    app_base,
    dump_json,
    json_response,
    load_json,
    read_body,
    scope_base,
    send_json,
)
from emulator.http.middleware.gateway import key_of
from emulator.http.middleware.journal import FIELDS, JOB, STATE
from emulator.http.middleware.request_id import request_id as request_id_of
from emulator.http.middleware.steering import steering_of
from emulator.http.queue import render
from emulator.state import Emulator

_TRUE = ("1", "true")
# fal's start deadline: seconds a job may wait for a worker, more than fal's documented minimum.
_TIMEOUT = "x-fal-request-timeout"
_TIMEOUT_KEY = _TIMEOUT.encode()
MIN_START_TIMEOUT = 0.1


def _emulator(request: Request) -> Emulator:
    emulator: Emulator = request.app.state.emulator
    return emulator


class QueueHandlers:
    """Result, cancel, and the status stream and sync call (not offered) of one queue provider
    (the gateway has taken the key already)."""

    def __init__(self, provider: str, prefix: str) -> None:
        self.provider = provider
        self.prefix = prefix

    def _base(self, request: Request) -> str:
        return app_base(request) + self.prefix

    def _refuse(self, exc: DomainError, operation: str) -> Response:
        return render.error_response(exc, provider=self.provider, operation=operation)

    async def result(self, request: Request) -> Response:
        emulator = _emulator(request)
        try:
            snap = await self._snapshot(request, emulator)
        except DomainError as exc:
            return self._refuse(exc, "result")
        request.scope[STATE] = snap.state.status.value
        if not snap.state.terminal:
            job_id = {render.REQUEST_ID_HEADER: snap.job.request_id}
            url = render.request_url(self._base(request), snap.job.model, snap.job.request_id)
            body = render.status_body(snap, url, emulator.clock.now(), False)
            return json_response(body, 202, job_id)
        if snap.state.error_type is not None:
            return render.result_failure(snap)
        base = app_base(request)
        links = [f"{base}/{emulator.files.link(snap.job, output)}" for output in snap.job.outputs]
        job_id = {render.REQUEST_ID_HEADER: snap.job.request_id}
        return json_response(render.result_body(snap.job, links), headers=job_id)

    async def cancel(self, request: Request) -> Response:
        emulator = _emulator(request)
        params = request.path_params
        try:
            job = await emulator.queue.cancel(
                self.provider, key_of(request.scope), params["model_id"], params["request_id"]
            )
        except AlreadyCompleted:
            return render.already_completed(params["request_id"])
        except DomainError as exc:
            return self._refuse(exc, "cancel")
        return render.cancel_accepted(job.request_id)

    async def _snapshot(self, request: Request, emulator: Emulator) -> Snapshot:
        params = request.path_params
        return await emulator.queue.snapshot(
            self.provider, key_of(request.scope), params["model_id"], params["request_id"]
        )

    async def status_stream(self, request: Request) -> Response:
        return json_response({"detail": "SSE streaming not supported"}, 400)

    async def sync(self, request: Request) -> Response:
        """The blocking call fal-style queues may offer, which these providers do not."""
        return json_response({"detail": "Not Found"}, 404)


class SubmitEndpoint:
    """``POST .../v1/queue/{model_id}`` as an ASGI app (the gateway has taken the key)."""

    def __init__(self, provider: str, prefix: str) -> None:
        self.provider = provider
        self.prefix = prefix

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        emulator: Emulator = scope["app"].state.emulator
        queue = emulator.queue
        try:
            model = scope["path_params"]["model_id"]
            queue.operation(self.provider, "submit", model)
            body = scope[FIELDS] = _parse_json(await read_body(receive))
            names = frozenset([name.decode("latin-1") for name, _ in scope["headers"]])
            submitted = await queue.submit(
                self.provider,
                key_of(scope),
                model,
                body,
                query_keys=_query_keys(scope),
                header_names=names,
                steering=steering_of(scope),
                start_timeout=_start_timeout(scope) if _TIMEOUT in names else None,
            )
        except DomainError as exc:
            # A refusal in the gateway's shape (the concurrency limit's) carries the request's id.
            rid = request_id_of(scope, "queue") if isinstance(exc, RateLimited) else ""
            await _refusal(exc, self.provider, "submit", rid)(scope, receive, send)
            return
        request_id = scope[JOB] = submitted.job.request_id
        url = render.request_url(scope_base(scope) + self.prefix, model, request_id)
        await send_json(
            send,
            dump_json(render.submit_body(request_id, url, submitted.queue_position)),
            extra=render.request_id_header(request_id),
        )


class StatusEndpoint:
    """``GET .../v1/queue/{model_id}/requests/{request_id}/status`` as an ASGI app."""

    def __init__(self, provider: str, prefix: str) -> None:
        self.provider = provider
        self.prefix = prefix

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        emulator: Emulator = scope["app"].state.emulator
        params = scope["path_params"]
        try:
            snap = await emulator.queue.snapshot(
                self.provider, key_of(scope), params["model_id"], params["request_id"]
            )
        except DomainError as exc:
            await _refusal(exc, self.provider, "status")(scope, receive, send)
            return
        scope[STATE] = snap.state.status.value
        with_logs = _logs_asked(scope)
        job = snap.job
        url = render.request_url(scope_base(scope) + self.prefix, job.model, job.request_id)
        await send_json(
            send,
            dump_json(render.status_body(snap, url, emulator.clock.now(), with_logs)),
            200 if snap.state.terminal else emulator.queue.policy.pending_status,
            render.request_id_header(job.request_id),
        )


def _refusal(exc: DomainError, provider: str, operation: str, request_id: str = "") -> Response:
    return render.error_response(exc, provider=provider, operation=operation, request_id=request_id)


async def unrouted(scope: Scope, receive: Receive, send: Send) -> None:
    """What the queue answers for a path none of its routes takes (an ASGI app)."""
    request = Request(scope, receive)
    await render.unrouted(request.method, request.url.path)(scope, receive, send)


def _logs_asked(scope: Scope) -> bool:
    """``?logs=1`` or ``?logs=true``; a read without a query (the usual poll) parses none."""
    query = scope.get("query_string")
    if not query:
        return False
    return QueryParams(query).get("logs", "").lower() in _TRUE


def _start_timeout(scope: Scope) -> float:
    """The ``X-Fal-Request-Timeout`` deadline in seconds (read only when the header is there)."""
    text = ""
    for name, value in scope["headers"]:
        if name == _TIMEOUT_KEY:
            text = value.decode("latin-1")
            break
    try:
        seconds = float(text)
    except ValueError:
        seconds = math.nan
    if not (MIN_START_TIMEOUT < seconds < math.inf):
        raise BadRequestTimeout(text, MIN_START_TIMEOUT)
    return seconds


def _query_keys(scope: Scope) -> frozenset[str]:
    query = scope.get("query_string")
    if not query:
        return frozenset()
    return frozenset(QueryParams(query).keys())


def _parse_json(raw: bytes) -> Any:
    try:
        return load_json(raw)
    except NotJson as exc:
        raise InvalidBody(exc.problem) from None
