"""Routes of an OpenAI-dialect provider: the operations its document binds, at their paths.

OpenAI has ``/v1/images/generations`` and ``/v1/images/edits``; AGCloud ``/v1/image/edits``
(singular, as it documents it).
"""

from __future__ import annotations

from starlette.routing import BaseRoute, Route

from emulator.http.images.handlers import ImagesHandlers
from emulator.http.middleware.endpoint import Stack
from emulator.providers import document


def images_routes(provider: str, middleware: Stack) -> list[BaseRoute]:
    """A route for each operation ``provider``'s document binds (``images.generate``,
    ``images.edit``), at the path and method the document gives it, wrapped in
    ``middleware(kind)``."""
    handlers = ImagesHandlers(provider)
    endpoints = {"images.generate": handlers.generate, "images.edit": handlers.edit}
    routes: list[BaseRoute] = []
    for path, item in (document(provider).get("paths") or {}).items():
        for method, op in item.items():
            if isinstance(op, dict) and "x-imgemu-operation" in op:
                kind = op["x-imgemu-operation"]["kind"]
                route = Route(
                    path, endpoints[kind], methods=[method.upper()], middleware=middleware(kind)
                )
                routes.append(route)
    return routes
