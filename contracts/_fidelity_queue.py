"""Checks of the queue's fal-style rules: where the providers copy fal, and where they differ.

Each rule is one check, so a real provider's drift shows under its own name: the status codes
of a status read (202 or 200 while pending: both documented variants pass; 200 once completed)
and the ``x-fal-request-id`` on every answer about a job; what a cancel does to a running job
(it ends CANCELED or runs to its end: both pass); the start deadline ``X-Fal-Request-Timeout``
(504, ``X-Fal-Request-Timeout-Type: user``, ``X-Fal-Error-Type``) and its malformed value's 400;
the status stream and sync call the providers do not offer; the mask's format.
``contracts/checks.py`` imports this module, which registers its checks in ``_registry``.
"""

from __future__ import annotations

import base64
import contextlib
import io
import time
from collections.abc import Callable
from typing import Any

import httpx
from PIL import Image

from contracts._common import _cheap_queue, _json, _pay_queue, _queue_ops, ensure
from contracts._context import Context
from contracts._registry import check

PENDING_STATUSES = (200, 202)  # fal answers 202 before COMPLETED; a provider may answer 200
REQUEST_ID = "x-fal-request-id"
# Answers to the start deadline and to its malformed value, as fal documents them.
TIMEOUT_HEADER = "X-Fal-Request-Timeout"
BAD_TIMEOUT = "soon"
# How a running job whose cancel was accepted may end: CANCELED, or a success (fal lets the
# model app decide; OdiRouter cancels "when the endpoint supports it").
CANCEL_ENDS = ("CANCELED", None)
# The providers whose page fixes queue_position at 0.
POSITION_ZERO = frozenset({"seacloud"})


def _path(ctx: Context, tail: str = "") -> str:
    return f"/v1/queue/{ctx.profile.model}{tail}"


def _job_path(ctx: Context, request_id: str, tail: str) -> str:
    return _path(ctx, f"/requests/{request_id}{tail}")


def _submit(ctx: Context, http: httpx.Client, what: str, **headers: str) -> dict[str, Any]:
    """A paid cheapest submit, its answer checked: 200, a body with an id, that id in
    ``x-fal-request-id``, and on a provider whose page says so a queue_position of 0."""
    op = _queue_ops(ctx.profile.model)["submit"]
    params = _cheap_queue(ctx)
    _pay_queue(ctx, params, what)
    answer = http.post(_path(ctx), json=params, headers=headers)
    ensure(answer.status_code == 200, op, f"submit answered {answer.status_code}")
    body = _json(answer)
    ensure(isinstance(body, dict) and "request_id" in body, op, "submit without a request_id")
    _names_job(answer, body["request_id"], op)
    if ctx.profile.name in POSITION_ZERO:
        ensure(
            body.get("queue_position") == 0,
            op,
            f"queue_position {body.get('queue_position')!r}: the provider's page says always 0",
        )
    return dict(body)


def _names_job(answer: httpx.Response, request_id: str, op: str) -> None:
    found = answer.headers.get(REQUEST_ID)
    ensure(
        found == request_id,
        op,
        f"{REQUEST_ID} is {found!r} on an answer about {request_id} ({answer.status_code})",
    )


def _status(ctx: Context, http: httpx.Client, request_id: str) -> dict[str, Any]:
    """One status read, its code judged: 200 or 202 before COMPLETED, 200 once COMPLETED."""
    op = _queue_ops(ctx.profile.model)["status"]
    answer = http.get(_job_path(ctx, request_id, "/status"))
    body = _json(answer)
    ensure(isinstance(body, dict) and "status" in body, op, f"status answered {answer.text[:200]}")
    state = body["status"]
    expected = (200,) if state == "COMPLETED" else PENDING_STATUSES
    ensure(
        answer.status_code in expected,
        op,
        f"status answered {answer.status_code} for a job {state} (expected one of {expected})",
    )
    _names_job(answer, request_id, op)
    if ctx.profile.name in POSITION_ZERO and state == "IN_QUEUE":
        ensure(
            body.get("queue_position") == 0,
            op,
            f"queue_position {body.get('queue_position')!r}: the provider's page says always 0",
        )
    return dict(body)


def _until(
    ctx: Context, http: httpx.Client, request_id: str, done: Callable[[dict[str, Any]], bool]
) -> dict[str, Any]:
    op = _queue_ops(ctx.profile.model)["status"]
    deadline = time.monotonic() + ctx.timeout
    delay = 0.02
    while True:
        body = _status(ctx, http, request_id)
        if done(body):
            return body
        ensure(time.monotonic() < deadline, op, f"{request_id} is still {body['status']}")
        time.sleep(delay)
        delay = min(delay * 2, 1.0)


def _cancel_quietly(ctx: Context, http: httpx.Client, request_id: str) -> None:
    with contextlib.suppress(httpx.HTTPError):
        http.put(_job_path(ctx, request_id, "/cancel"))


@check("queue_status_codes", "lifecycle", paid=True, protocols=("queue",))
def queue_status_codes(ctx: Context) -> None:
    """One cheapest job followed to its end: its status answers 200 or 202 while pending (fal
    answers 202) and 200 once COMPLETED; submit, every status read and the result name the
    job in ``x-fal-request-id``; on SeaCloud ``queue_position`` is always 0, as its page says."""
    ops = _queue_ops(ctx.profile.model)
    with ctx.http() as http:
        job = _submit(ctx, http, ops["submit"])
        request_id = job["request_id"]
        final = _until(ctx, http, request_id, lambda body: body["status"] == "COMPLETED")
        answer = http.get(_job_path(ctx, request_id, "/response"))
        if final.get("error_type") is None:  # a failure drawn by the provider answers 4xx/5xx
            ensure(answer.status_code == 200, ops["result"], f"result {answer.status_code}")
        _names_job(answer, request_id, ops["result"])
    for operation in ("submit", "status", "result"):
        ctx.record(ops[operation], "verified")


@check("queue_cancel_running", "lifecycle", paid=True, protocols=("queue",))
def queue_cancel_running(ctx: Context) -> None:
    """A job canceled once seen IN_PROGRESS: the cancel answers 202 ``CANCELLATION_REQUESTED``
    (400 ``ALREADY_COMPLETED`` if it finished first, or was never seen running) naming the job,
    and the job ends CANCELED or runs to its end and succeeds (both documented), its result
    agreeing."""
    ops = _queue_ops(ctx.profile.model)
    with ctx.http() as http:
        request_id = _submit(ctx, http, ops["submit"])["request_id"]
        seen = _until(ctx, http, request_id, lambda b: b["status"] != "IN_QUEUE")
        answer = http.put(_job_path(ctx, request_id, "/cancel"))
        if seen["status"] == "COMPLETED":  # too fast to be seen running: only the 400 is judged
            ensure(
                answer.status_code == 400 and _json(answer) == {"status": "ALREADY_COMPLETED"},
                ops["cancel"],
                f"cancel of a completed job answered {answer.status_code} {answer.text[:200]}",
            )
            _names_job(answer, request_id, ops["cancel"])
            ctx.record(ops["cancel"], "verified", "the job finished before it was seen running")
            return
        body = _json(answer)
        known = {202: "CANCELLATION_REQUESTED", 400: "ALREADY_COMPLETED"}
        ensure(
            answer.status_code in known and body == {"status": known[answer.status_code]},
            ops["cancel"],
            f"cancel of a running job answered {answer.status_code} {answer.text[:200]}",
        )
        _names_job(answer, request_id, ops["cancel"])
        final = _until(ctx, http, request_id, lambda b: b["status"] == "COMPLETED")
        ensure(
            answer.status_code == 400 or final.get("error_type") in CANCEL_ENDS,
            ops["cancel"],
            f"a running job canceled ended with error_type {final.get('error_type')}",
        )
        result = http.get(_job_path(ctx, request_id, "/response"))
        expected = {"CANCELED": 400, None: 200}.get(final.get("error_type"))
        ensure(
            expected is None or result.status_code == expected,
            ops["result"],
            f"the result of a job that ended {final.get('error_type')} is {result.status_code}",
        )
    ctx.record(ops["cancel"], "verified")


@check("queue_start_deadline", "lifecycle", paid=True, protocols=("queue",))
def queue_start_deadline(ctx: Context) -> None:
    """``X-Fal-Request-Timeout``: a malformed value is refused with 400 and error_type
    ``bad_request`` (in the body and ``X-Fal-Error-Type``); a job given a short deadline behind
    another job either starts (and never times out afterwards) or ends COMPLETED with error_type
    ``request_timeout``, its result 504 with ``X-Fal-Request-Timeout-Type: user``."""
    ops = _queue_ops(ctx.profile.model)
    with ctx.http() as http:
        params = _cheap_queue(ctx)
        _pay_queue(ctx, params, ops["submit"])  # a provider without the rule runs the job
        answer = http.post(_path(ctx), json=params, headers={TIMEOUT_HEADER: BAD_TIMEOUT})
        body = _json(answer)
        if answer.status_code == 200 and isinstance(body, dict) and "request_id" in body:
            _cancel_quietly(ctx, http, str(body["request_id"]))
        ensure(
            answer.status_code == 400
            and isinstance(body, dict)
            and body.get("error_type") == "bad_request"
            and answer.headers.get("x-fal-error-type") == "bad_request",
            ops["submit"],
            f"{TIMEOUT_HEADER}: {BAD_TIMEOUT} answered {answer.status_code} {answer.text[:200]}",
        )
        ahead = _submit(ctx, http, ops["submit"])["request_id"]
        late = _submit(ctx, http, ops["submit"], **{TIMEOUT_HEADER: "0.5"})["request_id"]
        started = False

        def settled(body: dict[str, Any]) -> bool:
            nonlocal started
            started = started or body["status"] == "IN_PROGRESS"
            return bool(body["status"] == "COMPLETED")

        final = _until(ctx, http, late, settled)
        _cancel_quietly(ctx, http, ahead)
        timed_out = final.get("error_type") == "request_timeout"
        ensure(
            not (timed_out and started),
            ops["status"],
            f"{late} was IN_PROGRESS, then ended request_timeout: the deadline is one to start",
        )
        if timed_out:
            result = http.get(_job_path(ctx, late, "/response"))
            ensure(
                result.status_code == 504
                and (_json(result) or {}).get("error_type") == "request_timeout"
                and result.headers.get("x-fal-error-type") == "request_timeout"
                and result.headers.get("x-fal-request-timeout-type") == "user",
                ops["result"],
                f"the result of a timed-out job: {result.status_code} {dict(result.headers)}",
            )
            _names_job(result, late, ops["result"])
            ctx.record(ops["result"], "verified")
    ctx.record(ops["submit"], "verified")


@check("queue_not_offered", "spec", paid=False, protocols=("queue",))
def queue_not_offered(ctx: Context) -> None:
    """What the providers document as not offered: the status stream answers 400 ``SSE
    streaming not supported`` and the sync call 404 ``Not Found`` (free: an empty body, and no
    job is made)."""
    stream_op = f"GET {_path(ctx, '/requests/{request_id}/status/stream')}"
    sync_op = f"POST {_path(ctx, '/sync')}"
    with ctx.http() as http:
        answer = http.get(_job_path(ctx, "mmsu_" + "0" * 26, "/status/stream"))
        ensure(
            answer.status_code == 400
            and _json(answer) == {"detail": "SSE streaming not supported"},
            stream_op,
            f"the status stream answered {answer.status_code} {answer.text[:200]}",
        )
        answer = http.post(_path(ctx, "/sync"), json={})
        ensure(
            answer.status_code == 404 and _json(answer) == {"detail": "Not Found"},
            sync_op,
            f"the sync call answered {answer.status_code} {answer.text[:200]}",
        )
    ctx.record(stream_op, "verified")
    ctx.record(sync_op, "verified")


def _image(fmt: str, size: tuple[int, int] = (64, 64)) -> str:
    out = io.BytesIO()
    Image.new("RGBA", size, (40, 90, 160, 0)).save(out, fmt)
    return f"data:image/{fmt.lower()};base64," + base64.b64encode(out.getvalue()).decode("ascii")


@check("queue_mask_format", "spec", paid=True, protocols=("queue",))
def queue_mask_format(ctx: Context) -> None:
    """An edit whose mask is a WEBP while its image is a PNG (same size, both with alpha) is
    refused, as the providers' pages ask the mask to match the image's format: 4xx at submit,
    or the job ends ``REQUEST_INVALID``."""
    model = (
        ctx.profile.model if ctx.profile.model.endswith("_edit") else ctx.profile.model + "_edit"
    )
    op = f"POST /v1/queue/{model}"
    params = {**_cheap_queue(ctx), "images": [_image("PNG")], "mask": _image("WEBP")}
    _pay_queue(ctx, params, op)
    with ctx.http() as http:
        answer = http.post(f"/v1/queue/{model}", json=params)
        if 400 <= answer.status_code < 500:
            ctx.record(op, "verified")
            return
        body = _json(answer) or {}
        ensure(answer.status_code == 200 and "request_id" in body, op, f"{answer.status_code}")
        request_id = str(body["request_id"])
        deadline = time.monotonic() + ctx.timeout
        while True:
            state = _json(http.get(f"/v1/queue/{model}/requests/{request_id}/status")) or {}
            if state.get("status") == "COMPLETED":
                break
            if time.monotonic() > deadline:
                with contextlib.suppress(httpx.HTTPError):
                    http.put(f"/v1/queue/{model}/requests/{request_id}/cancel")
                break
            time.sleep(0.05)
        ensure(
            state.get("error_type") == "REQUEST_INVALID",
            op,
            f"a WEBP mask on a PNG image ended {state.get('status')} {state.get('error_type')}",
        )
    ctx.record(op, "verified")
