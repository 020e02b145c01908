"""The synchronous Images protocols' domain: one request in, images and usage out.

OpenAI, AGCloud and 典名词元 all answer a generation or an edit in the same call (or a stream
of events). ``ImagesService.prepare`` validates a request against its provider's document and
the named rules, resolves its input images, prices it, draws its service time and outcome, and
returns a ``Generation`` (``records.Generation``, the record a task keeps): everything the HTTP
layer needs to wait, render and answer. Rendering reuses the queue's image synthesis; usage,
prices, latency and rules are the same modules.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from emulator.domain.catalog import IMAGE_MODELS, ImageModel, resolve_quality, resolve_size
from emulator.domain.clock import Clock
from emulator.domain.drawing import RenderSpec
from emulator.domain.drawing.renderer import Renderer
from emulator.domain.errors import (
    ContentBlocked,
    InsufficientBalance,
    InvalidBody,
    ModelNotFound,
    ValidationFailed,
    Violation,
)
from emulator.domain.fetch import concurrently
from emulator.domain.files import prompt_digest
from emulator.domain.gateway import owner_of
from emulator.domain.inputs import Fitted, InputResolver
from emulator.domain.metrics import Metrics
from emulator.domain.outcomes import Outcomes
from emulator.domain.pricing import Balances, output_tokens, usage_cost_usd
from emulator.domain.records import ErrorType, Generation, Usage
from emulator.domain.rules import ResolvedImage, RuleBook, RuleContext
from emulator.spec import Document, Operation
from emulator.store.base import Store

# The most images one request may ask for (every provider's documented maximum of ``n``).
MAX_IMAGES = 10
# Each partial image costs 100 more image-output tokens (AGCloud's and 典名词元's pages).
PARTIAL_IMAGE_TOKENS = 100
# USD per million input tokens (text, image), used for the balance only.
_FIDELITY_FLOOR = 0.125


@dataclass(frozen=True, slots=True)
class Upload:
    """The parts of a ``multipart/form-data`` request: text fields and file parts."""

    fields: Mapping[str, str]
    files: Mapping[str, Sequence[bytes]]  # part name (``image[]`` folded into ``image``) -> data


def render_spec(generation: Generation, index: int, fidelity: float = 1.0) -> RenderSpec:
    """What image ``index`` is; ``fidelity`` < 1 gives a rougher preview of the same image."""
    g = generation
    labels = (
        ("model", g.model),
        ("size", g.size),
        ("quality", g.quality),
        ("format", g.output_format),
        ("image", f"{index + 1}/{g.n}"),
    )
    public = {k: v for k, v in g.params.items() if k not in ("prompt", "images", "mask")}
    provenance = (
        ("request_id", g.request_id),
        ("prompt_sha256", prompt_digest(g.prompt)),
        ("params", _compact(public)),
    )
    return RenderSpec(
        seed=g.seed,
        prompt=g.prompt,
        index=index,
        width=g.width,
        height=g.height,
        output_format=g.output_format,  # type: ignore[arg-type]
        compression=int(g.params.get("output_compression", 100)),
        transparent=g.background == "transparent",
        labels=labels,
        provenance=provenance,
        base=g.base,
        mask=g.mask,
        fidelity=max(_FIDELITY_FLOOR, min(1.0, fidelity)),
    )


def _compact(params: Mapping[str, Any]) -> str:
    return json.dumps(params, sort_keys=True, separators=(",", ":"), default=str)


class ImagesService:
    """Generations and edits of the synchronous providers, each under its own document."""

    def __init__(
        self,
        outcomes: Outcomes,
        balances: Balances,
        clock: Clock,
        store: Store,
        documents: Mapping[str, Document],
        rules: RuleBook,
        inputs: InputResolver,
        renderer: Renderer,
        metrics: Metrics | None = None,
        transparent_preview: bool = False,
    ) -> None:
        self.transparent_preview = transparent_preview  # OpenAI's gpt-image-2 "preview"
        self.renderer = renderer
        self.metrics = Metrics(store) if metrics is None else metrics
        self.outcomes = outcomes
        self.balances = balances
        self.clock = clock
        self.store = store
        self.documents = documents
        self.rules = rules
        self.inputs = inputs

    def operation(self, provider: str, kind: str) -> Operation:
        op = self.documents[provider].operation(kind, "*")
        if op is None:
            raise ModelNotFound(kind)
        return op

    def requested(
        self, provider: str, kind: str, body: Any, upload: Upload | None = None
    ) -> tuple[str, int]:
        """The model and the number of images a request asks for, as its rate limits count
        them, read leniently before any check: a model the emulator does not serve counts as
        the operation's default model (or none), an ``n`` that is not a valid count as 1."""
        op = self.operation(provider, kind)
        fields: Mapping[str, Any] = {}
        if upload is not None:
            fields = upload.fields
        elif isinstance(body, dict):
            fields = body
        model = fields.get("model")
        if not isinstance(model, str) or model not in IMAGE_MODELS:
            model = str(op.defaults.get("model", ""))
        n = fields.get("n")
        if upload is not None and isinstance(n, str) and n.isascii() and n.isdigit():  # a form's
            n = int(n)
        if isinstance(n, int) and not isinstance(n, bool) and 1 <= n <= MAX_IMAGES:
            return model, n
        return model, 1

    async def prepare(
        self,
        provider: str,
        kind: str,
        key: str,
        body: Any,
        *,
        request_id: str,
        upload: Upload | None = None,
        outcome: ErrorType | None = None,
        latency: float | None = None,
        service_factor: float = 1.0,
    ) -> Generation:
        """Validate, resolve, price and time one request; raise the error to answer instead.

        ``kind`` is the document's operation kind (``images.generate``, ``images.edit``,
        ``aa.generate``); ``request_id`` the HTTP request's id, which the generation keeps (it
        seeds the drawn outcome and service time); ``upload`` carries a form's parts when the
        body came as multipart; ``outcome``, ``latency`` and ``service_factor`` steer it
        (``queue.Steering``).
        """
        op = self.operation(provider, kind)
        if upload is not None:
            if op.form is None:
                raise InvalidBody("form_not_taken")
            fields = op.form.coerce(upload.fields)
            violations = op.form.validate(fields)
            defaults = op.form.defaults
            body = fields
        else:
            if not isinstance(body, dict):
                raise InvalidBody("not_object")
            violations = op.validate(body) if op.validate else ()
            defaults = op.defaults
        if violations:
            raise ValidationFailed(violations)
        # An explicit null (the SDK's ``None``), where the document allows one, is as if the
        # field were not sent: the default applies and no rule sees it as sent.
        body = {name: value for name, value in body.items() if value is not None}
        params: dict[str, Any] = {**defaults, **body}
        model = IMAGE_MODELS.get(str(params.get("model")))
        if model is None:  # the schema's enum stops this first; a document may be wider
            raise ValidationFailed(
                (Violation(("model",), f"Invalid value: '{params.get('model')}'.", "enum"),)
            )
        edit = kind != "images.generate"
        images, mask, problems, image_field = await self._inputs(
            params, upload, edit, owner_of(key)
        )
        ctx = RuleContext(
            images=images,
            mask=mask,
            reference_problems=problems,
            model=model,
            provider=provider,
            explicit=frozenset(body),
            image_field=image_field,
            mask_format="png",
            transparent_preview=self.transparent_preview,
        )
        violations = self.rules.check(op.rules, params, ctx, gateway=False)
        if violations:
            raise ValidationFailed(violations)
        fitted = Fitted()
        if edit:  # every input decoded now, never first when an output is drawn
            width, height = _output_size(params, images)
            found = await self.inputs.fit(
                images,
                mask,
                width,
                height,
                transparent=_transparent(params),
                field=image_field,
            )
            if isinstance(found, Violation):
                raise ValidationFailed((found,))
            fitted = found
        prompt = str(params.get("prompt", ""))
        if self.outcomes.blocked(prompt):
            raise ContentBlocked(request_id)
        return await self._accept(
            provider,
            kind,
            key,
            request_id,
            model,
            params,
            images,
            fitted,
            outcome,
            latency,
            service_factor,
        )

    async def _accept(
        self,
        provider: str,
        kind: str,
        key: str,
        request_id: str,
        model: ImageModel,
        params: dict[str, Any],
        images: tuple[ResolvedImage | None, ...],
        fitted: Fitted,
        outcome: ErrorType | None,
        latency: float | None,
        service_factor: float = 1.0,
    ) -> Generation:
        width, height = _output_size(params, images)
        quality = resolve_quality(str(params.get("quality", "auto")))
        fmt = _output_format(params)
        transparent = _transparent(params)
        n = int(params.get("n", 1))
        stream = bool(params.get("stream", False))
        # 典名词元 takes ``stream`` and ``partial_images`` and ignores them (no stream, no cost).
        stream = stream and kind != "aa.generate"
        partials = int(params.get("partial_images") or 0) if stream else 0
        usage = self._usage(model, quality, width, height, n, partials, params, images)
        cost = usage_cost_usd(model.family, usage)
        if not await self.store.charge(owner_of(key), cost, self.balances.opening_for(key)):
            raise InsufficientBalance()
        self.metrics.charged(provider, cost)
        now = self.clock.now()
        if outcome is None:
            outcome = self.outcomes.drawn(request_id)
        seconds = service_factor * self.outcomes.service_seconds(
            (model.family, quality, width, height, n),
            request_id,
            latency,
            outcome,
        )
        return Generation(
            request_id=request_id,
            provider=provider,
            kind=kind,
            model=model.model_id,
            params=params,
            created=int(now),
            started_at=now,
            finishes_at=now + seconds,
            width=width,
            height=height,
            quality=quality,
            background="transparent" if transparent else "opaque",
            output_format=fmt,
            n=n,
            stream=stream,
            partial_images=partials,
            usage=usage,
            seed=self.outcomes.seed,
            outcome=outcome,
            base=fitted.base,
            mask=fitted.mask,
            inputs=sum(image is not None for image in images),
        )

    async def _inputs(
        self, params: Mapping[str, Any], upload: Upload | None, edit: bool, owner: str
    ) -> tuple[tuple[ResolvedImage | None, ...], ResolvedImage | None, tuple[Violation, ...], str]:
        """The input images and mask: form parts, or JSON references (``images``, ``mask``) of
        ``owner``'s request."""
        if not edit:
            return (), None, (), "images"
        problems: list[Violation] = []
        if upload is not None:
            images = tuple(
                self._inspect(data, ("image", i), problems)
                for i, data in enumerate(upload.files.get("image", ()))
            )
            masks = upload.files.get("mask", ())
            mask = self._inspect(masks[0], ("mask",), problems) if masks else None
            return images, mask, tuple(problems), "image"
        refs = params.get("images") or []
        lookups = [self._reference(ref, ("images", index), owner) for index, ref in enumerate(refs)]
        if params.get("mask") is not None:
            lookups.append(self._reference(params["mask"], ("mask",), owner))
        found = await concurrently(lookups)  # the fetches of one request go together
        problems.extend(item for item in found if isinstance(item, Violation))
        images = tuple(None if isinstance(item, Violation) else item for item in found[: len(refs)])
        mask = None
        if params.get("mask") is not None and not isinstance(found[-1], Violation):
            mask = found[-1]
        return images, mask, tuple(problems), "images"

    async def _reference(
        self, ref: Any, loc: tuple[str | int, ...], owner: str
    ) -> ResolvedImage | Violation:
        """``{"image_url": ...}`` or ``{"file_id": ...}`` (or a bare string) to an image of
        ``owner``'s request; a file id another owner uploaded is as unknown as one never issued."""
        if isinstance(ref, dict) and "file_id" in ref:
            data = await self.store.get_upload(owner, str(ref["file_id"]))
            if data is None:
                return Violation(
                    (*loc, "file_id"), f"No such file: '{ref['file_id']}'.", "invalid_value"
                )
            return self.inputs.inspect(data, loc)
        url = ref.get("image_url") if isinstance(ref, dict) else ref
        return await self.inputs.resolve(str(url), loc, owner=owner)

    def _inspect(
        self, data: bytes, loc: tuple[str | int, ...], problems: list[Violation]
    ) -> ResolvedImage | None:
        found = self.inputs.inspect(data, loc)
        if isinstance(found, Violation):
            problems.append(found)
            return None
        return found

    def _usage(
        self,
        model: ImageModel,
        quality: str,
        width: int,
        height: int,
        n: int,
        partials: int,
        params: Mapping[str, Any],
        images: tuple[ResolvedImage | None, ...],
    ) -> Usage:
        text = max(1, math.ceil(len(str(params.get("prompt", ""))) / 4))
        image_tokens = sum(
            _input_image_tokens(image.info.width, image.info.height)
            for image in images
            if image is not None
        )
        out = n * (output_tokens(model.family, quality, width, height) + partials * 100)
        return Usage(text_tokens=text, image_tokens=image_tokens, output_tokens=out)

    async def render(self, generation: Generation, index: int, fidelity: float = 1.0) -> bytes:
        """Image ``index`` of a generation (off the event loop: encoding releases the GIL)."""
        return await self.renderer.render(render_spec(generation, index, fidelity))


def _output_size(
    params: Mapping[str, Any], images: tuple[ResolvedImage | None, ...]
) -> tuple[int, int]:
    """The output size: as asked, or (``auto``) after the first input image."""
    first = images[0].info if images and images[0] is not None else None
    return resolve_size(
        str(params.get("size", "auto")), (first.width, first.height) if first else None
    )


def _output_format(params: Mapping[str, Any]) -> str:
    fmt = str(params.get("output_format", "png"))
    return "png" if fmt == "auto" else fmt


def _transparent(params: Mapping[str, Any]) -> bool:
    return params.get("background") == "transparent" and _output_format(params) in ("png", "webp")


def _input_image_tokens(width: int, height: int) -> int:
    """Tokens of one input image: 85 + 170 per 512-pixel tile after fitting 2048 and 768.

    OpenAI documents this rule for vision inputs, not for image edits; it is the nearest
    published rule, and makes bigger inputs cost more.
    """
    scale = min(1.0, 2048 / max(width, height))
    w, h = width * scale, height * scale
    scale = min(1.0, 768 / min(w, h))
    w, h = w * scale, h * scale
    return 85 + 170 * math.ceil(w / 512) * math.ceil(h / 512)
