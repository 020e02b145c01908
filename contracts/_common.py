"""What the checks and the lifecycle machines share: the prompt, the cheapest queue request,
operation names, a queue client on the recorder, the price of a submit, ``ensure`` and SSE parsing.

``checks`` registers the checks and ``_lifecycle`` runs the Hypothesis machines of two of them;
both import this module, which imports neither, so the two never import each other.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
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


def _json(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None
