"""Named semantic rules: what JSON Schema cannot say, referenced by ``x-imgemu-rules``.

A rule takes the request body (already schema-valid, defaults applied) and a ``RuleContext``
and yields ``Violation``s. ``no_webhooks`` is a gateway rule: it raises instead, before any
schema check, because the providers refuse webhooks outright.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from itertools import chain
from typing import Any

from emulator.domain.catalog import STANDARD_SIZES, ImageModel, parse_size
from emulator.domain.drawing import ImageInfo
from emulator.domain.errors import Violation, WebhookNotSupported
from emulator.domain.records import record

MIN_PIXELS = 655_360
MAX_PIXELS = 8_294_400
MAX_EDGE = 3840
MAX_RATIO = 3.0
ALPHA_FORMATS = ("png", "webp")


@dataclass(frozen=True, slots=True)
class ResolvedImage:
    """An input image reference after resolution: its bytes and header facts."""

    data: bytes
    info: ImageInfo


@record
class RuleContext:
    """What rules may look at besides the body."""

    images: tuple[ResolvedImage | None, ...] = ()  # None where a reference did not resolve
    mask: ResolvedImage | None = None
    markup: ResolvedImage | None = None  # an edit's ``markup`` part, when it reads as an image
    markup_sent: bool = False
    reference_problems: tuple[Violation, ...] = ()
    query_keys: frozenset[str] = frozenset()
    header_names: frozenset[str] = frozenset()  # lower-case
    # The synchronous protocols: the model asked for, the provider, the fields actually sent
    # (the body the rules see has the schema's defaults filled in), and the name of the
    # request's image field ("image" in a form, "images" in JSON).
    model: ImageModel | None = None
    provider: str = ""
    explicit: frozenset[str] = frozenset()
    image_field: str = "images"
    mask_format: str | None = None  # the one format a mask must have (OpenAI's: png)
    # The mask must have the first image's format (the queue providers' pages say so).
    mask_like_first: bool = False
    # OpenAI: gpt-image-2 may ask for a transparent background, as the SDK's "preview" wording
    # has it (setting ``openai_transparent_preview``; live, it is refused).
    transparent_preview: bool = False


Rule = Callable[[Mapping[str, Any], RuleContext], Iterable[Violation]]


def gpt_image_2_size(body: Mapping[str, Any], ctx: RuleContext) -> Iterator[Violation]:
    """A custom WIDTHxHEIGHT: multiples of 16, ratio <= 3:1, edge <= 3840, pixels in range."""
    size = body.get("size", "auto")
    if size == "auto":
        return
    parsed = parse_size(size)
    if parsed is None or 0 in parsed:
        yield Violation(
            ("size",), f"Invalid size '{size}'. Expected WIDTHxHEIGHT, for example '1824x1024'."
        )
        return
    width, height = parsed
    reason = None
    if width % 16 or height % 16:
        reason = "Width and height must both be divisible by 16."
    elif max(width, height) > MAX_EDGE:
        reason = f"The longest side must not exceed {MAX_EDGE} pixels."
    elif max(width, height) > MAX_RATIO * min(width, height):
        reason = "The aspect ratio must not exceed 3:1."
    elif not MIN_PIXELS <= width * height <= MAX_PIXELS:
        reason = f"Total pixels must be between {MIN_PIXELS} and {MAX_PIXELS}."
    if reason:
        yield Violation(("size",), f"Invalid size '{size}'. {reason}")


def transparent_needs_alpha_format(
    body: Mapping[str, Any], ctx: RuleContext
) -> Iterator[Violation]:
    """A transparent background needs an output format with alpha (png or webp)."""
    fmt = body.get("output_format", "png")
    if body.get("background") == "transparent" and fmt not in ALPHA_FORMATS:
        yield Violation(
            ("background",),
            f"Transparent background requires output_format png or webp, got '{fmt}'.",
        )


def image_references(body: Mapping[str, Any], ctx: RuleContext) -> Iterator[Violation]:
    """Every image reference resolved to a PNG, JPEG or WebP image."""
    yield from ctx.reference_problems


def mask_matches_first_image(body: Mapping[str, Any], ctx: RuleContext) -> Iterator[Violation]:
    """The mask has an alpha channel and the first image's dimensions (and, where the context
    asks, its format)."""
    if ctx.mask is None:
        return
    mask = ctx.mask.info
    if ctx.mask_format is not None and mask.format != ctx.mask_format:
        yield Violation(
            ("mask",), f"The mask must be a {ctx.mask_format.upper()} image, got {mask.format}."
        )
    first = ctx.images[0] if ctx.images else None
    if ctx.mask_like_first and first is not None and mask.format != first.info.format:
        yield Violation(
            ("mask",),
            f"The mask must have the edited image's format ({first.info.format.upper()}), "
            f"got {mask.format.upper()}.",
        )
    if not mask.has_alpha:
        yield Violation(("mask",), "The mask must have an alpha channel.")
    if first is not None and (mask.width, mask.height) != (first.info.width, first.info.height):
        yield Violation(
            ("mask",),
            "The mask must have the same dimensions as the first image "
            f"({first.info.width}x{first.info.height}), got {mask.width}x{mask.height}.",
        )


def markup_part(body: Mapping[str, Any], ctx: RuleContext) -> Iterator[Violation]:
    """An edit's ``markup`` part: a model that takes it, no mask beside it, and a PNG with
    transparent pixels of the first image's dimensions."""
    if not ctx.markup_sent:
        return
    if ctx.model is not None and not ctx.model.markup:
        yield Violation(
            ("markup",), f"markup is not supported for {ctx.model.model_id}.", "invalid_value"
        )
        return
    if ctx.mask is not None:
        yield Violation(("markup",), "markup cannot be combined with mask.", "invalid_value")
        return
    if ctx.markup is None:  # not an image: the image inputs' rule names it
        return
    markup = ctx.markup.info
    if markup.format != "png" or not markup.has_alpha:
        yield Violation(("markup",), "The markup must be a PNG image with transparent pixels.")
    first = ctx.images[0] if ctx.images else None
    if first is not None and (markup.width, markup.height) != (first.info.width, first.info.height):
        yield Violation(
            ("markup",),
            "The markup must have the same dimensions as the first image "
            f"({first.info.width}x{first.info.height}), got {markup.width}x{markup.height}.",
        )


_WEBHOOK_WORDS = ("webhook", "callback_url")


def no_webhooks(body: Mapping[str, Any], ctx: RuleContext) -> Iterator[Violation]:
    """Webhook information in the body, the query or the headers is refused (400)."""
    names = "\n".join(chain(body, ctx.query_keys, ctx.header_names)).lower()
    if any(word in names for word in _WEBHOOK_WORDS):
        raise WebhookNotSupported()
    yield from ()


MAX_INPUT_IMAGES = 16
_STANDARD = ", ".join(f"'{w}x{h}'" for w, h in sorted(STANDARD_SIZES)) + ", and 'auto'"


def quote_list(options: Iterable[object]) -> str:
    """``'a'``, ``'a' and 'b'``, ``'a', 'b', and 'c'``: options as OpenAI's messages list them."""
    items = [f"'{o}'" for o in options]
    if len(items) <= 2:
        return " and ".join(items)
    return ", ".join(items[:-1]) + ", and " + items[-1]


def model_size(body: Mapping[str, Any], ctx: RuleContext) -> Iterator[Violation]:
    """gpt-image-2 takes custom sizes within its limits; the others the three standard ones."""
    if ctx.model is not None and ctx.model.custom_sizes:
        for found in gpt_image_2_size(body, ctx):
            yield Violation(found.loc, found.message, "invalid_value", {"value": body["size"]})
        return
    size = body.get("size", "auto")
    if size != "auto" and parse_size(size) not in STANDARD_SIZES:
        yield Violation(
            ("size",),
            f"Invalid value: '{size}'. Supported values are: {_STANDARD}.",
            "invalid_value",
            {"value": size},
        )


def transparent_background(body: Mapping[str, Any], ctx: RuleContext) -> Iterator[Violation]:
    """Transparent needs png or webp, and a model (or provider) that can draw it."""
    if body.get("background") != "transparent":
        return
    model = ctx.model
    if model is not None and not model.transparency:
        yield Violation(
            ("background",),
            f"Invalid value: 'transparent'. Transparent backgrounds are not supported for "
            f"{model.model_id}. Supported values are: {quote_list(('opaque', 'auto'))}.",
            "invalid_value",
            {"value": "transparent"},
        )
        return
    fmt = body.get("output_format", "png")
    if fmt not in (*ALPHA_FORMATS, "auto"):
        yield Violation(
            ("background",),
            f"Transparent background requires output_format png or webp, got '{fmt}'.",
            "invalid_value",
            {"value": "transparent"},
        )


def compression_needs_lossy_format(
    body: Mapping[str, Any], ctx: RuleContext
) -> Iterator[Violation]:
    """``output_compression`` below 100 only with jpeg or webp."""
    compression = body.get("output_compression", 100)
    fmt = body.get("output_format", "png")
    if compression != 100 and fmt not in ("jpeg", "webp"):
        yield Violation(
            ("output_compression",),
            f"output_compression is only supported for the jpeg and webp output formats, "
            f"not '{fmt}'.",
            "invalid_value",
            {"value": compression},
        )


def background_for_model(body: Mapping[str, Any], ctx: RuleContext) -> Iterator[Violation]:
    """OpenAI: a transparent background needs a model that draws one (gpt-image-2 does not,
    unless ``ctx.transparent_preview``) and png or webp; refused in OpenAI's live words."""
    if body.get("background") != "transparent":
        return
    model = ctx.model
    if model is not None and not model.transparency and not ctx.transparent_preview:
        yield Violation(
            ("background",),
            "Transparent background is not supported for this model.",
            "unsupported_background",
            {"value": "transparent", "model": model.model_id},
        )
        return
    fmt = body.get("output_format", "png")
    if fmt not in ALPHA_FORMATS:
        yield Violation(
            ("background",),
            f"Transparent background requires output_format png or webp, got '{fmt}'.",
            "invalid_value",
            {"value": "transparent"},
        )


def png_compression(body: Mapping[str, Any], ctx: RuleContext) -> Iterator[Violation]:
    """OpenAI: ``output_compression`` below 100 with png output, in OpenAI's live words."""
    compression = body.get("output_compression", 100)
    if compression < 100 and body.get("output_format", "png") == "png":
        yield Violation(
            ("output_compression",),
            "Compression less than 100 is not supported for PNG output format.",
            "invalid_png_output_compression",
            {"value": compression},
        )


def _unsupported(
    field: str, body: Mapping[str, Any], ctx: RuleContext, supports: bool
) -> Iterator[Violation]:
    """``field``, when sent, refused for a model that does not take it."""
    if field in ctx.explicit and ctx.model is not None and not supports:
        yield Violation(
            (field,),
            f"{field} is not supported for {ctx.model.model_id}.",
            "invalid_value",
            {"value": body.get(field)},
        )


def input_fidelity_support(body: Mapping[str, Any], ctx: RuleContext) -> Iterator[Violation]:
    """``input_fidelity``, when sent, must be a value the model takes: gpt-image-2 refuses the
    parameter (``invalid_input_fidelity_model``), gpt-image-1-mini takes only ``low``."""
    model = ctx.model
    value = body.get("input_fidelity")
    if "input_fidelity" not in ctx.explicit or model is None or value in model.input_fidelity:
        return
    if not model.input_fidelity:
        yield Violation(
            ("input_fidelity",),
            f"The model '{model.model_id}' does not support the 'input_fidelity' parameter.",
            "invalid_input_fidelity_model",
            {"value": value, "model": model.model_id},
        )
        return
    yield Violation(
        ("input_fidelity",),
        f"input_fidelity '{value}' is not supported for model {model.model_id}. Supported "
        f"values are: {quote_list(model.input_fidelity)}.",
        "invalid_value",
        {"value": value, "model": model.model_id},
    )


def quality_not_on_plus_models(body: Mapping[str, Any], ctx: RuleContext) -> Iterator[Violation]:
    """AGCloud's -plus models take no ``quality``."""
    yield from _unsupported("quality", body, ctx, ctx.model is None or ctx.model.quality)


def image_inputs(body: Mapping[str, Any], ctx: RuleContext) -> Iterator[Violation]:
    """An edit's 1-16 input images, each a PNG, JPEG or WebP (within the input limits, which
    reading each image checks: ``drawing.ImageLimits``)."""
    field = ctx.image_field
    if not ctx.images and not ctx.reference_problems:
        yield Violation((field,), f"Missing required parameter: '{field}'.", "required")
        return
    if len(ctx.images) > MAX_INPUT_IMAGES:
        yield Violation(
            (field,),
            f"Invalid '{field}': too many images. Expected at most {MAX_INPUT_IMAGES}, "
            f"but got {len(ctx.images)}.",
            "array_above_max_length",
        )
    yield from ctx.reference_problems


@dataclass(frozen=True, slots=True)
class RuleBook:
    """The rules by name; ``gateway`` ones run before the schema check."""

    rules: Mapping[str, Rule] = field(
        default_factory=lambda: {
            "gpt_image_2_size": gpt_image_2_size,
            "transparent_needs_alpha_format": transparent_needs_alpha_format,
            "image_references": image_references,
            "mask_matches_first_image": mask_matches_first_image,
            "no_webhooks": no_webhooks,
            "model_size": model_size,
            "transparent_background": transparent_background,
            "compression_needs_lossy_format": compression_needs_lossy_format,
            "background_for_model": background_for_model,
            "png_compression": png_compression,
            "input_fidelity_support": input_fidelity_support,
            "quality_not_on_plus_models": quality_not_on_plus_models,
            "image_inputs": image_inputs,
            "markup_part": markup_part,
        }
    )
    gateway: frozenset[str] = frozenset({"no_webhooks"})

    @property
    def names(self) -> frozenset[str]:
        return frozenset(self.rules)

    def check(
        self, names: Iterable[str], body: Mapping[str, Any], ctx: RuleContext, *, gateway: bool
    ) -> tuple[Violation, ...]:
        """Run the named rules of one phase and collect their violations."""
        found: list[Violation] = []
        for name in names:
            if (name in self.gateway) == gateway:
                found.extend(self.rules[name](body, ctx))
        return tuple(found)
