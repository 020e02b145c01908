"""Routes of 典名词元: the generation, its task query, and the file upload."""

from __future__ import annotations

from starlette.routing import BaseRoute, Route

from emulator.http.aa import handlers


def aa_routes() -> list[BaseRoute]:
    """``/api/v1/image/generation`` (POST), ``.../{task_id}`` (GET), ``/api/v1/files`` (POST)."""
    return [
        Route("/api/v1/image/generation", handlers.generate, methods=["POST"]),
        Route("/api/v1/image/generation/{task_id}", handlers.get_task, methods=["GET"]),
        Route("/api/v1/files", handlers.upload, methods=["POST"]),
    ]
