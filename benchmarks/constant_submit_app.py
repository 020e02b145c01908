"""The emulator with a submit handler that only parses the body and answers a constant.

A diagnostic for ``queue_throughput``: served like ``emulator_app`` and driven with the same
wrk script, it separates the cost of the emulator's HTTP stack (routing, middleware, JSON) from
the submit's own work. See README.md.
"""

from __future__ import annotations

import bare_app
import emulator_app
from starlette.applications import Starlette
from starlette.types import Receive, Scope, Send

from emulator.http.common import dump_json, load_json, read_body, send_json
from emulator.http.queue.handlers import SubmitEndpoint

_ANSWER = dump_json(bare_app.SUBMIT_BODY)


async def _constant_submit(
    self: SubmitEndpoint, scope: Scope, receive: Receive, send: Send
) -> None:
    load_json(await read_body(receive))
    await send_json(send, _ANSWER)


def create_app() -> Starlette:
    SubmitEndpoint.__call__ = _constant_submit  # type: ignore[method-assign]
    return emulator_app.create_app()
