"""The OpenAI Images dialect (OpenAI and AGCloud): every body, event and error, written here only.

Errors are ``{"error": {"message", "type", "param", "code"}}``. Validation texts follow the
wording OpenAI's API uses for its parameters ("Missing required parameter: 'prompt'.",
"Invalid value: 'x'. Supported values are: ...", "Invalid 'n': integer above maximum value.
..."); the documents mark them as assumed, since no page lists them for the Images API.
"""

from __future__ import annotations

import base64
import math
from collections.abc import AsyncIterator, Mapping
from http import HTTPStatus
from typing import Any

from starlette.responses import Response, StreamingResponse

from emulator.domain.errors import (
    BadSteering,
    BodyTooLarge,
    ContentBlocked,
    DomainError,
    InsufficientBalance,
    InvalidBody,
    NotFound,
    PlannedError,
    RateLimited,
    ServerStopping,
    Unauthorized,
    UpstreamFailure,
    ValidationFailed,
    Violation,
)
from emulator.domain.limits import Quota
from emulator.domain.records import ErrorType, Generation, Usage
from emulator.domain.rules import quote_list
from emulator.http.common import MAX_JSON_DEPTH, dump_json, json_response, size_text
from emulator.http.middleware.steering import steering_text
from emulator.spec.loader import json_type
from emulator.spec.messages import TYPE_NAMES


def param_name(loc: tuple[str | int, ...]) -> str | None:
    """``("images", 0, "image_url")`` -> ``images[0].image_url``; None for the body itself."""
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text or None


def violation_error(v: Violation, value_of: Any = None) -> tuple[str, str | None, str]:
    """(message, param, code) of one violation."""
    facts: Mapping[str, Any] = v.facts
    param = param_name(v.loc)
    kind = v.kind
    value = facts.get("value", value_of)
    if kind == "additionalproperties":
        name = (facts.get("unexpected") or ["?"])[0]
        return f"Unknown parameter: '{name}'.", param_name((*v.loc, name)), "unknown_parameter"
    if kind == "required" and not v.message.startswith("Missing"):
        return f"Missing required parameter: '{param}'.", param, "missing_required_parameter"
    if kind == "enum":
        options = quote_list([o for o in facts.get("options", []) if o is not None])
        return f"Invalid value: '{value}'. Supported values are: {options}.", param, "invalid_value"
    if kind == "type":
        types = [t for t in facts.get("types", []) if t != "null"] or ["null"]
        wanted = " or ".join(TYPE_NAMES.get(t, t) for t in types)
        # A long string, an array or an object is not among the facts: its type is.
        got = TYPE_NAMES[facts.get("instance_type") or json_type(value)]
        return (
            f"Invalid type for '{param}': expected {wanted}, but got {got} instead.",
            param,
            "invalid_type",
        )
    limit = facts.get("limit")
    if kind in ("maximum", "minimum"):
        number = "integer" if isinstance(value, int) else "decimal"
        above = kind == "maximum"
        relation = "<=" if above else ">="
        return (
            f"Invalid '{param}': {number} {'above maximum' if above else 'below minimum'} value. "
            f"Expected a value {relation} {limit}, but got {value} instead.",
            param,
            f"{number}_{'above_max' if above else 'below_min'}_value",
        )
    if kind in ("maxlength", "minlength", "maxitems", "minitems"):
        what = "string" if kind.endswith("length") else "array"
        above = kind.startswith("max")
        length = facts.get("length")
        article = "an" if what == "array" else "a"
        return (
            f"Invalid '{param}': {what} too {'long' if above else 'short'}. Expected {article} "
            f"{what} with {'maximum' if above else 'minimum'} length {limit}, but got "
            f"{article} {what} with length {length} instead.",
            param,
            f"{what}_{'above_max' if above else 'below_min'}_length",
        )
    if kind == "required":
        return v.message, param, "missing_required_parameter"
    if kind == "image_too_large" and "max_bytes" in facts:
        field = param_name(v.loc[:1])
        limit_mb = facts["max_bytes"] / (1024 * 1024)
        return f"Invalid '{field}': each image must be smaller than {limit_mb:g} MB.", param, kind
    if kind in (
        "invalid_type",
        "array_above_max_length",
        "invalid_image_format",
        "image_too_large",
        "invalid_input_fidelity_model",
        "invalid_png_output_compression",
    ):
        return v.message, param, kind
    if kind in _SHAPE_KINDS:  # never JSON Schema's own words
        return f"Invalid value for '{param}': {_SHAPE_KINDS[kind]}.", param, "invalid_value"
    if kind in _SCHEMA_KINDS:
        return f"Invalid value for '{param}'.", param, "invalid_value"
    # The semantic rules write whole sentences already.
    return v.message, param, "invalid_value"


_SHAPE_KINDS = {
    "oneofnotvalid": "it matches none of the parameter's accepted forms",
    "oneofmultiplevalid": "it matches more than one of the parameter's accepted forms",
    "anyof": "it matches none of the parameter's accepted forms",
}
# The schema keywords' kinds (jsonschema_rs' error kinds, lower case) no branch above words.
_SCHEMA_KINDS = frozenset(
    {
        "constant",
        "contains",
        "contentencoding",
        "contentmediatype",
        "exclusivemaximum",
        "exclusiveminimum",
        "falseschema",
        "format",
        "maxproperties",
        "minproperties",
        "multipleof",
        "not",
        "pattern",
        "propertynames",
        "unevaluateditems",
        "unevaluatedproperties",
        "uniqueitems",
    }
)
# Refusals OpenAI types as the image model's, not the request's (live reports).
USER_ERROR_KINDS = frozenset(
    {"unsupported_background", "invalid_input_fidelity_model", "invalid_png_output_compression"}
)


def error_body(message: str, type_: str, param: str | None, code: str | None) -> dict[str, Any]:
    return {"error": {"message": message, "type": type_, "param": param, "code": code}}


_BODY_TEXT: dict[str, str] = {
    "not_json": (
        "We could not parse the JSON body of your request. The OpenAI API expects a JSON "
        "payload (or multipart/form-data for image edits)."
    ),
    "not_object": "The request body must be a JSON object.",
    "too_deep": (
        f"We could not parse the JSON body of your request: it is nested more than "
        f"{MAX_JSON_DEPTH} levels deep."
    ),
    "form_not_taken": "This endpoint does not take multipart/form-data.",
    "not_form": "This endpoint expects multipart/form-data.",
}
_MISSING_KEY = (
    "You didn't provide an API key. You need to provide your API key in an "
    "Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY)."
)
_INVALID_KEY = "Incorrect API key provided. You can find your API key in your dashboard."
_SERVER_ERROR = "The server had an error while processing your request."
_UPSTREAM_TEXT: dict[ErrorType, str] = {
    ErrorType.INFERENCE_TIMEOUT: "Request timed out.",
    ErrorType.CONTENT_BLOCKED: "Your request was rejected by the safety system.",
}


def body_text(exc: InvalidBody) -> str:
    """Why a body could not be read, in OpenAI's words."""
    if exc.problem == "bad_form":
        return f"Could not parse the multipart form: {exc.detail}"
    return _BODY_TEXT[exc.problem]


def upstream_text(outcome: ErrorType) -> str:
    """A failed generation's message: a timeout, a blocked result, or a server error."""
    return _UPSTREAM_TEXT.get(outcome, _SERVER_ERROR + " Sorry about that!")


# -- rate limits -----------------------------------------------------------------------------


def duration(seconds: float) -> str:
    """A wait as OpenAI writes one in headers and messages (Go's duration form, to the
    millisecond, rounded up): ``0s``, ``240ms``, ``7.5s``, ``6m0s``, ``1h2m3.5s``."""
    ms = math.ceil(round(seconds * 1000, 6))
    if ms <= 0:
        return "0s"
    if ms < 1000:
        return f"{ms}ms"
    hours, ms = divmod(ms, 3_600_000)
    minutes, ms = divmod(ms, 60_000)
    text = f"{ms / 1000:.3f}".rstrip("0").rstrip(".") + "s"
    if hours:
        return f"{hours}h{minutes}m{text}"
    return f"{minutes}m{text}" if minutes else text


def quota_headers(quota: Quota) -> list[tuple[bytes, bytes]]:
    """A key's requests and images per minute for one model, as the ``x-ratelimit-*`` headers
    of every answer: the limit, what is left, and how long until the oldest counted unit
    leaves the window."""
    requests, images = quota.requests, quota.images
    return [
        (b"x-ratelimit-limit-requests", b"%d" % requests.limit),
        (b"x-ratelimit-remaining-requests", b"%d" % requests.remaining),
        (b"x-ratelimit-reset-requests", duration(requests.reset).encode()),
        (b"x-ratelimit-limit-images", b"%d" % images.limit),
        (b"x-ratelimit-remaining-images", b"%d" % images.remaining),
        (b"x-ratelimit-reset-images", duration(images.reset).encode()),
    ]


def rate_limit_text(exc: RateLimited) -> str:
    """Why a request was refused by a limit, in OpenAI's words for that limit."""
    if exc.limit <= 0:  # no limit of the key's (a planned fault): no numbers to give
        return f"Rate limit reached for images. Please try again in {duration(exc.retry_after)}."
    org = f"org-{exc.owner or 'emulator'}"
    if exc.kind == "images":
        return (
            f"Rate limit exceeded for images per minute in organization {org}. "
            f"Limit: {exc.limit}/1min. Current: {exc.used + exc.requested}/1min. Please visit "
            "https://platform.openai.com/docs/guides/rate-limits to learn how to increase your "
            "rate limit."
        )
    what = f" for {exc.model}" if exc.model else ""
    per = "min (RPM)" if exc.window == 60 else duration(exc.window)
    return (
        f"Rate limit reached{what} in organization {org} on requests per {per}: "
        f"Limit {exc.limit}, Used {exc.used}, Requested {exc.requested}. Please try again in "
        f"{duration(exc.retry_after)}. Visit https://platform.openai.com/account/rate-limits "
        "to learn more."
    )


def _retry_headers(seconds: float) -> dict[str, str]:
    wait = max(0.001, seconds)
    return {
        "retry-after": str(max(1, math.ceil(wait))),
        "retry-after-ms": str(max(1, math.ceil(wait * 1000))),
    }


_OVERLOADED = "The engine is currently overloaded, please try again later."


def _planned_parts(exc: PlannedError) -> tuple[int, dict[str, Any], dict[str, str]]:
    """A fault plan's error: OpenAI's body for that status; the retry headers when the plan
    gives ``retry_after``."""
    status = exc.status
    retry = {} if exc.retry_after is None else _retry_headers(exc.retry_after)
    if status == 401:
        return error_parts(Unauthorized("invalid"))
    if status == 429 and exc.retry_after is not None:
        return error_parts(RateLimited(exc.retry_after))
    if status == 429:
        message = "Rate limit reached for images. Please try again later."
        return 429, error_body(message, "requests", None, "rate_limit_exceeded"), {}
    if status == 500:
        message = _SERVER_ERROR + " Sorry about that!"
        return 500, error_body(message, "server_error", None, "server_error"), retry
    if status == 503:
        return 503, error_body(_OVERLOADED, "server_error", None, None), retry
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        phrase = "Error"
    kind = "invalid_request_error" if status < 500 else "server_error"
    return status, error_body(f"{phrase}.", kind, None, None), retry


def error_parts(exc: DomainError) -> tuple[int, dict[str, Any], dict[str, str]]:
    """(status, body, extra headers) of a domain error in this dialect."""
    if isinstance(exc, PlannedError):
        return _planned_parts(exc)
    if isinstance(exc, ValidationFailed):
        first = exc.violations[0]
        message, param, code = violation_error(first)
        kind = "image_generation_user_error" if first.kind in USER_ERROR_KINDS else None
        return 400, error_body(message, kind or "invalid_request_error", param, code), {}
    if isinstance(exc, InvalidBody):
        return 400, error_body(body_text(exc), "invalid_request_error", None, None), {}
    if isinstance(exc, BodyTooLarge):
        message = (
            f"The request body is too large: this endpoint accepts at most {size_text(exc.limit)}."
        )
        return 413, error_body(message, "invalid_request_error", None, "request_too_large"), {}
    if isinstance(exc, BadSteering):
        return 400, error_body(steering_text(exc), "invalid_request_error", None, None), {}
    if isinstance(exc, Unauthorized):
        message = _MISSING_KEY if exc.reason == "missing" else _INVALID_KEY
        return 401, error_body(message, "invalid_request_error", None, "invalid_api_key"), {}
    if isinstance(exc, RateLimited):
        headers = _retry_headers(exc.retry_after)
        return (
            429,
            error_body(rate_limit_text(exc), "requests", None, "rate_limit_exceeded"),
            headers,
        )
    if isinstance(exc, InsufficientBalance):
        message = "You exceeded your current quota, please check your plan and billing details."
        return 429, error_body(message, "insufficient_quota", None, "insufficient_quota"), {}
    if isinstance(exc, ContentBlocked):
        message = (
            "Your request was rejected by the safety system. If you believe this is an error, "
            f"contact us at help.openai.com and include the request ID {exc.request_id}."
        )
        body = error_body(message, "image_generation_user_error", None, "moderation_blocked")
        return 400, body, {}
    if isinstance(exc, UpstreamFailure):
        message = upstream_text(exc.outcome)
        return 500, error_body(message, "server_error", None, "server_error"), {}
    if isinstance(exc, NotFound):
        message = f"No such {exc.what}: '{exc.ident}'."
        return 404, error_body(message, "invalid_request_error", None, None), {}
    if isinstance(exc, ServerStopping):
        message = "The server is shutting down. Please retry your request."
        return 503, error_body(message, "server_error", None, "server_error"), {}
    return 500, error_body(_SERVER_ERROR, "server_error", None, "server_error"), {}


def error_response(exc: DomainError) -> Response:
    """A domain error's answer (the request-id middleware adds ``x-request-id``)."""
    status, body, headers = error_parts(exc)
    return json_response(body, status, headers)


def unrouted(method: str, path: str) -> Response:
    """OpenAI's answer to a path it does not serve (the caller adds ``x-request-id``)."""
    body = error_body(f"Invalid URL ({method} {path})", "invalid_request_error", None, None)
    return json_response(body, 404)


def usage_body(usage: Usage) -> dict[str, Any]:
    return {
        "input_tokens": usage.input_tokens,
        "output_tokens": usage.output_tokens,
        "total_tokens": usage.total_tokens,
        "input_tokens_details": {
            "text_tokens": usage.text_tokens,
            "image_tokens": usage.image_tokens,
        },
        "output_tokens_details": {"image_tokens": usage.output_tokens, "text_tokens": 0},
    }


def images_response(generation: Generation, images: list[bytes]) -> Response:
    """``ImagesResponse``: resolved settings (never ``auto``), the images inline, usage."""
    body = {
        "created": generation.created,
        "data": [{"b64_json": base64.b64encode(data).decode()} for data in images],
        "background": generation.background,
        "output_format": generation.output_format,
        "quality": generation.quality,
        "size": generation.size,
        "usage": usage_body(generation.usage),
    }
    return json_response(body, 200)


# -- streams -------------------------------------------------------------------------------

KEEPALIVE = b": keep-alive\n\n"


def stream_response(events: AsyncIterator[bytes]) -> Response:
    """A stream of server-sent events (the request-id middleware adds ``x-request-id``)."""
    return StreamingResponse(
        events, media_type="text/event-stream", headers={"cache-control": "no-cache"}
    )


def _event_prefix(generation: Generation) -> str:
    return "image_generation" if generation.kind == "images.generate" else "image_edit"


def _requested(generation: Generation) -> dict[str, Any]:
    """Stream events echo the settings as requested (``auto`` included)."""
    params = generation.params
    return {
        "size": params.get("size", "auto"),
        "quality": params.get("quality", "auto"),
        "background": params.get("background", "auto"),
        "output_format": generation.output_format,
    }


def sse(event: str, data: Mapping[str, Any]) -> bytes:
    return b"event: " + event.encode() + b"\ndata: " + dump_json(data) + b"\n\n"


def partial_event(generation: Generation, index: int, image: bytes, created_at: int) -> bytes:
    kind = f"{_event_prefix(generation)}.partial_image"
    data = {
        "type": kind,
        "b64_json": base64.b64encode(image).decode(),
        "created_at": created_at,
        **_requested(generation),
        "partial_image_index": index,
    }
    return sse(kind, data)


def completed_event(generation: Generation, image: bytes, usage: Usage, created_at: int) -> bytes:
    kind = f"{_event_prefix(generation)}.completed"
    data = {
        "type": kind,
        "b64_json": base64.b64encode(image).decode(),
        "created_at": created_at,
        **_requested(generation),
        "usage": usage_body(usage),
    }
    return sse(kind, data)


def error_event(exc: DomainError) -> bytes:
    _, body, _ = error_parts(exc)
    return sse("error", {"type": "error", **body})
