"""The queue dialect: every body this protocol sends, and every error's words, written here only.

SeaCloud and OdiRouter share it; where their words differ (the refusal of a request without a
key names the ``Authorization`` schemes each takes) they are read from the provider table.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from http import HTTPStatus
from typing import Any

from starlette.responses import Response

from emulator.domain.errors import (
    AlreadyCompleted,
    BadRequestTimeout,
    BadSteering,
    BodyTooLarge,
    DomainError,
    InsufficientBalance,
    InvalidBody,
    LinkExpired,
    ModelNotFound,
    PlannedError,
    RateLimited,
    RequestNotFound,
    ServerStopping,
    Unauthorized,
    ValidationFailed,
    WebhookNotSupported,
)
from emulator.domain.jobs import Event, JobState, events_until, state_at
from emulator.domain.queue import Snapshot
from emulator.domain.records import ErrorType, Job, Status
from emulator.http.common import MAX_JSON_DEPTH, json_response, size_text
from emulator.http.middleware.steering import steering_text
from emulator.providers import PROVIDERS

# HTTP status of ``.../response`` for a job that ended in failure, per error type.
RESULT_FAILURE_STATUS: dict[ErrorType, int] = {
    ErrorType.REQUEST_INVALID: 422,
    ErrorType.CONTENT_BLOCKED: 422,
    ErrorType.INFERENCE_FAILURE: 500,
    ErrorType.INFERENCE_TIMEOUT: 500,
    ErrorType.INTERNAL_SERVER_ERROR: 500,
    ErrorType.CANCELED: 400,
    ErrorType.REQUEST_TIMEOUT: 504,
}

# fal's response headers, which the queue copies: the job's id on every answer about a job, and
# an infrastructure error's type (the body's ``error_type`` repeated), with whose deadline it was
# when a start deadline passed.
REQUEST_ID_HEADER = "x-fal-request-id"
ERROR_TYPE_HEADER = "x-fal-error-type"
TIMEOUT_TYPE_HEADER = "x-fal-request-timeout-type"
_REQUEST_ID = REQUEST_ID_HEADER.encode()
# fal's infrastructure error types of the statuses a fault plan may answer with.
_PLANNED_ERROR_TYPES = {
    500: "internal_error",
    502: "runner_incomplete_response",
    503: "runner_scheduling_failure",
    504: "request_timeout",
}


def request_id_header(request_id: str) -> tuple[bytes, bytes]:
    """``x-fal-request-id`` as a raw header (the hot endpoints send raw headers)."""
    return (_REQUEST_ID, request_id.encode("latin-1"))


def request_url(base: str, model: str, request_id: str) -> str:
    """A job's absolute URL under the mount that served the request (``base``); its status,
    response and cancel URLs are this plus ``/status``, ``/response``, ``/cancel``."""
    return f"{base}/v1/queue/{model}/requests/{request_id}"


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def submit_body(request_id: str, url: str, queue_position: int) -> dict[str, Any]:
    """The answer to a submit; ``url`` is the job's ``request_url``."""
    return {
        "request_id": request_id,
        "response_url": url + "/response",
        "status_url": url + "/status",
        "cancel_url": url + "/cancel",
        "queue_position": queue_position,
    }


# A failed job's ``error`` (status) and ``detail`` (result), by its error type; a REQUEST_INVALID
# job says what was wrong with its parameters instead.
ERROR_TEXT: dict[ErrorType, str] = {
    ErrorType.INFERENCE_FAILURE: "Task execution failed",
    ErrorType.INFERENCE_TIMEOUT: "Task execution timed out",
    ErrorType.CONTENT_BLOCKED: "Input or output was blocked by the content safety policy",
    ErrorType.CANCELED: "Request was canceled",
    ErrorType.INTERNAL_SERVER_ERROR: "Internal server error",
    ErrorType.REQUEST_TIMEOUT: "Request timed out",
}


def error_text(state: JobState) -> str | None:
    """What a terminal job's error says: the parameters' faults, or its error type's words."""
    if state.error is not None or state.error_type is None:
        return state.error
    return ERROR_TEXT.get(state.error_type)


def log_lines(snap: Snapshot, now: float) -> list[tuple[float, str, str]]:
    """The job's log by ``now``: (time, level, message)."""
    job = snap.job
    lines: list[tuple[float, str, str]] = []
    for ts, event in events_until(job, now):
        if event is Event.QUEUED:
            lines.append((ts, "INFO", "Request received and queued"))
        elif event is Event.STARTED:
            lines.append((ts, "INFO", f"Worker started on {job.model}"))
        elif event is Event.GENERATED:
            lines.append((ts, "INFO", f"Generated {job.n_outputs} image(s)"))
        else:
            state = state_at(job, now)
            lines.append((ts, "ERROR", f"{state.error_type}: {error_text(state)}"))
    return lines


def status_body(snap: Snapshot, url: str, now: float, with_logs: bool) -> dict[str, Any]:
    """A job's status; ``url`` is its ``request_url``."""
    state = snap.state
    body: dict[str, Any] = {"status": state.status.value, "request_id": snap.job.request_id}
    if state.status is Status.IN_QUEUE:
        body["queue_position"] = snap.queue_position
    body["response_url"] = url + "/response"
    body["logs"] = (
        [
            {"message": message, "level": level, "source": "imgemu", "timestamp": _iso(ts)}
            for ts, level, message in log_lines(snap, now)
        ]
        if with_logs
        else None
    )
    if state.terminal:
        if state.error_type is None:
            body["metrics"] = {"inference_time": state.inference_time}
        else:
            body["error"] = error_text(state)
            body["error_type"] = state.error_type.value
    return body


def result_body(job: Job, links: list[str]) -> dict[str, Any]:
    return {
        "request_id": job.request_id,
        "outputs": [
            {
                "type": "image",
                "url": link,
                "content_type": output.content_type,
                "file_name": output.file_name,
                "width": output.width,
                "height": output.height,
            }
            for output, link in zip(job.outputs, links, strict=True)
        ],
        "metadata": {"prompt": job.params.get("prompt", "")},
    }


def result_failure(snap: Snapshot) -> Response:
    error_type = snap.state.error_type
    assert error_type is not None
    body = {"detail": error_text(snap.state), "error_type": error_type.value}
    headers = {REQUEST_ID_HEADER: snap.job.request_id}
    if error_type is ErrorType.REQUEST_TIMEOUT:  # the caller's own deadline: fal's clients
        headers[ERROR_TYPE_HEADER] = error_type.value  # do not retry it
        headers[TIMEOUT_TYPE_HEADER] = "user"
    return json_response(body, RESULT_FAILURE_STATUS[error_type], headers)


def cancel_accepted(request_id: str) -> Response:
    return json_response({"status": "CANCELLATION_REQUESTED"}, 202, {REQUEST_ID_HEADER: request_id})


def already_completed(request_id: str) -> Response:
    """A cancel of a terminal job (its id known: the answer names it, as fal's does)."""
    return json_response({"status": "ALREADY_COMPLETED"}, 400, {REQUEST_ID_HEADER: request_id})


def unrouted(method: str, path: str) -> Response:
    """No route: a cancel of an unparseable id is NOT_FOUND in cancel's shape; else Not Found."""
    if method == "PUT" and path.endswith("/cancel") and "/requests/" in path:
        return json_response({"status": "NOT_FOUND"}, 404)
    return json_response({"detail": "Not Found"}, 404)


def missing_key_text(provider: str) -> str:
    """The refusal of a request without a key, naming the schemes ``provider`` takes."""
    schemes = " or ".join(sorted(PROVIDERS[provider].auth))
    return f"Authorization {schemes} token is required"


_INVALID_KEY = "Invalid API key"
_RATE_LIMITED = "Rate limit exceeded, please try again later"
_INSUFFICIENT = "Insufficient credits"
_BODY_TEXT: dict[str, str] = {
    "not_json": "Request body is not valid JSON",
    "not_object": "Request body must be a JSON object",
    "too_deep": f"Request body is nested too deeply (more than {MAX_JSON_DEPTH} levels)",
}
_LINK_EXPIRED = "Request has expired or the signature is invalid"
# A submit still reading its body or fetching its inputs when the server begins to stop; fal's
# clients retry a 503.
_STOPPING = "Service is shutting down, please retry"


def body_too_large_text(exc: BodyTooLarge) -> str:
    """The refusal of a body over its operation's limit (the control plane says it so too)."""
    return f"Request body too large: the limit is {size_text(exc.limit)}"


def _planned(exc: PlannedError, provider: str, operation: str, request_id: str) -> Response:
    """A fault plan's error: the body this protocol answers with that status."""
    status = exc.status
    same: dict[int, DomainError] = {
        401: Unauthorized("invalid"),
        402: InsufficientBalance(),
        404: RequestNotFound(),
        429: RateLimited(1.0 if exc.retry_after is None else exc.retry_after),
    }
    if status in same:
        return error_response(
            same[status], provider=provider, operation=operation, request_id=request_id
        )
    headers = {}
    if exc.retry_after is not None:
        headers["Retry-After"] = str(max(1, math.ceil(exc.retry_after)))
    if status == 422:
        detail = [{"loc": ["body"], "msg": "Unprocessable Entity", "type": "value_error"}]
        return json_response({"detail": detail}, 422, headers)
    if status == 500 and operation == "result":
        body = {"detail": "Internal server error", "error_type": "INTERNAL_SERVER_ERROR"}
        return json_response(body, 500, headers)
    try:
        phrase = "Internal server error" if status == 500 else HTTPStatus(status).phrase
    except ValueError:
        phrase = "Error"
    planned: dict[str, Any] = {"detail": phrase}
    if status in _PLANNED_ERROR_TYPES:  # an infrastructure error: fal names its type twice
        planned["error_type"] = headers[ERROR_TYPE_HEADER] = _PLANNED_ERROR_TYPES[status]
    return json_response(planned, status, headers)


def error_response(
    exc: DomainError, *, provider: str, operation: str, request_id: str = ""
) -> Response:
    """The answer of ``provider`` (its words) to a domain error raised while serving
    ``operation``; ``request_id`` is the request's id, which the gateway's refusals carry."""
    if isinstance(exc, PlannedError):
        return _planned(exc, provider, operation, request_id)
    if isinstance(exc, Unauthorized | RateLimited):
        if isinstance(exc, RateLimited):
            error = {"code": "RATE_LIMIT_EXCEEDED", "message": _RATE_LIMITED}
            headers = {"Retry-After": str(max(1, math.ceil(exc.retry_after)))}
            return json_response({"error": error, "request_id": request_id}, 429, headers)
        message = missing_key_text(provider) if exc.reason == "missing" else _INVALID_KEY
        error = {"code": "UNAUTHORIZED", "message": message}
        return json_response({"error": error, "request_id": request_id}, 401)
    if isinstance(exc, InsufficientBalance):
        status = {"code": 402, "message": _INSUFFICIENT, "error_code": 40201}
        return json_response({"status": status, "data": None}, 402)
    if isinstance(exc, RequestNotFound):
        if operation == "cancel":
            return json_response({"status": "NOT_FOUND"}, 404)
        return json_response({"detail": "Request not found"}, 404)
    if isinstance(exc, AlreadyCompleted):
        return json_response({"status": "ALREADY_COMPLETED"}, 400)
    if isinstance(exc, ValidationFailed):
        detail = [
            {"loc": ["body", *v.loc], "msg": v.message, "type": v.kind} for v in exc.violations
        ]
        return json_response({"detail": detail}, 422)
    if isinstance(exc, ModelNotFound):
        return json_response({"detail": f"App not found: {exc.model}"}, 404)
    if isinstance(exc, InvalidBody):
        text = _BODY_TEXT.get(exc.problem, "Request body could not be read")
        return json_response({"detail": text}, 400)
    if isinstance(exc, BodyTooLarge):
        return json_response({"detail": body_too_large_text(exc)}, 413)
    if isinstance(exc, BadSteering):
        return json_response({"detail": steering_text(exc)}, 400)
    if isinstance(exc, BadRequestTimeout):
        text = (
            f"Invalid X-Fal-Request-Timeout {exc.value!r}: it must be a number of seconds "
            f"greater than {exc.minimum:g}"
        )
        refused = {"detail": text, "error_type": "bad_request"}
        return json_response(refused, 400, {ERROR_TYPE_HEADER: "bad_request"})
    if isinstance(exc, WebhookNotSupported):
        return json_response({"detail": "webhook not supported"}, 400)
    if isinstance(exc, LinkExpired):
        return json_response({"detail": _LINK_EXPIRED}, 403)
    if isinstance(exc, ServerStopping):
        return json_response({"detail": _STOPPING}, 503)
    return json_response({"detail": "Internal server error"}, 500)
