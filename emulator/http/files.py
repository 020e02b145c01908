"""Result files at signed, expiring URLs (no API key: they behave like CDN links)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from emulator.domain.aa import is_task_id
from emulator.domain.errors import LinkExpired, RequestNotFound
from emulator.http.common import json_response
from emulator.state import Emulator

# The words of a refused link (the queue's CDN answers so, and 典名词元's links share the form).
LINK_EXPIRED = "Request has expired or the signature is invalid"


async def get_file(request: Request) -> Response:
    emulator: Emulator = request.app.state.emulator
    request_id = request.path_params["request_id"]
    name = request.path_params["name"]
    stem, _, fmt = name.partition(".")
    try:
        emulator.files.verify(
            f"{request_id}/{name}",
            request.query_params.get("expires"),
            request.query_params.get("sig"),
            emulator.clock.now(),
        )
        if not stem.isdigit():
            raise RequestNotFound()
        if is_task_id(request_id):  # 典名词元's tasks share the links' form with the queue
            data = await emulator.tasks.file(request_id, int(stem), fmt)
            file_name, content_type = f"output_{int(stem)}.{fmt}", f"image/{fmt}"
        else:
            _job, output, data = await emulator.queue.file(request_id, int(stem), fmt)
            file_name, content_type = output.file_name, output.content_type
    except RequestNotFound:
        return json_response({"detail": "Not Found"}, 404)
    except LinkExpired:
        return json_response({"detail": LINK_EXPIRED}, 403)
    emulator.metrics.served("file", len(data))
    headers = {
        "Content-Disposition": f'inline; filename="{file_name}"',
        "Cache-Control": "private, max-age=3600",
    }
    return Response(data, media_type=content_type, headers=headers)


def file_routes() -> list[BaseRoute]:
    return [Route("/_files/{request_id}/{name}", get_file, methods=["GET"])]
