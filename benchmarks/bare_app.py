"""The baseline of ``queue_throughput``: the queue routes doing only what any handler must.

Each handler reads the body (submit parses it with ``json.loads``) and answers a fixed JSON body
of about the emulator's size: no validation, no state, no clock. What the emulator costs beyond
this is its own protocol path.
"""

from __future__ import annotations

import json

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

_ID = "mmsu_01m7zt47qhr84p57vfqvc2r1yd"
_BASE = f"http://127.0.0.1:8000/model/v1/queue/gpt_image_1/requests/{_ID}"
SUBMIT_BODY = {
    "request_id": _ID,
    "response_url": _BASE + "/response",
    "status_url": _BASE + "/status",
    "cancel_url": _BASE + "/cancel",
    "queue_position": 0,
}
_STATUS = {
    "status": "IN_PROGRESS",
    "request_id": _ID,
    "response_url": _BASE + "/response",
    "logs": None,
}
_REQUEST = "/model/v1/queue/{model_id:path}/requests/{request_id}"


def _json(body: object, status: int = 200) -> Response:
    data = json.dumps(body, separators=(",", ":")).encode()
    return Response(data, status_code=status, media_type="application/json")


async def submit(request: Request) -> Response:
    json.loads(await request.body())
    return _json(SUBMIT_BODY)


async def status(request: Request) -> Response:
    await request.body()
    return _json(_STATUS)


async def result(request: Request) -> Response:
    await request.body()
    return _json(_STATUS, 202)


async def cancel(request: Request) -> Response:
    await request.body()
    return _json({"status": "CANCELLATION_REQUESTED"}, 202)


def create_app() -> Starlette:
    """The bare app (``uvicorn --factory``); routes in the emulator's order."""
    return Starlette(
        routes=[
            Route("/model/v1/queue/{model_id}", submit, methods=["POST"]),
            Route(_REQUEST + "/status", status, methods=["GET"]),
            Route(_REQUEST + "/response", result, methods=["GET"]),
            Route(_REQUEST + "/cancel", cancel, methods=["PUT"]),
        ]
    )
