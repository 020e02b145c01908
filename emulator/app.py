"""``create_app(settings)``: the one place the Starlette application is assembled."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from emulator.http.common import json_response
from emulator.http.control import control_routes
from emulator.http.docs import doc_routes
from emulator.http.files import file_routes
from emulator.http.queue import queue_routes
from emulator.http.queue.handlers import unrouted
from emulator.settings import PROVIDERS_QUEUE, Settings
from emulator.state import build


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    return json_response({"detail": exc.detail}, exc.status_code, dict(exc.headers or {}))


def create_app(settings: Settings | None = None) -> Starlette:
    """The emulator as an ASGI app: every provider at once, state built fresh."""
    settings = settings or Settings()
    # The queue's hot paths first: routes are tried in order.
    routes = [
        *queue_routes(settings.queue_provider, "/model"),
        *(route for p in PROVIDERS_QUEUE for route in queue_routes(p, f"/{p}/model")),
        *control_routes(),
        *doc_routes(),
        *file_routes(),
    ]
    app = Starlette(routes=routes, exception_handlers={HTTPException: _http_error})
    # Paths no mount can take (e.g. a control character in a request id) still get the
    # queue dialect's not-found answer rather than Starlette's plain text.
    app.router.default = unrouted
    app.state.emulator = build(settings)
    return app
