"""What the checks and the lifecycle machines share: the prompt, the cheapest queue request,
operation names, a queue client on the recorder, the price of a submit, ``ensure`` and SSE parsing.

``checks`` registers the checks and ``_lifecycle`` runs the Hypothesis machines of two of them;
both import this module, which imports neither, so the two never import each other.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import httpx

from clients import QueueClient
from contracts._context import CheckFailed, Context, price

PROMPT = "A clean product photo of a red apple on a white table"


def ensure(condition: bool, operation: str, message: str) -> None:
    """Raise ``CheckFailed`` when ``condition`` does not hold."""
    if not condition:
        raise CheckFailed(operation, message)


def _queue_ops(model: str) -> dict[str, str]:
    base = f"/v1/queue/{model}"
    return {
        "submit": f"POST {base}",
        "status": f"GET {base}/requests/{{request_id}}/status",
        "result": f"GET {base}/requests/{{request_id}}/response",
        "cancel": f"PUT {base}/requests/{{request_id}}/cancel",
    }


def _cheap_queue(ctx: Context, **extra: Any) -> dict[str, Any]:
    w, h = ctx.profile.cheapest_size
    return {"prompt": PROMPT, "size": f"{w}x{h}", "quality": "low", "n": 1, **extra}


def _queue_client(ctx: Context) -> QueueClient:
    return QueueClient(
        ctx.profile.name, base_url=ctx.target, api_key=ctx.api_key, transport=ctx.recorder
    )


def _pay_queue(ctx: Context, params: dict[str, Any], what: str) -> None:
    size = (
        tuple(int(x) for x in str(params["size"]).split("x"))
        if "x" in params["size"]
        else (1536, 1024)
    )
    ctx.budget.pay(
        price(ctx.profile.family, params["quality"], (size[0], size[1]), params["n"]), what
    )


def _images_path(ctx: Context) -> tuple[str, str]:
    path = "/v1/image/edits" if ctx.profile.name == "agcloud" else "/v1/images/generations"
    return path, f"POST {path}"


def parse_events(text: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """``(event, data)`` pairs of an SSE body; comment lines are skipped."""
    for block in text.replace("\r\n", "\n").split("\n\n"):
        fields: dict[str, str] = {}
        for line in block.split("\n"):
            if line and not line.startswith(":") and ":" in line:
                key, _, value = line.partition(":")
                fields[key] = value.removeprefix(" ")
        if "data" in fields:
            yield fields.get("event", "message"), json.loads(fields["data"])


def judge_stream(
    operation: str, events: list[tuple[str, dict[str, Any]]], n: int, partial_images: int
) -> None:
    """Each image's events: partials indexed 0..k-1 (k <= ``partial_images``), then exactly one
    completed event, the only one with ``usage``; every ``type`` equals its ``event:`` line."""
    images: list[list[int]] = []
    partials: list[int] = []
    for name, data in events:
        ensure(
            data.get("type") == name,
            operation,
            f"event {name} carries type {data.get('type')}",
        )
        if name.endswith(".partial_image"):
            ensure("usage" not in data, operation, "usage on a partial event")
            partials.append(int(data["partial_image_index"]))
        elif name.endswith(".completed"):
            ensure(
                isinstance(data.get("usage"), dict), operation, "a completed event without usage"
            )
            images.append(partials)
            partials = []
        else:
            raise CheckFailed(operation, f"an unexpected event {name}: {str(data)[:200]}")
    ensure(not partials, operation, f"partial events {partials} after the last completed event")
    ensure(
        len(images) == n,
        operation,
        f"{len(images)} completed events for n={n}",
    )
    for number, indexes in enumerate(images):
        ensure(
            indexes == list(range(len(indexes))) and len(indexes) <= partial_images,
            operation,
            f"image {number}: partial indexes {indexes} with partial_images={partial_images}",
        )


def judge_stream_answer(
    answer: httpx.Response,
    operation: str,
    n: int,
    partial_images: int,
    each: Callable[[dict[str, Any]], None] | None = None,
) -> None:
    """A stream's answer: a 200 ``text/event-stream`` whose events ``judge_stream`` passes;
    ``each`` judges every event's data too (its image, say)."""
    ensure(answer.status_code == 200, operation, f"a stream answered {answer.status_code}")
    kind = answer.headers.get("content-type", "")
    ensure(kind.startswith("text/event-stream"), operation, f"a stream as {kind}")
    events = list(parse_events(answer.text))
    if each is not None:
        for _, data in events:
            each(data)
    judge_stream(operation, events, n, partial_images)


def _json(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None
