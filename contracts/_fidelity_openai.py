"""Checks of OpenAI's Images API as it answers in late 2026 (``openapi/openai.yaml``).

One check per rule the live API shows and the SDK's wording does not: each sends the request
that rule is about and judges the status, ``type``, ``code``, ``param`` and message. Refusals
cost nothing; the checks that need an accepted request (a model id taken, nulls taken) are
paid and priced at the cheapest settings. ``contracts/checks.py`` imports this module, which
registers them in ``contracts._registry``.
"""

from __future__ import annotations

from typing import Any

import httpx

from contracts._common import PROMPT, _json, ensure
from contracts._context import Context, png, price
from contracts._registry import check

GENERATE = "POST /v1/images/generations"
EDIT = "POST /v1/images/edits"


def _error(answer: httpx.Response, operation: str, status: int = 400) -> dict[str, Any]:
    """The ``error`` object of an answer that must be a refusal with ``status``."""
    ensure(
        answer.status_code == status,
        operation,
        f"answered {answer.status_code}, expected {status}: {answer.text[:300]}",
    )
    body = _json(answer)
    ensure(
        isinstance(body, dict) and isinstance(body.get("error"), dict),
        operation,
        "no error object",
    )
    error: dict[str, Any] = body["error"]
    return error


def _expect(
    error: dict[str, Any],
    operation: str,
    type_: str,
    code: str | None,
    param: str | None,
    message: str | None = None,
) -> None:
    found = (error.get("type"), error.get("code"), error.get("param"))
    ensure(
        found == (type_, code, param),
        operation,
        f"type, code, param {found}, expected {(type_, code, param)}",
    )
    if message is not None:
        ensure(
            error.get("message") == message,
            operation,
            f"message {error.get('message')!r}, expected {message!r}",
        )


def _models(ctx: Context) -> dict[str, dict[str, Any]]:
    """The document's ``x-imgemu-models``: what each served model takes."""
    schema = ctx.document["components"]["schemas"]["ImageModel"]
    models: dict[str, dict[str, Any]] = schema["x-imgemu-models"]
    return models


def _generate(http: httpx.Client, **fields: Any) -> httpx.Response:
    return http.post("/v1/images/generations", json={"prompt": PROMPT, **fields})


def _edit(http: httpx.Client, **fields: str) -> httpx.Response:
    files = [("image[]", ("in.png", png(), "image/png"))]
    return http.post("/v1/images/edits", data={"prompt": PROMPT, **fields}, files=files)


@check(
    "openai_transparent_background",
    "spec",
    paid=False,
    protocols=("images",),
    providers=("openai",),
)
def openai_transparent_background(ctx: Context) -> None:
    """gpt-image-2 and its snapshot refuse ``background: transparent`` (png): 400
    ``image_generation_user_error`` / ``invalid_value`` on ``background``, "Transparent
    background is not supported for this model." (live; the SDK calls it a preview)."""
    refusing = [m for m, facts in _models(ctx).items() if not facts["transparency"]]
    with ctx.http() as http:
        for model in refusing:
            answer = _generate(
                http, model=model, background="transparent", output_format="png", quality="low"
            )
            _expect(
                _error(answer, GENERATE),
                GENERATE,
                "image_generation_user_error",
                "invalid_value",
                "background",
                "Transparent background is not supported for this model.",
            )
    ctx.record(GENERATE, "verified")


@check("openai_input_fidelity", "spec", paid=False, protocols=("images",), providers=("openai",))
def openai_input_fidelity(ctx: Context) -> None:
    """An edit sending ``input_fidelity`` to a model that refuses it (gpt-image-2): 400
    ``image_generation_user_error`` / ``invalid_input_fidelity_model`` on ``input_fidelity``;
    to gpt-image-1-mini a value other than ``low``: 400 on ``input_fidelity``."""
    models = _models(ctx)
    with ctx.http() as http:
        for model, facts in models.items():
            taken = facts["input_fidelity"]
            if not taken:
                answer = _edit(http, model=model, input_fidelity="low", quality="low")
                _expect(
                    _error(answer, EDIT),
                    EDIT,
                    "image_generation_user_error",
                    "invalid_input_fidelity_model",
                    "input_fidelity",
                    f"The model '{model}' does not support the 'input_fidelity' parameter.",
                )
            elif "high" not in taken:
                answer = _edit(http, model=model, input_fidelity="high", quality="low")
                error = _error(answer, EDIT)
                ensure(
                    error.get("param") == "input_fidelity",
                    EDIT,
                    f"param {error.get('param')!r}, expected 'input_fidelity'",
                )
    ctx.record(EDIT, "verified")


@check("openai_png_compression", "spec", paid=False, protocols=("images",), providers=("openai",))
def openai_png_compression(ctx: Context) -> None:
    """``output_compression`` below 100 with png output: 400 ``image_generation_user_error`` /
    ``invalid_png_output_compression``, "Compression less than 100 is not supported for PNG
    output format."."""
    with ctx.http() as http:
        answer = _generate(
            http, model=ctx.profile.model, output_format="png", output_compression=50
        )
    _expect(
        _error(answer, GENERATE),
        GENERATE,
        "image_generation_user_error",
        "invalid_png_output_compression",
        "output_compression",
        "Compression less than 100 is not supported for PNG output format.",
    )
    ctx.record(GENERATE, "verified")


@check("openai_error_words", "spec", paid=False, protocols=("images",), providers=("openai",))
def openai_error_words(ctx: Context) -> None:
    """A JSON edit whose image reference fits no documented form is refused with 400 on
    ``images[0]`` in OpenAI's words, never a JSON Schema validator's ("is not valid under any
    of the schemas", "oneOf")."""
    body = {"model": ctx.profile.model, "prompt": PROMPT, "images": [{"url": "x"}]}
    with ctx.http() as http:
        answer = http.post("/v1/images/edits", json=body)
    error = _error(answer, EDIT)
    message = str(error.get("message"))
    ensure(error.get("param") == "images[0]", EDIT, f"param {error.get('param')!r}")
    for words in ("is not valid under any of the schemas", "oneOf", "anyOf"):
        ensure(words not in message, EDIT, f"JSON Schema's words in the message: {message!r}")
    ctx.record(EDIT, "verified")


@check("openai_model_required", "spec", paid=True, protocols=("images",), providers=("openai",))
def openai_model_required(ctx: Context) -> None:
    """A generation without ``model`` (the spec's default, dall-e-2, is retired; gpt-image-1
    is shut down) is refused with 400 on ``model``; priced as one cheapest image in case the
    provider serves it after all."""
    w, h = ctx.profile.cheapest_size
    ctx.budget.pay(price(ctx.profile.family, "low", (w, h)), GENERATE)
    with ctx.http() as http:
        answer = _generate(http, quality="low", size=f"{w}x{h}", output_format="jpeg")
    error = _error(answer, GENERATE)
    ensure(error.get("param") == "model", GENERATE, f"param {error.get('param')!r}")
    ctx.record(GENERATE, "verified")


@check("openai_models_and_nulls", "spec", paid=True, protocols=("images",), providers=("openai",))
def openai_models_and_nulls(ctx: Context) -> None:
    """Every model id the document serves generates an image (the snapshot and
    ``chatgpt-image-latest`` included), with an explicit null in every optional field the
    SDK sends as null for ``None`` and a ``safety_identifier``; each call priced first."""
    nulls = dict.fromkeys(("n", "background", "moderation", "stream", "partial_images"))
    w, h = ctx.profile.cheapest_size
    with ctx.http() as http:
        for model in _models(ctx):
            family = _family(model)
            ctx.budget.pay(price(family, "low", (w, h)), GENERATE)
            answer = _generate(
                http,
                model=model,
                quality="low",
                size=f"{w}x{h}",
                output_format="jpeg",
                safety_identifier="imgemu-contract",
                **nulls,
            )
            ensure(
                answer.status_code == 200,
                GENERATE,
                f"{model} with nulls answered {answer.status_code}: {answer.text[:300]}",
            )
            data = _json(answer) or {}
            ensure(len(data.get("data") or []) == 1, GENERATE, f"{model}: not one image")
    ctx.record(GENERATE, "verified")


def _family(model: str) -> str:
    from emulator.domain.catalog import family_of

    family = family_of(model)
    if family is None:
        raise LookupError(f"{model} is not in emulator/domain/catalog.py")
    return family
