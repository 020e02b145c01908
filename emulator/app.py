"""``create_app(settings)``: the one place the Starlette application is assembled."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route
from starlette.types import Receive, Scope, Send

from emulator.http.aa import aa_routes
from emulator.http.aa import render as aa_render
from emulator.http.common import json_response
from emulator.http.control import control_routes
from emulator.http.docs import doc_routes
from emulator.http.files import file_routes
from emulator.http.images import images_routes
from emulator.http.images import render as images_render
from emulator.http.index import index
from emulator.http.queue import queue_routes
from emulator.http.queue.handlers import unrouted
from emulator.http.request_log import RequestLog
from emulator.http.shutdown import Drain
from emulator.providers import BARE_QUEUE_MOUNT, PROVIDERS, Provider, dialect_of
from emulator.runtime import tune_garbage_collector
from emulator.settings import Settings, load
from emulator.state import build


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    headers = dict(exc.headers or {})
    dialect = dialect_of(request.url.path)
    if dialect == "aa":
        request_id = request.app.state.emulator.tasks.new_request_id()
        return aa_render.error(exc.status_code, str(exc.detail), request_id, headers)
    if dialect == "images":
        request_id = request.app.state.emulator.images.new_id("req_")
        body = images_render.error_body(str(exc.detail), "invalid_request_error", None, None)
        return json_response(body, exc.status_code, {**headers, "x-request-id": request_id})
    return json_response({"detail": exc.detail}, exc.status_code, headers)


async def _unrouted(scope: Scope, receive: Receive, send: Send) -> None:
    """A path no route takes gets a not-found answer in the dialect its prefix belongs to."""
    path: str = scope.get("path", "")
    dialect = dialect_of(path) if scope["type"] == "http" else "queue"
    if dialect == "aa":
        request_id = scope["app"].state.emulator.tasks.new_request_id()
        await aa_render.unrouted(scope["method"], path, request_id)(scope, receive, send)
        return
    if dialect == "images":
        request_id = scope["app"].state.emulator.images.new_id("req_")
        response = images_render.unrouted(scope["method"], path, request_id)
        await response(scope, receive, send)
        return
    await unrouted(scope, receive, send)


@asynccontextmanager
async def _lifespan(app: Starlette) -> AsyncIterator[None]:
    """Nothing to start; on shutdown the store lets its connections go (Redis)."""
    yield
    await app.state.emulator.store.close()


def _provider_routes(provider: Provider, mount: str) -> list[BaseRoute]:
    """One provider's routes at one of its mounts, as its protocol has them."""
    if provider.protocol == "queue":
        return queue_routes(provider.name, mount)
    if provider.protocol == "images":
        return images_routes(provider.name)
    return aa_routes()


def create_app(settings: Settings | None = None) -> Starlette:
    """The emulator as an ASGI app: every provider at once, state built fresh."""
    settings = settings or Settings()
    # Every provider at each of its mounts, by its protocol. Routes are tried in order: the
    # bare queue mount (the hot path) first, then the other protocols, then the named queues.
    mounted = [(p, m) for p in PROVIDERS.values() for m in p.mounts(settings.queue_provider)]
    mounted.sort(key=lambda pair: (pair[1] != BARE_QUEUE_MOUNT, pair[0].protocol == "queue"))
    routes = [
        *(route for provider, mount in mounted for route in _provider_routes(provider, mount)),
        *control_routes(),
        *doc_routes(),
        *file_routes(),
    ]
    routes.append(Route("/", index, methods=["GET"]))
    emulator = build(settings)
    # A browser's script may read every header the documents say an answer carries.
    exposed = sorted(set().union(*(d.response_headers for d in emulator.documents.values())))
    app = Starlette(
        routes=routes,
        exception_handlers={HTTPException: _http_error},
        middleware=_middleware(settings, exposed),
        lifespan=_lifespan,
    )
    # Paths no mount can take (e.g. a control character in a request id) still get the
    # queue dialect's not-found answer rather than Starlette's plain text.
    app.router.default = _unrouted
    app.state.emulator = emulator
    app.state.drain = Drain()
    return app


def from_environment() -> Starlette:
    """The app as ``imgemu serve`` builds it, from ``IMGEMU_*`` variables (and ``IMGEMU_CONFIG``).

    For servers that take an app factory: ``uvicorn --factory imgemu:from_environment``, the
    benchmarks. A variable that names no setting is a warning on stderr; a bad value raises
    ``SettingsError`` naming the variable. Tunes the garbage collector for a long-lived server.
    """

    def warn(message: str) -> None:
        print(f"imgemu: warning: {message}", file=sys.stderr)

    app = create_app(load(warn=warn))
    tune_garbage_collector()
    return app


def _middleware(settings: Settings, exposed_headers: list[str]) -> list[Middleware]:
    """Cross-cutting work, outermost first: request logging, then CORS."""
    stack = []
    if settings.log_requests != "off":
        stack.append(Middleware(RequestLog, everything=settings.log_requests == "all"))
    if settings.cors_origins:
        stack.append(
            Middleware(
                CORSMiddleware,
                allow_origins=list(settings.cors_origins),
                allow_methods=["*"],
                allow_headers=["*"],
                expose_headers=exposed_headers,
                max_age=600,
            )
        )
    return stack
