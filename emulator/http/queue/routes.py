"""The queue protocol's routes under one provider's mount (``.../model``)."""

from __future__ import annotations

from starlette.routing import BaseRoute, Route

from emulator.http.queue.handlers import QueueHandlers


def queue_routes(provider: str, prefix: str) -> list[BaseRoute]:
    """Routes of the queue operations under ``prefix`` (``/model``, ``/seacloud/model``...).

    The model id is a path parameter: the document's operations are looked up by
    ``(kind, model)`` per request, and a model the document lacks is ``App not found``.
    The routes carry their whole path rather than sitting under a ``Mount``: one routing
    level less on every request.
    """
    handlers = QueueHandlers(provider, prefix)
    request = prefix + "/v1/queue/{model_id:path}/requests/{request_id}"
    return [
        Route(prefix + "/v1/queue/{model_id}", handlers.submit, methods=["POST"]),
        Route(request + "/status/stream", handlers.status_stream, methods=["GET"]),
        Route(request + "/status", handlers.status, methods=["GET"]),
        Route(request + "/response", handlers.result, methods=["GET"]),
        Route(request + "/cancel", handlers.cancel, methods=["PUT"]),
    ]
