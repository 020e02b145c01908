"""Queue handlers: parse the request, call ``QueueService``, render the queue dialect."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from emulator.domain.errors import DomainError, InvalidBody
from emulator.domain.queue import Snapshot
from emulator.http.common import NotJson, app_base, json_response, load_json
from emulator.http.middleware.gateway import key_of
from emulator.http.middleware.steering import steering_of
from emulator.http.queue import render
from emulator.state import Emulator

_TRUE = ("1", "true")


def _emulator(request: Request) -> Emulator:
    emulator: Emulator = request.app.state.emulator
    return emulator


class QueueHandlers:
    """The four operations of one queue provider (the gateway has taken the key already)."""

    def __init__(self, provider: str, prefix: str) -> None:
        self.provider = provider
        self.prefix = prefix

    def _base(self, request: Request) -> str:
        return app_base(request) + self.prefix

    def _refuse(self, exc: DomainError, operation: str) -> Response:
        return render.error_response(exc, provider=self.provider, operation=operation)

    async def submit(self, request: Request) -> Response:
        emulator = _emulator(request)
        scope = request.scope
        try:
            model = request.path_params["model_id"]
            emulator.queue.operation(self.provider, "submit", model)
            body = _parse_json(await request.body())
            submitted = await emulator.queue.submit(
                self.provider,
                key_of(scope),
                model,
                body,
                query_keys=_query_keys(request),
                header_names=frozenset(request.headers.keys()),
                steering=steering_of(scope),
            )
        except DomainError as exc:
            return self._refuse(exc, "submit")
        urls = render.Urls(self._base(request), model, submitted.job.request_id)
        return json_response(render.submit_body(submitted.job, urls, submitted.queue_position))

    async def status(self, request: Request) -> Response:
        emulator = _emulator(request)
        try:
            snap = await self._snapshot(request, emulator)
        except DomainError as exc:
            return self._refuse(exc, "status")
        with_logs = _logs_asked(request)
        urls = render.Urls(self._base(request), snap.job.model, snap.job.request_id)
        return json_response(render.status_body(snap, urls, emulator.clock.now(), with_logs))

    async def result(self, request: Request) -> Response:
        emulator = _emulator(request)
        try:
            snap = await self._snapshot(request, emulator)
        except DomainError as exc:
            return self._refuse(exc, "result")
        if not snap.state.terminal:
            urls = render.Urls(self._base(request), snap.job.model, snap.job.request_id)
            return json_response(render.status_body(snap, urls, emulator.clock.now(), False), 202)
        if snap.state.error_type is not None:
            return render.result_failure(snap)
        base = app_base(request)
        links = [f"{base}/{emulator.files.link(snap.job, output)}" for output in snap.job.outputs]
        return json_response(render.result_body(snap.job, links))

    async def cancel(self, request: Request) -> Response:
        emulator = _emulator(request)
        params = request.path_params
        try:
            await emulator.queue.cancel(
                self.provider, key_of(request.scope), params["model_id"], params["request_id"]
            )
        except DomainError as exc:
            return self._refuse(exc, "cancel")
        return render.cancel_accepted()

    async def _snapshot(self, request: Request, emulator: Emulator) -> Snapshot:
        params = request.path_params
        return await emulator.queue.snapshot(
            self.provider, key_of(request.scope), params["model_id"], params["request_id"]
        )

    async def status_stream(self, request: Request) -> Response:
        return json_response({"detail": "SSE streaming not supported"}, 400)


async def unrouted(scope: Scope, receive: Receive, send: Send) -> None:
    """What the queue answers for a path none of its routes takes (an ASGI app)."""
    request = Request(scope, receive)
    await render.unrouted(request.method, request.url.path)(scope, receive, send)


def _logs_asked(request: Request) -> bool:
    """``?logs=1`` or ``?logs=true``; a read without a query (the usual poll) parses none."""
    if not request.scope.get("query_string"):
        return False
    return request.query_params.get("logs", "").lower() in _TRUE


def _query_keys(request: Request) -> frozenset[str]:
    if not request.scope.get("query_string"):
        return frozenset()
    return frozenset(request.query_params.keys())


def _parse_json(raw: bytes) -> Any:
    try:
        return load_json(raw)
    except NotJson:
        raise InvalidBody("not_json") from None
