"""典名词元 handlers: parse the request, call the images and task services, render the envelope.

The gateway has taken the key already; every answer's envelope carries the request's id.
"""

from __future__ import annotations

from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import Response

from emulator.domain.aa import PROVIDER
from emulator.domain.errors import (
    DomainError,
    InvalidBody,
    ServerStopping,
    ValidationFailed,
    Violation,
)
from emulator.domain.images import Upload
from emulator.domain.records import TaskStatus
from emulator.http.aa import render
from emulator.http.common import NotJson, app_base, load_json
from emulator.http.forms import read_form
from emulator.http.middleware.gateway import key_of
from emulator.http.middleware.journal import FIELDS, JOB, STATE
from emulator.http.middleware.request_id import request_id
from emulator.http.middleware.steering import steering_of
from emulator.http.shutdown import Drain
from emulator.state import Emulator

KIND = "aa.generate"
MAX_FORM_FILES = 4
MAX_FORM_FIELDS = 16


def _emulator(request: Request) -> Emulator:
    emulator: Emulator = request.app.state.emulator
    return emulator


async def generate(request: Request) -> Response:
    """``POST /api/v1/image/generation``: wait for the images, or with ``async`` answer at once."""
    emulator = _emulator(request)
    scope = request.scope
    rid = request_id(scope, "aa")
    try:
        steering = steering_of(scope)
        try:
            body = scope[FIELDS] = load_json(await request.body())
        except NotJson as exc:
            raise InvalidBody(exc.problem) from None
        key = key_of(scope)
        generation = await emulator.images.prepare(
            PROVIDER,
            KIND,
            key,
            body,
            request_id=rid,
            outcome=steering.outcome if steering else None,
            latency=steering.latency if steering else None,
            service_factor=steering.service_factor if steering else 1.0,
        )
        task = await emulator.tasks.create(key, generation)
    except DomainError as exc:
        return render.error_response(exc, rid)
    scope[JOB] = task.task_id
    base = app_base(request)
    if generation.params.get("async"):
        scope[STATE] = TaskStatus.PENDING.value
        return render.task_response(emulator.tasks.accepted(task), rid, base)
    drain: Drain = request.app.state.drain
    try:
        await drain.wait(emulator.clock.sleep_until(generation.finishes_at))
    except ServerStopping as exc:
        return render.error_response(exc, rid)
    # Judged at its finish at the earliest: a wall clock stepped back by a hair must not
    # answer a waiting call "processing".
    snap = emulator.tasks.snapshot(task, max(emulator.clock.now(), generation.finishes_at))
    scope[STATE] = snap.status.value
    if snap.status is TaskStatus.FAILED:
        return render.failed_response(generation, rid)
    return render.task_response(snap, rid, base)


async def get_task(request: Request) -> Response:
    """``GET /api/v1/image/generation/{task_id}``: the caller's task as the clock has it now."""
    emulator = _emulator(request)
    rid = request_id(request.scope, "aa")
    try:
        task = await emulator.tasks.find(key_of(request.scope), request.path_params["task_id"])
    except DomainError as exc:
        return render.error_response(exc, rid)
    snap = emulator.tasks.snapshot(task, emulator.clock.now())
    request.scope[STATE] = snap.status.value
    return render.task_response(snap, rid, app_base(request))


async def upload(request: Request) -> Response:
    """``POST /api/v1/files``: keep the image in the ``file`` part and answer its id."""
    emulator = _emulator(request)
    rid = request_id(request.scope, "aa")
    try:
        data = await _read_file(request)
        request.scope[FIELDS] = Upload(fields={}, files={"file": [data]})
        file_id = await emulator.tasks.upload(key_of(request.scope), data)
    except DomainError as exc:
        return render.error_response(exc, rid)
    return render.upload_response(file_id, rid)


async def _read_file(request: Request) -> bytes:
    """The bytes of the form's ``file`` part; other parts are ignored."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != "multipart/form-data":
        raise InvalidBody("not_form")
    form = await read_form(request, max_files=MAX_FORM_FILES, max_fields=MAX_FORM_FIELDS)
    try:
        part = form.get("file")
        if part is None:
            raise ValidationFailed((Violation(("file",), "Field required", "required"),))
        if not isinstance(part, UploadFile):
            raise ValidationFailed(
                (Violation(("file",), "Expected a file, got text.", "invalid_type"),)
            )
        return await part.read()
    finally:
        await form.close()
