"""The queue protocol's routes under one provider's mount (``.../model``)."""

from __future__ import annotations

from starlette.routing import Route, Router

from emulator.http.queue.handlers import QueueHandlers, unrouted

_REQUEST = "/v1/queue/{model_id:path}/requests/{request_id}"


def queue_router(provider: str) -> Router:
    """Routes of every operation the provider's document binds (``x-imgemu-operation``).

    The model id is a path parameter: the document's operations are looked up by
    ``(kind, model)`` per request, and a model the document lacks is ``App not found``.
    Requests no route takes still get an answer in the queue dialect.
    """
    handlers = QueueHandlers(provider)
    routes = [
        Route("/v1/queue/{model_id}", handlers.submit, methods=["POST"]),
        Route(_REQUEST + "/status/stream", handlers.status_stream, methods=["GET"]),
        Route(_REQUEST + "/status", handlers.status, methods=["GET"]),
        Route(_REQUEST + "/response", handlers.result, methods=["GET"]),
        Route(_REQUEST + "/cancel", handlers.cancel, methods=["PUT"]),
    ]
    return Router(routes=routes, default=unrouted)
