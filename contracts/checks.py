"""The registry of named checks: spec conformance, queue lifecycle, streams, image properties.

Each check is a function ``check(ctx: Context) -> None`` registered with its metadata. It records
one outcome per operation it judged (``ctx.record``) and raises ``CheckFailed`` (or lets an
``AssertionError`` through) at the first breach of the contract; the runner turns that into a
"failed" outcome with the last request and response. A later test names a check to assert that a
broken variant is caught by it: ``"image_properties" in report.failed_checks()``.
"""

from __future__ import annotations

import contextlib
import io
import time
from dataclasses import dataclass
from typing import Any

from PIL import Image

from clients import (
    AAClient,
    AuthenticationError,
    ImagesClient,
    ImgemuError,
    JobNotReadyError,
    PermissionDeniedError,
    QueueClient,
)
from contracts._common import (
    PROMPT,
    _images_path,
    _queue_client,
    _queue_ops,
    ensure,
    judge_stream_answer,
)
from contracts._context import (
    CheckFailed,
    Context,
    Profile,
    png,
    price,
)
from contracts._registry import REGISTRY, Check, check, checks_for

__all__ = ["REGISTRY", "Check", "check", "checks_for"]

# --- spec conformance (Schemathesis) --------------------------------------------------------


@check("spec_negative", "spec", paid=False, protocols=("queue", "images", "aa"))
def spec_negative(ctx: Context) -> None:
    """Schemathesis with negative data only: refused as documented (the queue: refused at submit
    or the job ends ``REQUEST_INVALID``), with documented statuses, content types and bodies;
    then a schema-valid body each size rule of ``x-imgemu-rules`` refuses (an invalid
    gpt-image-2 size), refused the same way. An envelope's ``code`` repeats the HTTP status."""
    from contracts._spec import run_schemathesis

    run_schemathesis(ctx, negative=True)


@check("spec_conformance", "spec", paid=True, protocols=("queue", "images", "aa"))
def spec_conformance(ctx: Context) -> None:
    """Schemathesis with positive data: statuses, content types and response schemas as
    documented, also for the status of each job a queue submit accepted; each paid case is
    priced from its body and skipped over the budget."""
    from contracts._spec import run_schemathesis

    run_schemathesis(ctx, negative=False)


# --- auth ------------------------------------------------------------------------------------

# Not a key any provider issued; and the default emulator refuses a key containing "invalid".
INVALID_KEY = "imgemu-contract-invalid-key"


@check("auth_enforced", "auth", paid=False, protocols=("queue", "images", "aa"))
def auth_enforced(ctx: Context) -> None:
    """The cheapest request the provider would serve (its generation, edit or submit), sent
    with a key it never issued, is refused with 401 or 403. Free: nothing runs on the caller's
    key. Schemathesis replays only the requests it got a 2xx for with invalid credentials; this
    asks each provider's paid operation once, whatever Schemathesis drew."""
    params = _params(_asks(ctx.profile)[0])
    profile, model, target = ctx.profile, ctx.profile.model, ctx.target
    try:
        if profile.protocol == "queue":
            operation = _queue_ops(model)["submit"]
            with QueueClient(
                profile.name, base_url=target, api_key=INVALID_KEY, transport=ctx.recorder
            ) as client:
                job = client.submit(model, {"prompt": PROMPT, **params})
                with contextlib.suppress(ImgemuError):  # best effort: the breach is found
                    client.cancel(model, job.request_id)
        elif profile.protocol == "images":
            path, operation = _images_path(ctx)
            with ImagesClient(
                profile.name, base_url=target, api_key=INVALID_KEY, transport=ctx.recorder
            ) as images:
                if path.endswith("generations"):
                    images.generate(PROMPT, model=model, **params)
                else:
                    images.edit(PROMPT, png(), model=model, **params)
        else:
            operation = "POST /api/v1/image/generation"
            with AAClient(
                profile.name, base_url=target, api_key=INVALID_KEY, transport=ctx.recorder
            ) as aa:
                aa.generate(PROMPT, images=[png()], model=model, **params)
    except (AuthenticationError, PermissionDeniedError):
        ctx.record(operation, "verified")
        return
    raise CheckFailed(operation, "a request with a key the provider never issued was served")


# --- queue lifecycle -------------------------------------------------------------------------

RANK = {"IN_QUEUE": 0, "IN_PROGRESS": 1, "COMPLETED": 2}


@check("queue_lifecycle", "lifecycle", paid=True, protocols=("queue",))
def queue_lifecycle(ctx: Context) -> None:
    """A Hypothesis state machine over the queue (few short runs, at most three cheapest paid
    submits each, unfinished jobs cancelled): states only move forward, ``queue_position`` never
    rises, the result is not ready before ``COMPLETED`` and always after, cancel answers exactly
    202 / 400 ``ALREADY_COMPLETED`` / 404 ``NOT_FOUND`` and never 202 once completed, a terminal
    job's status, ``error_type`` and result never change, a cancelled job ends ``CANCELED``."""
    from contracts._lifecycle import queue_machine  # Hypothesis loads when a machine runs

    queue_machine(ctx)


def _walk_to_terminal(
    ctx: Context, client: QueueClient, request_id: str, ops: dict[str, str]
) -> None:
    model = ctx.profile.model
    last_rank, last_position = -1, None
    deadline = time.monotonic() + ctx.timeout
    delay = 0.05
    while True:
        status = client.status(model, request_id, logs=True)
        rank = RANK[status.state]
        ensure(rank >= last_rank, ops["status"], f"the state went back to {status.state}")
        if status.state == "IN_QUEUE" and status.queue_position is not None:
            ensure(
                last_position is None or status.queue_position <= last_position,
                ops["status"],
                f"queue_position rose from {last_position} to {status.queue_position}",
            )
            last_position = status.queue_position
        last_rank = rank
        if status.done:
            return
        try:
            client.result(model, request_id)
        except JobNotReadyError:
            pass
        else:
            # The job may have finished between the two calls (a fast provider): a breach only
            # if a status read after the result still says the job is not COMPLETED.
            again = client.status(model, request_id)
            ensure(
                again.done,
                ops["result"],
                f"a result was served while the job was {status.state}, and a status read "
                f"after it still says {again.state}",
            )
            return
        ensure(time.monotonic() < deadline, ops["status"], "the job did not finish in time")
        time.sleep(delay)
        delay = min(delay * 2, 2.0)


# --- streams ---------------------------------------------------------------------------------


@check("stream_events", "stream", paid=True, protocols=("images",))
def stream_events(ctx: Context) -> None:
    """A stream with ``partial_images=2``: partial indexes 0..k-1 with k <= 2, exactly one
    completed event per image, ``usage`` only on the completed events."""
    partial_images, n = 2, 1
    w, h = ctx.profile.cheapest_size
    fields = {
        "model": ctx.profile.model,
        "prompt": PROMPT,
        "size": f"{w}x{h}",
        "quality": "low",
        "n": str(n),
        "stream": "true",
        "partial_images": str(partial_images),
    }
    path, operation = _images_path(ctx)
    ctx.budget.pay(price(ctx.profile.family, "low", (w, h), n), operation)
    with ctx.http() as http:
        if path.endswith("generations"):
            answer = http.post(
                path, json={**fields, "n": n, "stream": True, "partial_images": partial_images}
            )
        else:
            files = [("image", ("in.png", png(), "image/png"))]
            answer = http.post(path, data=fields, files=files)
    judge_stream_answer(answer, operation, n, partial_images)
    ctx.record(operation, "verified")


@check("stream_lifecycle", "stream", paid=True, protocols=("images",))
def stream_lifecycle(ctx: Context) -> None:
    """Streams for a few drawn ``n`` (1..2) and ``partial_images`` (0..3), cheapest settings,
    each priced first: per image, partial indexes 0..k-1 with k <= ``partial_images``, exactly
    one completed event, ``usage`` only there; every event's ``type`` equals its ``event:``
    line."""
    from contracts._lifecycle import stream_machine  # Hypothesis loads when a machine runs

    stream_machine(ctx)


# --- image properties ------------------------------------------------------------------------

MAGIC = {"png": b"\x89PNG\r\n\x1a\n", "jpeg": b"\xff\xd8\xff", "webp": b"RIFF"}
PIL_FORMAT = {"png": "PNG", "jpeg": "JPEG", "webp": "WEBP"}


@dataclass(frozen=True, slots=True)
class Ask:
    """One image request of the image check: what to ask and so what to expect."""

    output_format: str
    size: str  # "WxH" or "auto"
    transparent: bool


def _asks(profile: Profile) -> list[Ask]:
    w, h = profile.cheapest_size
    asks = [Ask("jpeg", "auto", False)]
    asks.insert(0, Ask("png", f"{w}x{h}", profile.transparency))
    return asks


def judge_image(
    ctx: Context, operation: str, data: bytes, ask: Ask, content_type: str | None
) -> None:
    """One image: it decodes, magic bytes and content type match the format, size, alpha."""
    fmt = ask.output_format
    ensure(data.startswith(MAGIC[fmt]), operation, f"magic bytes {data[:8]!r} are not {fmt}")
    if fmt == "webp":
        ensure(data[8:12] == b"WEBP", operation, "a RIFF file that is not WEBP")
    if content_type is not None:
        ensure(
            content_type.split(";")[0].strip() == f"image/{fmt}",
            operation,
            f"content type {content_type} for {fmt}",
        )
    try:
        image = Image.open(io.BytesIO(data))
        image.load()
    except Exception as exc:  # any decoder error is the finding
        raise CheckFailed(operation, f"the image does not decode: {exc}") from exc
    ensure(image.format == PIL_FORMAT[fmt], operation, f"decodes as {image.format}, not {fmt}")
    if ask.size == "auto":
        ensure(image.size in ctx.profile.auto_sizes, operation, f"size {image.size} for auto")
    else:
        w, h = (int(x) for x in ask.size.split("x"))
        ensure(
            image.size == (w, h),
            operation,
            f"size {image.size[0]}x{image.size[1]}, asked {ask.size}",
        )
    if ask.transparent:
        ensure("A" in image.getbands(), operation, f"no alpha ({image.mode}) for a transparent ask")


def _price_ask(ctx: Context, ask: Ask, operation: str) -> None:
    if ask.size == "auto":
        size = max(ctx.profile.auto_sizes, key=lambda s: s[0] * s[1])
    else:
        w, h = (int(x) for x in ask.size.split("x"))
        size = (w, h)
    ctx.budget.pay(price(ctx.profile.family, "low", size, 1), operation)


@check("image_properties", "image", paid=True, protocols=("queue", "images", "aa"))
def image_properties(ctx: Context) -> None:
    """Every returned image decodes; its magic bytes match ``output_format`` and the content
    type; its size is the requested one (or an allowed one for ``auto``); there are ``n``; alpha
    is present where transparency was asked of a model that supports it."""
    runner = {"queue": _images_queue, "images": _images_images, "aa": _images_aa}
    for ask in _asks(ctx.profile):
        runner[ctx.profile.protocol](ctx, ask)


def _params(ask: Ask) -> dict[str, Any]:
    params: dict[str, Any] = {
        "size": ask.size,
        "quality": "low",
        "n": 1,
        "output_format": ask.output_format,
    }
    if ask.transparent:
        params["background"] = "transparent"
    return params


def _images_queue(ctx: Context, ask: Ask) -> None:
    model = ctx.profile.model
    ops = _queue_ops(model)
    _price_ask(ctx, ask, ops["submit"])
    with _queue_client(ctx) as client, ctx.http() as http:
        job = client.submit(model, {"prompt": PROMPT, **_params(ask)})
        _walk_to_terminal(ctx, client, job.request_id, ops)
        result = client.result(model, job.request_id)
        ensure(len(result.outputs) == 1, ops["result"], f"{len(result.outputs)} outputs for n=1")
        for output in result.outputs:
            download = http.get(output.url)
            ensure(download.status_code == 200, ops["result"], f"download {download.status_code}")
            judge_image(
                ctx, ops["result"], download.content, ask, download.headers.get("content-type")
            )
            ensure(
                output.content_type == f"image/{ask.output_format}",
                ops["result"],
                f"output content_type {output.content_type}",
            )
            actual = Image.open(io.BytesIO(download.content)).size
            ensure(
                (output.width, output.height) == actual,
                ops["result"],
                f"output says {output.width}x{output.height}, the image is {actual[0]}x{actual[1]}",
            )
    ctx.record(ops["result"], "verified")


def _images_images(ctx: Context, ask: Ask) -> None:
    path, operation = _images_path(ctx)
    _price_ask(ctx, ask, operation)
    params = _params(ask)
    with ImagesClient(
        ctx.profile.name, base_url=ctx.target, api_key=ctx.api_key, transport=ctx.recorder
    ) as client:
        if path.endswith("generations"):
            result = client.generate(PROMPT, model=ctx.profile.model, **params)
        else:
            result = client.edit(PROMPT, png(), model=ctx.profile.model, **params)
    ensure(len(result.images) == 1, operation, f"{len(result.images)} images for n=1")
    ensure(
        result.output_format in (None, ask.output_format),
        operation,
        f"output_format {result.output_format}, asked {ask.output_format}",
    )
    for data in result.images:
        judge_image(ctx, operation, data, ask, None)
    ctx.record(operation, "verified")


def _images_aa(ctx: Context, ask: Ask) -> None:
    operation = "POST /api/v1/image/generation"
    _price_ask(ctx, ask, operation)
    with (
        AAClient(
            ctx.profile.name, base_url=ctx.target, api_key=ctx.api_key, transport=ctx.recorder
        ) as client,
        ctx.http() as http,
    ):
        task = client.generate(PROMPT, images=[png()], model=ctx.profile.model, **_params(ask))
        ensure(len(task.urls) == 1, operation, f"{len(task.urls)} urls for n=1")
        for url in task.urls:
            download = http.get(url)
            ensure(download.status_code == 200, operation, f"download {download.status_code}")
            judge_image(ctx, operation, download.content, ask, download.headers.get("content-type"))
    ctx.record(operation, "verified")


# Provider-specific fidelity checks, each module registering its own on import (last, so the
# common checks come first in the registry).
from contracts import _fidelity_edits, _fidelity_openai, _fidelity_queue  # noqa: E402, F401
