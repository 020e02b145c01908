"""The emulator with a submit handler that only parses the body and answers a constant.

A diagnostic for ``queue_throughput``: served like ``emulator_app`` and driven with the same
wrk script, it separates the cost of the emulator's HTTP stack (routing, middleware, JSON) from
the submit's own work. See README.md.
"""

from __future__ import annotations

import bare_app
import emulator_app
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response

from emulator.http.common import json_response, load_json
from emulator.http.queue.handlers import QueueHandlers


async def _constant_submit(self: QueueHandlers, request: Request) -> Response:
    load_json(await request.body())
    return json_response(bare_app.SUBMIT_BODY)


def create_app() -> Starlette:
    QueueHandlers.submit = _constant_submit  # type: ignore[method-assign]
    return emulator_app.create_app()
