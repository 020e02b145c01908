"""Fidelity checks of the edit endpoints: the rules the providers' pages and SDKs state for edits.

- ``edit_refusals`` (OpenAI, AGCloud): an edit sent as JSON is refused exactly as the same edit
  sent as multipart form data (the same status, ``code`` and ``param``, OpenAI's error body),
  never served unchecked and never answered with a 5xx: ``n`` above 10, no prompt, an unknown
  quality, a model the provider does not offer.
- ``edit_undeclared_parts`` (OpenAI, AGCloud): a form part the provider's document does not
  declare is refused by name (a ``masks`` file part, an unknown text field), never dropped; the
  SDK's ``markup`` part is refused by name where it is not taken.
- ``aa_stream_events`` (典名词元): ``stream: true`` with ``partial_images`` as a string, the
  page's type, answers an event stream of partial images then one final image, each decoding.

The free checks send the cheapest valid request apart from the one breach, so a provider that
drifts into serving it bills one low-quality image. Each registers in ``contracts._registry``
when ``contracts.checks`` imports this module.
"""

from __future__ import annotations

import base64
import io
from typing import Any

import httpx
from PIL import Image

from contracts._common import PROMPT, _json, ensure, judge_stream_answer
from contracts._context import CheckFailed, Context, png, price
from contracts._registry import check
from emulator.domain.catalog import IMAGE_MODELS


def _edit_path(ctx: Context) -> tuple[str, str]:
    path = "/v1/image/edits" if ctx.profile.name == "agcloud" else "/v1/images/edits"
    return path, f"POST {path}"


def _cheapest(ctx: Context) -> dict[str, Any]:
    w, h = ctx.profile.cheapest_size
    return {"model": ctx.profile.model, "prompt": PROMPT, "size": f"{w}x{h}", "quality": "low"}


def _refusal(answer: httpx.Response, operation: str, what: str) -> dict[str, Any]:
    """The error object of a 400 in OpenAI's error body, or the breach."""
    ensure(
        answer.status_code == 400,
        operation,
        f"{what}: answered {answer.status_code}, not 400",
    )
    kind = answer.headers.get("content-type", "")
    ensure(kind.startswith("application/json"), operation, f"{what}: a refusal as {kind!r}")
    body = _json(answer)
    error = body.get("error") if isinstance(body, dict) else None
    ensure(isinstance(error, dict), operation, f"{what}: no error object in {str(body)[:200]}")
    assert isinstance(error, dict)
    missing = {"message", "type", "param", "code"} - set(error)
    ensure(not missing, operation, f"{what}: the error has no {', '.join(sorted(missing))}")
    ensure(
        error["type"] == "invalid_request_error",
        operation,
        f"{what}: error type {error['type']!r}",
    )
    return error


# (what, change to the cheapest edit, the param the refusal names)
REFUSALS: tuple[tuple[str, dict[str, Any], str], ...] = (
    ("n above 10", {"n": 50}, "n"),
    ("no prompt", {"prompt": None}, "prompt"),
    ("an unknown quality", {"quality": "ultra"}, "quality"),
    ("a model the provider does not offer", {"model": "imgemu-no-such-model"}, "model"),
)


@check("edit_refusals", "spec", paid=False, protocols=("images",))
def edit_refusals(ctx: Context) -> None:
    """An edit as JSON (``images`` by reference) is refused as the same edit as a form: ``n``
    above 10, no prompt, an unknown quality, an unknown model each answer 400
    ``invalid_request_error`` naming the field, with the same ``code`` both ways; never a 2xx,
    never a 5xx, never a body that is not OpenAI's error."""
    path, operation = _edit_path(ctx)
    image = png()
    reference = "data:image/png;base64," + base64.b64encode(image).decode()
    with ctx.http() as http:
        for what, change, param in REFUSALS:
            fields = {k: v for k, v in {**_cheapest(ctx), **change}.items() if v is not None}
            as_json = _refusal(
                http.post(path, json={**fields, "images": [{"image_url": reference}]}),
                operation,
                f"{what} (JSON)",
            )
            form = {k: str(v) for k, v in fields.items()}
            as_form = _refusal(
                http.post(path, data=form, files=[("image", ("in.png", image, "image/png"))]),
                operation,
                f"{what} (form)",
            )
            for side, error in (("JSON", as_json), ("form", as_form)):
                ensure(
                    error["param"] == param,
                    operation,
                    f"{what} ({side}): param {error['param']!r}, not {param!r}",
                )
            ensure(
                as_json["code"] == as_form["code"],
                operation,
                f"{what}: code {as_json['code']!r} as JSON, {as_form['code']!r} as a form",
            )
    ctx.record(operation, "verified")


def _declares(ctx: Context, path: str, part: str) -> bool:
    """Whether the document's multipart edit body declares ``part``."""
    content = _resolve(ctx, ctx.document["paths"][path]["post"]["requestBody"])["content"]
    schema = _resolve(ctx, content["multipart/form-data"]["schema"])
    return part in (schema.get("properties") or {})


def _resolve(ctx: Context, node: Any) -> Any:
    while isinstance(node, dict) and "$ref" in node:
        target: Any = ctx.document
        for key in str(node["$ref"])[2:].split("/"):
            target = target[key]
        node = target
    return node


@check("edit_undeclared_parts", "spec", paid=False, protocols=("images",))
def edit_undeclared_parts(ctx: Context) -> None:
    """A multipart edit's undeclared part is refused by name, never dropped: a ``masks`` file
    part and an unknown text field each answer 400 ``invalid_request_error`` /
    ``unknown_parameter`` with the part in ``param``; a ``markup`` part (OpenAI's SDK 3.57) is
    refused naming ``markup``: as unknown where the document does not declare it, as not taken
    by the model where it does."""
    path, operation = _edit_path(ctx)
    image = ("image", ("in.png", png(), "image/png"))
    mask = ("mask.png", png(), "image/png")
    form = {k: str(v) for k, v in _cheapest(ctx).items()}
    model = IMAGE_MODELS.get(ctx.profile.model)
    cases: list[tuple[str, dict[str, str], list[Any], str, str | None]] = [
        ("a masks file part", form, [image, ("masks", mask)], "masks", "unknown_parameter"),
        (
            "an unknown text field",
            {**form, "imgemu_unknown_field": "1"},
            [image],
            "imgemu_unknown_field",
            "unknown_parameter",
        ),
    ]
    markup = [image, ("markup", mask)]
    if not _declares(ctx, path, "markup"):
        cases.append(("an undeclared markup part", form, markup, "markup", "unknown_parameter"))
    elif model is not None and not model.markup:
        cases.append((f"markup for {ctx.profile.model}", form, markup, "markup", None))
    with ctx.http() as http:
        for what, fields, files, param, code in cases:
            error = _refusal(http.post(path, data=fields, files=files), operation, what)
            ensure(
                error["param"] == param,
                operation,
                f"{what}: param {error['param']!r}, not {param!r}",
            )
            if code is not None:
                ensure(error["code"] == code, operation, f"{what}: code {error['code']!r}")
    ctx.record(operation, "verified")


AA_OPERATION = "POST /api/v1/image/generation"
PIL_FORMAT = "PNG"


@check("aa_stream_events", "stream", paid=True, protocols=("aa",))
def aa_stream_events(ctx: Context) -> None:
    """``stream: true`` with ``partial_images: "2"`` (a string, the page's type) answers an
    event stream: ``image_edit.partial_image`` events indexed 0..k-1 with k <= 2, then one
    ``image_edit.completed`` with ``usage``; each event's ``type`` is its ``event:`` line and
    each image decodes as the PNG of the size asked."""
    w, h = ctx.profile.cheapest_size
    ctx.budget.pay(price(ctx.profile.family, "low", (w, h), 1), AA_OPERATION)
    body = {
        **_cheapest(ctx),
        "images": [{"image_url": "data:image/png;base64," + base64.b64encode(png()).decode()}],
        "n": 1,
        "output_format": "png",
        "stream": True,
        "partial_images": "2",
    }
    with ctx.http() as http:
        answer = http.post("/api/v1/image/generation", json=body)
    judge_stream_answer(answer, AA_OPERATION, 1, 2, lambda data: _judge(data, (w, h)))
    ctx.record(AA_OPERATION, "verified")


def _judge(data: dict[str, Any], size: tuple[int, int]) -> None:
    """An event's image decodes as a PNG of ``size``."""
    try:
        image = Image.open(io.BytesIO(base64.b64decode(str(data.get("b64_json", "")))))
        image.load()
    except Exception as exc:  # any decoder error is the finding
        raise CheckFailed(AA_OPERATION, f"an event's image does not decode: {exc}") from exc
    ensure(image.format == PIL_FORMAT, AA_OPERATION, f"an event's image is {image.format}")
    ensure(image.size == size, AA_OPERATION, f"an event's image is {image.size}, asked {size}")
