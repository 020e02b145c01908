"""The queue protocol's routes under one provider's mount (``.../model``)."""

from __future__ import annotations

from typing import Any

from starlette.routing import BaseRoute, Route

from emulator.http.middleware.endpoint import Stack
from emulator.http.queue.handlers import QueueHandlers, StatusEndpoint, SubmitEndpoint


def queue_routes(provider: str, prefix: str, middleware: Stack) -> list[BaseRoute]:
    """Routes of the queue operations under ``prefix`` (``/model``, ``/seacloud/model``...).

    The model id is a path parameter: the document's operations are looked up by
    ``(kind, model)`` per request, and a model the document lacks is ``App not found``.
    The routes carry their whole path rather than sitting under a ``Mount``: one routing
    level less on every request. ``middleware(kind)`` is what wraps each operation. Submit and
    status are ASGI apps of their own (Starlette calls them without a ``Request``).
    """
    handlers = QueueHandlers(provider, prefix)
    request = prefix + "/v1/queue/{model_id:path}/requests/{request_id}"
    operations: tuple[tuple[str, str, Any, str], ...] = (
        ("submit", prefix + "/v1/queue/{model_id}", SubmitEndpoint(provider, prefix), "POST"),
        ("status.stream", request + "/status/stream", handlers.status_stream, "GET"),
        ("status", request + "/status", StatusEndpoint(provider, prefix), "GET"),
        ("result", request + "/response", handlers.result, "GET"),
        ("cancel", request + "/cancel", handlers.cancel, "PUT"),
        # Last: a route before the hot ones would cost them their place in ``QueueFront``.
        ("sync", prefix + "/v1/queue/{model_id}/sync", handlers.sync, "POST"),
    )
    return [
        Route(path, endpoint, methods=[method], middleware=middleware(kind))
        for kind, path, endpoint, method in operations
    ]
