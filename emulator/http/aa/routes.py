"""Routes of 典名词元: the generation, its task query, and the file upload."""

from __future__ import annotations

from starlette.routing import BaseRoute, Route

from emulator.http.aa import handlers
from emulator.http.middleware.endpoint import Stack


def aa_routes(middleware: Stack) -> list[BaseRoute]:
    """``/api/v1/image/generation`` (POST), ``.../{task_id}`` (GET), ``/api/v1/files`` (POST),
    each wrapped in ``middleware(kind)``."""
    operations = (
        ("aa.generate", "/api/v1/image/generation", handlers.generate, "POST"),
        ("aa.task", "/api/v1/image/generation/{task_id}", handlers.get_task, "GET"),
        ("aa.upload", "/api/v1/files", handlers.upload, "POST"),
    )
    return [
        Route(path, endpoint, methods=[method], middleware=middleware(kind))
        for kind, path, endpoint, method in operations
    ]
