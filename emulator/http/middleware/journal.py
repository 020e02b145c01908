"""Each request of an operation noted in the journal (``emulator.domain.journal``), after its
answer has gone out.

``JournalMiddleware`` wraps one operation's route where the metrics do, outermost (so gateway
refusals are journaled too), when ``journal_size`` is not 0. While the answer passes it reads
the status and, for an answer of 400 and above, keeps the first ``KEEP`` bytes of the body;
once the answer is sent it notes the request (the scope, the arrival time, status, seconds,
body: a tuple in a list). Everything else is done by the journal's flush, in the background:
the entry is made from the scope then, where the handlers left what they parsed:

- ``FIELDS``: the request's fields as the handler read them (a JSON body, or the form's
  ``Upload``), so the body is never parsed twice;
- the key the gateway took (``gateway.KEY``), else the one the ``Authorization`` header
  presented (a refused key is journaled by its digest too);
- ``TEST_ID``: the ``X-Imgemu-Test-Id`` header, bounded (``test_id_of`` reads it once and
  keeps it in the scope for any feature that scopes by test);
- ``FAULT``: the id of the fault plan applied to the request (``faults.KEY``, which the faults
  middleware sets), and the steering's outcome and latency (the headers', or a plan's);
- the request's id, where its dialect draws one;
- ``JOB`` and ``STATE``: the queue job or task the request made (a submit) and the status word
  its answer reported, which the handlers set (a read of a job is about the job its path
  names); and the wait an error answer asked for (``retry-after-ms``, else ``Retry-After``),
  read from its headers here. With the arrival on the wall clock they are what the verdicts
  on the client (``emulator.domain.verdicts``) are drawn from.

The error code and message are read from the kept body by the dialect's reader
(``emulator.http.dialects.read_error``), handed over when the app is assembled.
"""

from __future__ import annotations

from collections.abc import Callable
from time import perf_counter, time
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from emulator.domain.journal import Journal, clean_test_id, make_entry, presented_key
from emulator.domain.metrics import Meter
from emulator.domain.queue import Steering
from emulator.domain.records import JournalEntry
from emulator.http.common import scope_header
from emulator.http.middleware import faults, gateway, request_id
from emulator.http.middleware.steering import KEY as STEERING

FIELDS = "imgemu.fields"
TEST_ID = "imgemu.test_id"
FAULT = faults.KEY  # the id of the fault plan applied
JOB = "imgemu.job"  # the id of the job (or task) a submit made
STATE = "imgemu.job_state"  # the job's status word the answer reported
_WALL = "imgemu.wall"  # the arrival, wall-clock seconds
_RETRY_AFTER = "imgemu.retry_after"  # the seconds an error answer asked to wait
HEADER = "x-imgemu-test-id"
_HEADER = HEADER.encode()
_AUTHORIZATION = b"authorization"
_RETRY_AFTER_MS = b"retry-after-ms"
_RETRY_AFTER_S = b"retry-after"
KEEP = 4096  # bytes of an error answer's body kept for its code and message
KEEP_CHUNKS = 4  # of its first messages (an error answer is sent whole, in one)

# An error answer's (code, message), from its body's first ``KEEP`` bytes.
ErrorReader = Callable[[bytes], tuple[str | None, str | None]]


def test_id_of(scope: Scope) -> str | None:
    """The request's test id (``X-Imgemu-Test-Id``, the first one), read once per request."""
    if TEST_ID in scope:
        found: str | None = scope[TEST_ID]
        return found
    found = None
    for name, value in scope["headers"]:
        if name == _HEADER:
            found = clean_test_id(value.decode("latin-1"))
            break
    scope[TEST_ID] = found
    return found


def retry_after_of(headers: Any) -> float | None:
    """The seconds an answer's headers ask a client to wait: ``retry-after-ms``, else a
    ``Retry-After`` in seconds (an HTTP date, which no answer of the emulator sends, is None)."""
    seconds = None
    for name, value in headers:
        name = name.lower()
        try:
            if name == _RETRY_AFTER_MS:
                return float(value) / 1000
            if name == _RETRY_AFTER_S:
                seconds = float(value)
        except ValueError:
            continue
    return seconds


def fault_of(scope: Scope) -> dict[str, Any] | None:
    """The fault applied to the request: the plan's id (``kind`` ``plan``), else the steering
    headers' (``kind`` ``steering``); with the outcome and latency the steering asked."""
    plan: str | None = scope.get(FAULT)
    steering = scope.get(STEERING)
    steered = isinstance(steering, Steering) and (
        steering.outcome is not None or steering.latency is not None
    )
    if plan is None and not steered:
        return None
    found: dict[str, Any] = (
        {"kind": "steering"} if plan is None else {"kind": "plan", "plan_id": plan}
    )
    if steered:
        assert isinstance(steering, Steering)
        if steering.outcome is not None:
            found["outcome"] = steering.outcome.value
        if steering.latency is not None:
            found["latency"] = steering.latency
    return found


class JournalMiddleware:
    """Note each request of one operation in ``journal`` once it is answered.

    ``provider`` and ``operation`` name it in the entries; ``read_error`` reads an error
    answer's code; ``path``, when given, is journaled instead of the request's (a path that
    carries a key). With the operation's ``meter`` it counts the request too, as
    ``MetricsMiddleware`` would (which the app then leaves out): one watch of the answer for
    both, a few microseconds less on every request of the queue's hot paths.
    """

    def __init__(
        self,
        app: ASGIApp,
        journal: Journal,
        provider: str,
        operation: str,
        read_error: ErrorReader,
        path: str | None = None,
        meter: Meter | None = None,
    ) -> None:
        self.app = app
        self.journal = journal
        self.provider = provider
        self.operation = operation
        self.read_error = read_error
        self.path = path
        self.meter = meter

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        journal = self.journal
        arrived = journal.clock.now()
        scope[_WALL] = time()
        status = 500
        body: list[bytes] | None = None

        async def watch(message: Message) -> None:
            nonlocal status, body
            if message["type"] == "http.response.start":
                status = message["status"]
                if status >= 400:
                    body = []
                    scope[_RETRY_AFTER] = retry_after_of(message.get("headers", ()))
            elif body is not None and len(body) < KEEP_CHUNKS:
                body.append(message.get("body", b"")[:KEEP])
            await send(message)

        start = perf_counter()
        try:
            await self.app(scope, receive, watch)
        finally:
            seconds = perf_counter() - start
            if self.meter is not None:
                self.meter.observe(status, seconds)
            journal.note(self, scope, arrived, status, seconds, body)

    def entry(
        self, request: Any, arrived: float, status: int, seconds: float, body: Any
    ) -> JournalEntry:
        """The entry of a request (its scope) answered ``status`` after ``seconds``, made in
        the journal's flush."""
        scope: Scope = request
        key: str | None = scope.get(gateway.KEY)
        if key is None:
            key = presented_key(scope_header(scope, _AUTHORIZATION))
        error = message = None
        if body is not None:
            error, message = self.read_error(b"".join(body)[:KEEP])
        query: bytes = scope.get("query_string", b"")
        job: str | None = scope.get(JOB)
        if job is None:
            params = scope.get("path_params") or {}
            job = params.get("request_id") or params.get("task_id")
        return make_entry(
            arrived,
            self.provider,
            self.operation,
            scope["method"],
            self.path or scope["path"],
            query.decode("latin-1") if query else None,
            key,
            test_id_of(scope),
            status,
            seconds,
            scope.get(request_id.KEY),
            scope.get(FIELDS),
            error,
            message,
            fault_of(scope),
            scope.get(_WALL),
            scope.get(_RETRY_AFTER),
            job,
            scope.get(STATE),
        )
