"""Images handlers (OpenAI, AGCloud): parse JSON or a form, call ``ImagesService``, answer."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable

from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Scope

from emulator.domain.errors import (
    DomainError,
    InvalidBody,
    RateLimited,
    ServerStopping,
    UpstreamFailure,
    ValidationFailed,
    Violation,
)
from emulator.domain.images import ImagesService, Upload
from emulator.domain.records import ErrorType, Generation, Usage
from emulator.http.common import NotJson, load_json
from emulator.http.forms import read_form
from emulator.http.images import render
from emulator.http.middleware.gateway import admit_images, key_of
from emulator.http.middleware.journal import FIELDS
from emulator.http.middleware.request_id import request_id
from emulator.http.middleware.steering import steering_of
from emulator.http.shutdown import Drain
from emulator.logs import LOGGER
from emulator.state import Emulator

MAX_FORM_FILES = 64
MAX_FORM_FIELDS = 64
MAX_FIELD_BYTES = 1024 * 1024


def _emulator(request: Request) -> Emulator:
    emulator: Emulator = request.app.state.emulator
    return emulator


class ImagesHandlers:
    """One provider's generation and edit endpoints in the OpenAI dialect (the gateway has
    taken the key already)."""

    def __init__(self, provider: str) -> None:
        self.provider = provider

    async def generate(self, request: Request) -> Response:
        return await self._serve(request, "images.generate")

    async def edit(self, request: Request) -> Response:
        return await self._serve(request, "images.edit")

    async def _serve(self, request: Request, kind: str) -> Response:
        emulator = _emulator(request)
        images = emulator.images
        scope = request.scope
        counted = False
        try:
            steering = steering_of(scope)
            body, upload = await _read_body(request)
            scope[FIELDS] = body if upload is None else upload
            model, n = images.requested(self.provider, kind, body, upload)
            counted = True
            await admit_images(scope, self.provider, model, n)
            generation = await images.prepare(
                self.provider,
                kind,
                key_of(scope),
                body,
                request_id=request_id(scope, "images"),
                upload=upload,
                outcome=steering.outcome if steering else None,
                latency=steering.latency if steering else None,
                service_factor=steering.service_factor if steering else 1.0,
            )
        except DomainError as exc:
            if not counted:  # a request refused before its body was read counts all the same
                exc = await self._count_unread(scope, images, kind, exc)
            return render.error_response(exc)
        drain: Drain = request.app.state.drain
        if generation.stream:
            return render.stream_response(stream_events(emulator, generation, drain))
        try:
            await drain.wait(emulator.clock.sleep_until(generation.finishes_at))
        except ServerStopping as exc:
            return render.error_response(exc)
        if generation.outcome is not None:
            return render.error_response(UpstreamFailure(generation.outcome))
        data = await asyncio.gather(*(images.render(generation, i) for i in range(generation.n)))
        for image in data:
            emulator.metrics.served("b64", len(image))
        return render.images_response(generation, list(data))

    async def _count_unread(
        self, scope: Scope, images: ImagesService, kind: str, exc: DomainError
    ) -> DomainError:
        """Count a request whose body could not be read (as one image of the operation's
        default model); the refusal to answer: a reached limit's, else ``exc``."""
        model, n = images.requested(self.provider, kind, None)
        try:
            await admit_images(scope, self.provider, model, n)
        except RateLimited as limited:
            return limited
        return exc


async def _read_body(request: Request) -> tuple[object, Upload | None]:
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type == "multipart/form-data":
        return None, await _read_form(request)
    raw = await request.body()
    try:
        return load_json(raw), None
    except NotJson as exc:
        raise InvalidBody(exc.problem) from None


async def _read_form(request: Request) -> Upload:
    form = await read_form(
        request, max_files=MAX_FORM_FILES, max_fields=MAX_FORM_FIELDS, max_part_size=MAX_FIELD_BYTES
    )
    fields: dict[str, str] = {}
    files: dict[str, list[bytes]] = {}
    repeated: set[str] = set()
    try:
        names = {name for name, _ in form.multi_items()}
        if {"image", "image[]"} <= names:  # the documents' oneOf: one name or the other
            raise ValidationFailed(
                (
                    Violation(
                        ("image",),
                        "Send the input images as 'image' parts or as 'image[]' parts, not both.",
                        "invalid_value",
                    ),
                )
            )
        for name, value in form.multi_items():
            base = name[:-2] if name.endswith("[]") else name
            if isinstance(value, UploadFile):
                files.setdefault(base, []).append(await value.read())
            elif base in ("image", "mask"):
                raise ValidationFailed(
                    (
                        Violation(
                            (base,),
                            f"Invalid type for '{base}': expected a file, but got a string "
                            "instead.",
                            "invalid_type",
                        ),
                    )
                )
            else:
                if base in fields:
                    repeated.add(base)
                fields[base] = value
    finally:
        await form.close()
    return Upload(fields=fields, files=files, repeated=frozenset(repeated))


async def stream_events(
    emulator: Emulator,
    generation: Generation,
    drain: Drain,
    error_event: Callable[[DomainError], bytes] = render.error_event,
) -> AsyncIterator[bytes]:
    """Partial images then a completed event per image, paced by the clock; ``:`` while idle.

    A failure steered or drawn for the request arrives as one ``error`` event once its time is
    up, after the first image's partials due in the first half: a stream that fails midway.
    A server that begins to stop ends the stream at once with an ``error`` event; so does a
    stream that fails for any other reason (a server error, logged), rather than dropping.
    The events are OpenAI's; ``error_event`` writes the error event in the caller's dialect
    (典名词元 relays OpenAI's events and words its errors in its envelope).
    """
    try:
        async for chunk in _events(emulator, generation, drain, error_event):
            yield chunk
    except ServerStopping as exc:
        yield error_event(exc)
    except Exception:  # the answer began: the client learns of the failure as an event
        logging.getLogger(LOGGER).exception("stream %s failed", generation.request_id)
        yield error_event(UpstreamFailure(ErrorType.INTERNAL_SERVER_ERROR))


async def _events(
    emulator: Emulator,
    generation: Generation,
    drain: Drain,
    error_event: Callable[[DomainError], bytes],
) -> AsyncIterator[bytes]:
    images, clock, metrics = emulator.images, emulator.clock, emulator.metrics
    keepalive = emulator.settings.keepalive_seconds
    if generation.outcome is not None:
        times = generation.event_times(0)
        steps = generation.partial_images + 1
        for index in range(generation.partial_images):
            if (index + 1) / steps / generation.n > 0.5:  # due after the midpoint
                break
            async for beat in _wait(drain.wait(clock.sleep_until(times[index])), keepalive):
                yield beat
            data = await images.render(generation, 0, generation.partial_fidelity(index))
            metrics.served("b64", len(data))
            yield render.partial_event(generation, index, data, int(clock.now()))
        async for beat in _wait(drain.wait(clock.sleep_until(generation.finishes_at)), keepalive):
            yield beat
        yield error_event(UpstreamFailure(generation.outcome))
        return
    for image in range(generation.n):
        times = generation.event_times(image)
        for index in range(generation.partial_images):
            async for beat in _wait(drain.wait(clock.sleep_until(times[index])), keepalive):
                yield beat
            fidelity = generation.partial_fidelity(index)
            data = await images.render(generation, image, fidelity)
            metrics.served("b64", len(data))
            yield render.partial_event(generation, index, data, int(clock.now()))
        async for beat in _wait(drain.wait(clock.sleep_until(times[-1])), keepalive):
            yield beat
        data = await images.render(generation, image)
        metrics.served("b64", len(data))
        usage = _image_usage(generation.usage, image, generation.n)
        yield render.completed_event(generation, data, usage, int(clock.now()))


def _image_usage(total: Usage, image: int, n: int) -> Usage:
    """One image's share: the input tokens on the first, the output tokens split evenly."""
    share = total.output_tokens // n + (1 if image < total.output_tokens % n else 0)
    if image == 0:
        return Usage(total.text_tokens, total.image_tokens, share)
    return Usage(0, 0, share)


async def _wait(sleep: Awaitable[None], every: float) -> AsyncIterator[bytes]:
    """Await ``sleep``, yielding a keep-alive line every ``every`` real seconds meanwhile."""
    task = asyncio.ensure_future(sleep)
    try:
        while True:
            done, _ = await asyncio.wait({task}, timeout=every)
            if done:
                task.result()
                return
            yield render.KEEPALIVE
    finally:
        task.cancel()
