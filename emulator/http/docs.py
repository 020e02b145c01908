"""The emulator serves the documents it was built from, pointed at itself."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from emulator.http.common import app_base, json_response
from emulator.providers import PROVIDERS
from emulator.state import Emulator


async def get_document(request: Request) -> Response:
    emulator: Emulator = request.app.state.emulator
    provider = request.path_params["provider"]
    document = emulator.documents.get(provider)
    if document is None:
        return json_response({"detail": f"No document for provider {provider!r}"}, 404)
    server = app_base(request) + PROVIDERS[provider].server_path(emulator.settings.queue_provider)
    body = document.as_json(server)
    return Response(body, media_type="application/json")


def doc_routes() -> list[BaseRoute]:
    return [Route("/openapi/{provider}.json", get_document, methods=["GET"])]
