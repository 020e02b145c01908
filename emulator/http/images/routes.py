"""Routes of the OpenAI-dialect providers: OpenAI's two endpoints and AGCloud's edit."""

from __future__ import annotations

from starlette.routing import BaseRoute, Route

from emulator.http.images.handlers import ImagesHandlers


def images_routes() -> list[BaseRoute]:
    """``/v1/images/generations`` and ``/v1/images/edits`` (OpenAI); ``/v1/image/edits``
    (AGCloud, singular as it documents it)."""
    openai = ImagesHandlers("openai")
    agcloud = ImagesHandlers("agcloud")
    return [
        Route("/v1/images/generations", openai.generate, methods=["POST"]),
        Route("/v1/images/edits", openai.edit, methods=["POST"]),
        Route("/v1/image/edits", agcloud.edit, methods=["POST"]),
    ]
