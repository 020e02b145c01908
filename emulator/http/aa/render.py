"""典名词元's dialect: every body it sends, success or error, written here only.

Every answer is the envelope ``{code, message, request_id, data}``: ``code`` 0 and
``message: "success"`` on success, otherwise ``code`` repeats the HTTP status and ``data`` is
null. The provider documents only the success envelope; the error texts are the emulator's
(the document marks them as assumed), each naming the field it is about. Every answer carries
the request's id in ``x-request-id`` too: the request-id middleware adds it.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from http import HTTPStatus
from typing import Any

from starlette.responses import Response

from emulator.domain.aa import TaskSnapshot
from emulator.domain.errors import (
    BadSteering,
    BodyTooLarge,
    ContentBlocked,
    DomainError,
    InsufficientBalance,
    InvalidBody,
    NotFound,
    PlannedError,
    RateLimited,
    ServerStopping,
    Unauthorized,
    UpstreamFailure,
    ValidationFailed,
    Violation,
)
from emulator.domain.records import ErrorType, Generation, TaskStatus
from emulator.http.common import MAX_JSON_DEPTH, dump_json, json_response, size_text
from emulator.http.middleware.steering import steering_text

SUCCESS = "success"
INSUFFICIENT_CREDIT = "insufficient_credit: the account balance is too low for this request."
_FAILURES = {
    ErrorType.INFERENCE_TIMEOUT: "Image generation failed: the task timed out.",
    ErrorType.CONTENT_BLOCKED: (
        "Image generation failed: the request was rejected by the safety system."
    ),
}
_FAILED = "Image generation failed: an internal error occurred."


def envelope(code: int, message: str, request_id: str, data: Any) -> dict[str, Any]:
    """The provider's envelope around ``data``."""
    return {"code": code, "message": message, "request_id": request_id, "data": data}


def error(
    status: int, message: str, request_id: str, headers: dict[str, str] | None = None
) -> Response:
    """An error envelope: ``code`` repeats the HTTP status, ``data`` is null."""
    return json_response(envelope(status, message, request_id, None), status, headers)


# -- errors --------------------------------------------------------------------------------


def field_name(loc: tuple[str | int, ...]) -> str:
    """``("images", 0, "file_id")`` -> ``images[0].file_id``."""
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text


def violation_text(v: Violation) -> str:
    """One violation as ``<field>: <what is wrong>``."""
    if v.kind == "additionalproperties":
        name = (v.facts.get("unexpected") or ["?"])[0]
        return f"{field_name((*v.loc, name))}: Unknown parameter."
    message = v.message
    if v.kind == "image_too_large" and "max_bytes" in v.facts:
        what = "file" if v.loc == ("file",) else "image"
        message = f"The {what} must be smaller than {v.facts['max_bytes'] / (1024 * 1024):g} MB."
    if v.kind in ("oneofnotvalid", "oneofmultiplevalid"):
        # The schema's only alternatives are the image references' two keys.
        message = "Provide exactly one of 'image_url' or 'file_id'."
    field = field_name(v.loc)
    return f"{field}: {message}" if field else message


def validation_message(violations: tuple[Violation, ...]) -> str:
    """Every field's first violation, joined; a field breaking two keywords is named once."""
    seen: set[tuple[str | int, ...]] = set()
    texts = []
    for v in violations:
        if v.loc in seen and v.kind != "additionalproperties":
            continue
        seen.add(v.loc)
        texts.append(violation_text(v))
    return "; ".join(texts)


_BODY_TEXT: dict[str, str] = {
    "not_json": "The request body must be valid JSON.",
    "not_object": "The request body must be a JSON object.",
    "too_deep": f"The request body must not nest more than {MAX_JSON_DEPTH} levels.",
    "form_not_taken": "This endpoint does not take multipart/form-data.",
    "not_form": "Send the file as multipart/form-data in a part named 'file'.",
}


def body_text(exc: InvalidBody) -> str:
    """Why a body could not be read."""
    if exc.problem == "bad_form":
        return f"Could not parse the multipart form: {exc.detail}"
    return _BODY_TEXT[exc.problem]


_PLANNED: dict[int, str] = {
    400: "Bad request.",
    401: "Invalid API key.",
    404: "Not found.",
    429: "Rate limit exceeded, please try again later.",
    500: "Internal server error.",
}


def _planned_parts(exc: PlannedError) -> tuple[int, str, dict[str, str]]:
    """A fault plan's error in the envelope; a 429 always says when to retry."""
    retry_after = exc.retry_after
    if exc.status == 429 and retry_after is None:
        retry_after = 1.0
    headers = {} if retry_after is None else {"Retry-After": str(max(1, math.ceil(retry_after)))}
    message = _PLANNED.get(exc.status)
    if message is None:
        try:
            message = HTTPStatus(exc.status).phrase + "."
        except ValueError:
            message = "Error."
    return exc.status, message, headers


def error_parts(exc: DomainError) -> tuple[int, str, dict[str, str]]:
    """(HTTP status, message, extra headers) of a domain error in this dialect."""
    if isinstance(exc, PlannedError):
        return _planned_parts(exc)
    if isinstance(exc, ValidationFailed):
        return 400, validation_message(exc.violations), {}
    if isinstance(exc, InvalidBody):
        return 400, body_text(exc), {}
    if isinstance(exc, BodyTooLarge):
        return 413, f"The request body must not exceed {size_text(exc.limit)}.", {}
    if isinstance(exc, BadSteering):
        return 400, steering_text(exc), {}
    if isinstance(exc, InsufficientBalance):
        return 400, INSUFFICIENT_CREDIT, {}
    if isinstance(exc, ContentBlocked):
        return 400, "prompt: The request was rejected by the safety system.", {}
    if isinstance(exc, Unauthorized):
        if exc.reason == "missing":
            return 401, "Missing API key: send it as 'Authorization: Bearer <key>'.", {}
        return 401, "Invalid API key.", {}
    if isinstance(exc, RateLimited):
        retry = {"Retry-After": str(max(1, math.ceil(exc.retry_after)))}
        return 429, "Rate limit exceeded, please try again later.", retry
    if isinstance(exc, NotFound):
        return 404, f"{exc.what.capitalize()} not found: {exc.ident}", {}
    if isinstance(exc, UpstreamFailure):
        return 500, failure_message(exc.outcome), {}
    if isinstance(exc, ServerStopping):
        return 503, "Service is shutting down, please retry.", {}
    return 500, "Internal server error.", {}


def error_response(exc: DomainError, request_id: str) -> Response:
    """The envelope of a domain error (the request-id middleware adds ``x-request-id``)."""
    status, message, headers = error_parts(exc)
    return error(status, message, request_id, headers)


def error_event(exc: DomainError, request_id: str) -> bytes:
    """A failure after a stream began: an ``error`` event whose data is the error envelope
    with ``type: "error"`` (the OpenAI SDK raises on any event whose data says so)."""
    status, message, _ = error_parts(exc)
    data = {"type": "error", **envelope(status, message, request_id, None)}
    return b"event: error\ndata: " + dump_json(data) + b"\n\n"


def failure_message(outcome: ErrorType) -> str:
    """Why a generation failed, as a failed task and a failed synchronous call report it."""
    return _FAILURES.get(outcome, _FAILED)


def failed_response(generation: Generation, request_id: str) -> Response:
    """A synchronous generation that failed: HTTP 500."""
    assert generation.outcome is not None
    return error(500, failure_message(generation.outcome), request_id)


def unrouted(method: str, path: str, request_id: str) -> Response:
    """A path under ``/api/`` that no route takes."""
    return error(404, f"Not found: {method} {path}", request_id)


# -- success -------------------------------------------------------------------------------


def _iso(ts: int) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def usage_body(generation: Generation) -> dict[str, Any]:
    """What the request cost: images made, generation seconds, tokens."""
    usage = generation.usage
    return {
        "images": generation.n,
        "seconds": round(generation.finishes_at - generation.started_at, 3),
        "input_tokens": usage.input_tokens,
        "output_tokens": usage.output_tokens,
        "total_tokens": usage.total_tokens,
    }


def task_data(snap: TaskSnapshot, base: str) -> dict[str, Any]:
    """A task: links, usage and expiry once succeeded; empty and null before and on failure."""
    succeeded = snap.status is TaskStatus.SUCCEEDED
    return {
        "urls": [f"{base}/{link}" for link in snap.links],
        "usage": usage_body(snap.task.generation) if succeeded else None,
        "expired": _iso(snap.expires) if snap.expires is not None else None,
        "task_id": snap.task.task_id,
        "task_status": snap.status.value,
    }


def task_response(snap: TaskSnapshot, request_id: str, base: str) -> Response:
    """A task in the success envelope; a failed task keeps ``code`` 0 and says why."""
    outcome = snap.task.generation.outcome
    message = SUCCESS
    if snap.status is TaskStatus.FAILED and outcome is not None:
        message = failure_message(outcome)
    return json_response(envelope(0, message, request_id, task_data(snap, base)))


def upload_response(file_id: str, request_id: str) -> Response:
    """An uploaded file's id."""
    return json_response(envelope(0, SUCCESS, request_id, {"file_id": file_id}))
