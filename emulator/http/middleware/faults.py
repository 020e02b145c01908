"""Fault plans on the HTTP side: each provider operation's requests meet the live plans.

``FaultsMiddleware`` wraps each provider operation's route, innermost (after the gateway and
the steering headers: a plan takes requests with a key the provider accepts). A request whose
operation no plan can take costs a dictionary lookup (``Live.index``), after a check that the
store need not be read again (``Live.due``). Otherwise its facts (path, key, test id, and the
model, read from the body only when a plan matches on it) choose the plans whose ``match`` it
meets; the store counts it for the first live one (``Live.take``: ``after``, ``times`` and
``probability`` across processes), and if that plan applies its id is left in the scope
(``KEY``, for the journal) and its action done:

- ``error``: the provider's answer for the status (``PlannedError``, in the dialect's words);
- ``delay``: the request waits ``seconds`` of real time (the client's timeouts are real; the
  time scale speeds up services, not the network), then goes on; a server that stops ends the
  wait at once with the dialect's answer to a stopping server;
- ``drop``: the connection closes with no answer (through the server protocol's ``CLOSE``
  extension, which ``imgemu serve`` and the test servers run; another server answers 500);
- ``truncate``: the answer's head and ``bytes`` bytes of its body (by default half of it, never
  all of it), then the connection closes: the client reads an incomplete body;
- ``outcome``, ``slow_queue``: handed to the domain as steering (``queue.Steering``), as the
  ``X-Imgemu-*`` headers are, over whatever those asked;
- ``stream_cut``: decided when the answer turns out to be an event stream (a plan for it takes
  only streams); the stream ends cleanly after ``after_events`` events.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import Awaitable
from dataclasses import replace
from time import monotonic
from typing import Any

from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from emulator.domain.errors import BadSteering, PlannedError, ServerStopping
from emulator.domain.faults import (
    DelayAction,
    DropAction,
    ErrorAction,
    Facts,
    FaultPlan,
    OutcomeAction,
    SlowQueueAction,
    StreamCutAction,
    TruncateAction,
)
from emulator.domain.live import Live
from emulator.domain.queue import Steering
from emulator.http.common import NotJson, load_json, read_body, scope_header
from emulator.http.middleware import steering
from emulator.http.middleware.endpoint import Endpoint
from emulator.http.middleware.gateway import KEY as KEY_OF_GATEWAY
from emulator.http.middleware.gateway import Refusal
from emulator.http.shutdown import Drain
from emulator.protocol import CLOSE

KEY = "imgemu.fault"  # the id of the plan applied to the request
TEST_ID = "x-imgemu-test-id"
_TEST_ID = TEST_ID.encode()
_CONTENT_TYPE = b"content-type"
_FORM_MODEL = re.compile(rb'name="model"\r\n(?:[^\r\n]+\r\n)*\r\n([^\r\n]*)\r\n')
# Seconds a closed connection may take to be reported to the app before it stops waiting.
_HANG_UP_SECONDS = 5.0


class ConnectionDropped(RuntimeError):
    """A ``drop`` under a server without the ``CLOSE`` extension: the server ends the request."""


def fault_of(scope: Scope) -> str | None:
    """The id of the fault plan applied to the request, if any."""
    found: str | None = scope.get(KEY)
    return found


class FaultsMiddleware:
    """Meet one provider operation's requests with the fault plans that may take them.

    ``live`` is the app's view of the plans (``Live``, one per app: a reset starts it over);
    ``drain`` ends a delay when the server begins to stop.
    """

    def __init__(
        self, app: ASGIApp, endpoint: Endpoint, refuse: Refusal, live: Live, drain: Drain
    ) -> None:
        self.app = app
        self.provider = endpoint.provider
        self.kind = endpoint.kind
        self.slot = (endpoint.provider, endpoint.kind)
        self.refuse = refuse
        self.live = live
        self.drain = drain

    def __call__(self, scope: Scope, receive: Receive, send: Send) -> Awaitable[None]:
        # Not a coroutine: a request no plan can take goes on as the route's own call, with
        # no frame of this middleware's around it.
        live = self.live
        if monotonic() < live.next_read and self.slot not in live.index:
            return self.app(scope, receive, send)
        return self._meet(scope, receive, send)

    async def _meet(self, scope: Scope, receive: Receive, send: Send) -> None:
        live = self.live
        if live.due():
            await live.sync()
        plans = live.index.get(self.slot)
        if plans is None:
            await self.app(scope, receive, send)
            return
        model: str | None = scope.get("path_params", {}).get("model_id")
        if plans.needs_model and model is None:
            body = await read_body(receive)
            model = self._model(scope, body)
            receive = _replay(body, receive)
        facts = Facts(
            path=scope["path"],
            key=scope.get(KEY_OF_GATEWAY),
            test_id=scope_header(scope, _TEST_ID),
            model=model,
        )
        candidates = plans.candidates(facts)
        plan = await live.take(candidates) if candidates else None
        if plan is not None:
            scope[KEY] = plan.plan_id
            await self._act(plan, scope, receive, send)
            return
        streamed = plans.candidates(facts, streamed=True)
        if streamed:
            send = _StreamCut(live, streamed, scope, send)
        await self.app(scope, receive, send)

    def _model(self, scope: Scope, body: bytes) -> str | None:
        """The model a request names in its body (JSON or a form), else its document's
        default."""
        content_type = (scope_header(scope, _CONTENT_TYPE) or "").split(";")[0].strip().lower()
        if content_type == "multipart/form-data":
            found = _FORM_MODEL.search(body)
            if found is not None:
                return found[1].decode("utf-8", "replace")
        else:
            try:
                data = load_json(body)
            except NotJson:
                data = None
            if isinstance(data, dict) and isinstance(data.get("model"), str):
                model: str = data["model"]
                return model
        operation = self.live.documents[self.provider].operation(self.kind, "*")
        if operation is None:
            return None
        defaults = operation.form.defaults if operation.form is not None else operation.defaults
        default = defaults.get("model", operation.defaults.get("model"))
        return default if isinstance(default, str) else None

    async def _act(self, plan: FaultPlan, scope: Scope, receive: Receive, send: Send) -> None:
        action = plan.action
        if isinstance(action, ErrorAction):
            refusal = self.refuse(PlannedError(action.status, action.retry_after), scope)
            await refusal(scope, receive, send)
        elif isinstance(action, DelayAction):
            try:
                await self.drain.wait(asyncio.sleep(action.seconds))
            except ServerStopping as exc:
                await self.refuse(exc, scope)(scope, receive, send)
                return
            await self.app(scope, receive, send)
        elif isinstance(action, DropAction):
            if not await _hang_up(scope, receive):
                raise ConnectionDropped(plan.plan_id)
        elif isinstance(action, TruncateAction):
            cut = _Truncate(scope, send, action.bytes)
            await self.app(scope, receive, cut)
            if cut.closed:
                await _disconnected(receive)
        elif isinstance(action, OutcomeAction | SlowQueueAction):
            _steer(scope, action)
            await self.app(scope, receive, send)
        else:  # a stream_cut plan is only met once the answer is a stream
            await self.app(scope, receive, send)


def _steer(scope: Scope, action: OutcomeAction | SlowQueueAction) -> None:
    """Hand the action to the domain as steering, over what the headers asked."""
    found = scope.get(steering.KEY)
    if isinstance(found, BadSteering):  # the handler answers the bad header, as it would
        return
    base = found if isinstance(found, Steering) else Steering()
    if isinstance(action, OutcomeAction):
        scope[steering.KEY] = replace(base, outcome=action.error_type)
    else:
        factor = base.service_factor * action.service_factor
        scope[steering.KEY] = replace(base, slots=action.slots or base.slots, service_factor=factor)


def _replay(body: bytes, receive: Receive) -> Receive:
    """A ``receive`` that gives the body read already, then goes on as ``receive``."""
    pending = True

    async def again() -> Message:
        nonlocal pending
        if pending:
            pending = False
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return again


def _close(scope: Scope) -> bool:
    """Close the request's connection after what was written (the server protocol's ``CLOSE``
    extension); False when the server offers none."""
    extension: Any = scope.get("extensions", {}).get(CLOSE)
    if not extension:
        return False
    extension["close"]()
    return True


async def _disconnected(receive: Receive) -> None:
    """Wait until the server reports the connection closed (then it answers nothing itself)."""
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(_HANG_UP_SECONDS):
            while (await receive())["type"] != "http.disconnect":
                pass


async def _hang_up(scope: Scope, receive: Receive) -> bool:
    """Close the connection with no answer and wait for the server to see it; False when the
    server cannot."""
    if CLOSE not in scope.get("extensions", {}):
        return False
    # The body first: a socket closed with data still unread resets the connection, and the
    # client would see a reset rather than a server that hung up.
    try:
        await read_body(receive)
    except ClientDisconnect:
        return True
    _close(scope)
    await _disconnected(receive)
    return True


class _Truncate:
    """A ``send`` that passes the answer's head and ``limit`` bytes of its body, then closes
    the connection and drops the rest."""

    def __init__(self, scope: Scope, send: Send, limit: int | None) -> None:
        self.scope = scope
        self.send = send
        self.limit = limit
        self.start: Message | None = None
        self.sent = 0
        self.done = False
        self.closed = False  # through the server's ``CLOSE`` (else it ends the answer itself)

    async def __call__(self, message: Message) -> None:
        if self.done:
            return
        if message["type"] == "http.response.start":
            self.start = message
            return
        if message["type"] != "http.response.body":
            await self.send(message)
            return
        body: bytes = message.get("body", b"")
        more: bool = message.get("more_body", False)
        limit = self.limit
        if limit is None:  # half the body, or of a stream's first part
            limit = self.limit = len(body) // 2
        room = limit - self.sent
        if not more:  # the last part: never all of it
            room = min(room, len(body) - 1)
        if self.start is not None:
            await self.send(self.start)
            self.start = None
        if room >= len(body):
            self.sent += len(body)
            await self.send(message)
            return
        if room > 0:
            await self.send({"type": "http.response.body", "body": body[:room], "more_body": True})
        self.done = True
        self.closed = _close(self.scope)


class _StreamCut:
    """A ``send`` that, when the answer is an event stream, lets the stream-cut plans take it,
    and if one applies ends the stream after its ``after_events`` events."""

    def __init__(self, live: Live, plan_ids: list[str], scope: Scope, send: Send) -> None:
        self.live = live
        self.plan_ids = plan_ids
        self.scope = scope
        self.send = send
        self.left: int | None = None  # events still to pass; None: not cutting
        self.pending = b""  # the part of an event not complete yet
        self.done = False

    async def __call__(self, message: Message) -> None:
        if self.done:
            return
        if message["type"] == "http.response.start":
            await self._begin(message)
            return
        if self.left is None or message["type"] != "http.response.body":
            await self.send(message)
            return
        await self._pass(message.get("body", b""), message.get("more_body", False))

    async def _begin(self, message: Message) -> None:
        await self.send(message)
        content_type = b""
        for name, value in message.get("headers", ()):
            if name.lower() == _CONTENT_TYPE:
                content_type = value
        if not content_type.startswith(b"text/event-stream"):
            return
        plan = await self.live.take(self.plan_ids)
        if plan is None or not isinstance(plan.action, StreamCutAction):
            return
        self.scope[KEY] = plan.plan_id
        self.left = plan.action.after_events
        if self.left == 0:
            await self._end(b"")

    async def _pass(self, body: bytes, more: bool) -> None:
        data = self.pending + body
        passed = 0
        left = self.left or 0
        while left > 0:
            end = data.find(b"\n\n", passed)
            if end < 0:
                break
            block = data[passed : end + 2]
            passed = end + 2
            if any(line and not line.startswith(b":") for line in block.split(b"\n")):
                left -= 1
        self.left = left
        self.pending = data[passed:]
        if left == 0:
            await self._end(data[:passed])
        elif not more:
            await self.send({"type": "http.response.body", "body": data, "more_body": False})
            self.done = True
        elif passed:
            part = data[:passed]
            await self.send({"type": "http.response.body", "body": part, "more_body": True})

    async def _end(self, body: bytes) -> None:
        """Send ``body`` as the stream's last part: it ends here, cleanly."""
        self.done = True
        await self.send({"type": "http.response.body", "body": body, "more_body": False})
