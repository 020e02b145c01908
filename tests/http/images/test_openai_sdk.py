"""The official ``openai`` SDK against a real emulator server, validating every response strictly.

``_strict_response_validation=True`` makes the SDK check each body and each stream event against
its own models, so a field the SDK does not expect to be missing, or of the wrong type, fails
here. Errors must come out as the SDK's own exception classes with the status, ``code``,
``param`` and request id the SDK reads from the body and the ``x-request-id`` header.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import openai
import pytest
from openai import AsyncOpenAI, OpenAI
from openai.types import (
    ImageEditCompletedEvent,
    ImageEditPartialImageEvent,
    ImageGenCompletedEvent,
    ImageGenPartialImageEvent,
    ImagesResponse,
)
from starlette.applications import Starlette

from emulator.settings import RateLimit
from tests.helpers import RunningServer, decode, fast_app, jpeg_bytes, mask_bytes, png_bytes
from tests.support.images import PROMPT

pytestmark = pytest.mark.server

Serve = Callable[[Starlette], RunningServer]
PIL_FORMATS = {"png": "PNG", "jpeg": "JPEG", "webp": "WEBP"}
GOOD_KEY = "sk-good"


# The clients a test made, closed after it: an open one keeps its pooled socket to a server
# already stopped, and its collection, in whatever test runs then, warns of an unclosed socket.
_OPENED: list[OpenAI] = []


@pytest.fixture(autouse=True)
def _close_clients() -> Iterator[None]:
    yield
    while _OPENED:
        _OPENED.pop().close()


def client_for(server: RunningServer, api_key: str = "sk-test") -> OpenAI:
    client = OpenAI(
        base_url=server.base_url + "/v1",
        api_key=api_key,
        _strict_response_validation=True,
        max_retries=0,
    )
    _OPENED.append(client)
    return client


def check_image(b64: str, fmt: str, size: tuple[int, int]) -> None:
    image = decode(b64)
    assert (image.format, image.size) == (PIL_FORMATS[fmt], size)


def check_usage(usage: Any, *, image_input: bool, first: bool = True) -> None:
    """Totals add up; the input tokens (text, and images for edits) are billed with the first
    image only."""
    details = usage.input_tokens_details
    assert usage.input_tokens == details.text_tokens + details.image_tokens
    assert usage.total_tokens == usage.input_tokens + usage.output_tokens
    assert usage.output_tokens > 0
    assert (details.text_tokens > 0) is first
    assert (details.image_tokens > 0) is (first and image_input)


# -- generations ---------------------------------------------------------------------------


def test_generate_answers_a_strictly_valid_images_response(serve: Serve) -> None:
    client = client_for(serve(fast_app()))
    result = client.images.generate(
        model="gpt-image-1.5",
        prompt=PROMPT,
        n=2,
        size="1536x1024",
        quality="low",
        output_format="jpeg",
        output_compression=80,
    )
    assert isinstance(result, ImagesResponse)
    assert result._request_id is not None
    assert result._request_id.startswith("req_")
    assert (result.size, result.quality, result.output_format, result.background) == (
        "1536x1024",
        "low",
        "jpeg",
        "opaque",
    )
    assert result.data is not None
    assert len(result.data) == 2
    for item in result.data:
        assert item.url is None
        assert item.b64_json is not None
        check_image(item.b64_json, "jpeg", (1536, 1024))
    assert result.usage is not None
    check_usage(result.usage, image_input=False)
    assert result.usage.output_tokens_details is not None
    assert result.usage.output_tokens_details.image_tokens == result.usage.output_tokens


def test_a_generation_stream_yields_typed_partial_and_completed_events(serve: Serve) -> None:
    client = client_for(serve(fast_app()))
    stream = client.images.generate(
        model="gpt-image-2",
        prompt=PROMPT,
        n=2,
        size="1024x1536",
        quality="low",
        output_format="webp",
        stream=True,
        partial_images=2,
    )
    found = list(stream)
    assert [type(event) for event in found] == [
        ImageGenPartialImageEvent,
        ImageGenPartialImageEvent,
        ImageGenCompletedEvent,
    ] * 2
    partials = [e for e in found if isinstance(e, ImageGenPartialImageEvent)]
    completed = [e for e in found if isinstance(e, ImageGenCompletedEvent)]
    assert [e.partial_image_index for e in partials] == [0, 1, 0, 1]
    assert {e.type for e in partials} == {"image_generation.partial_image"}
    assert {e.type for e in completed} == {"image_generation.completed"}
    for event in found:
        # Events echo the settings as requested.
        assert (event.size, event.quality, event.background, event.output_format) == (
            "1024x1536",
            "low",
            "auto",
            "webp",
        )
        check_image(event.b64_json, "webp", (1024, 1536))
    assert completed[0].b64_json != completed[1].b64_json
    check_usage(completed[0].usage, image_input=False)
    check_usage(completed[1].usage, image_input=False, first=False)
    assert completed[0].usage.output_tokens == completed[1].usage.output_tokens


@pytest.mark.anyio
async def test_the_async_client_generates_and_streams(serve: Serve) -> None:
    server = serve(fast_app())
    async with AsyncOpenAI(
        base_url=server.base_url + "/v1",
        api_key="sk-test",
        _strict_response_validation=True,
        max_retries=0,
    ) as client:
        result = await client.images.generate(
            model="gpt-image-1-mini", prompt=PROMPT, quality="low", output_format="png"
        )
        assert result.data is not None
        check_image(result.data[0].b64_json or "", "png", (1024, 1024))
        stream = await client.images.edit(
            model="gpt-image-1.5",
            image=[png_bytes((1024, 1024))],
            prompt=PROMPT,
            quality="low",
            stream=True,
            partial_images=1,
        )
        found = [event async for event in stream]
    assert [type(event) for event in found] == [
        ImageEditPartialImageEvent,
        ImageEditCompletedEvent,
    ]
    for event in found:
        check_image(event.b64_json, "png", (1024, 1024))
    completed = found[-1]
    assert isinstance(completed, ImageEditCompletedEvent)
    check_usage(completed.usage, image_input=True)


# -- edits ---------------------------------------------------------------------------------

# How the SDK sends the inputs: raw bytes as one ``image`` part (``upload``,
# application/octet-stream), a list as repeated ``image[]`` parts, a mask as ``mask``.
EDITS: dict[str, tuple[dict[str, Any], str, tuple[int, int]]] = {
    "one image": ({"image": png_bytes((1024, 1536))}, "png", (1024, 1536)),
    "a list of images": (
        {
            "image": [
                ("a.png", png_bytes((1536, 1024)), "image/png"),
                ("b.jpg", jpeg_bytes((640, 480)), "image/jpeg"),
            ]
        },
        "jpeg",
        (1536, 1024),
    ),
    "a mask": (
        {
            "image": ("in.png", png_bytes((1024, 1024)), "image/png"),
            "mask": ("mask.png", mask_bytes((1024, 1024), (256, 256, 768, 768)), "image/png"),
        },
        "webp",
        (1024, 1024),
    ),
}


@pytest.mark.parametrize("inputs", EDITS)
def test_an_edit_answers_a_strictly_valid_images_response(serve: Serve, inputs: str) -> None:
    files, fmt, size = EDITS[inputs]
    client = client_for(serve(fast_app()))
    result = client.images.edit(
        model="gpt-image-1.5", prompt=PROMPT, quality="low", output_format=fmt, **files
    )
    assert isinstance(result, ImagesResponse)
    assert result._request_id is not None
    assert result._request_id.startswith("req_")
    assert (result.size, result.output_format) == (f"{size[0]}x{size[1]}", fmt)
    assert result.data is not None
    assert len(result.data) == 1
    check_image(result.data[0].b64_json or "", fmt, size)
    assert result.usage is not None
    check_usage(result.usage, image_input=True)


@pytest.mark.parametrize("inputs", EDITS)
def test_an_edit_stream_yields_typed_partial_and_completed_events(
    serve: Serve, inputs: str
) -> None:
    files, fmt, size = EDITS[inputs]
    client = client_for(serve(fast_app()))
    stream = client.images.edit(
        model="gpt-image-1",
        prompt=PROMPT,
        quality="low",
        output_format=fmt,
        stream=True,
        partial_images=2,
        **files,
    )
    found = list(stream)
    assert [type(event) for event in found] == [
        ImageEditPartialImageEvent,
        ImageEditPartialImageEvent,
        ImageEditCompletedEvent,
    ]
    assert [e.partial_image_index for e in found[:2]] == [0, 1]
    assert [e.type for e in found] == [
        "image_edit.partial_image",
        "image_edit.partial_image",
        "image_edit.completed",
    ]
    for event in found:
        assert (event.size, event.quality, event.output_format) == ("auto", "low", fmt)
        check_image(event.b64_json, fmt, size)
    completed = found[-1]
    assert isinstance(completed, ImageEditCompletedEvent)
    check_usage(completed.usage, image_input=True)


# -- errors --------------------------------------------------------------------------------


def _error_app() -> Starlette:
    return fast_app(api_keys={"openai": (GOOD_KEY,)}, blocked_terms=("forbidden",), steering=True)


def _generate(client: OpenAI, **overrides: Any) -> Any:
    params: dict[str, Any] = {"model": "gpt-image-1", "prompt": PROMPT, "quality": "low"}
    return client.images.generate(**{**params, **overrides})


def _edit(client: OpenAI, **overrides: Any) -> Any:
    params: dict[str, Any] = {
        "model": "gpt-image-1",
        "prompt": PROMPT,
        "image": ("in.png", png_bytes((1024, 1024)), "image/png"),
    }
    return client.images.edit(**{**params, **overrides})


ERRORS: dict[str, tuple[Callable[[OpenAI], Any], type[openai.APIStatusError], str, Any, str]] = {
    # name: (call, exception class, code, param, part of the message)
    "n above 10": (
        lambda c: _generate(c, n=11),
        openai.BadRequestError,
        "integer_above_max_value",
        "n",
        "Expected a value <= 10, but got 11 instead.",
    ),
    "a custom size for gpt-image-1": (
        lambda c: _generate(c, size="1280x720"),
        openai.BadRequestError,
        "invalid_value",
        "size",
        "Invalid value: '1280x720'. Supported values are:",
    ),
    "a gpt-image-2 size not divisible by 16": (
        lambda c: _generate(c, model="gpt-image-2", size="1000x1000"),
        openai.BadRequestError,
        "invalid_value",
        "size",
        "Width and height must both be divisible by 16.",
    ),
    "an edit's n above 10 (a form field)": (
        lambda c: _edit(c, n=11),
        openai.BadRequestError,
        "integer_above_max_value",
        "n",
        "Expected a value <= 10, but got 11 instead.",
    ),
    "a mask without alpha": (
        lambda c: _edit(c, mask=("mask.png", png_bytes((1024, 1024)), "image/png")),
        openai.BadRequestError,
        "invalid_value",
        "mask",
        "The mask must have an alpha channel.",
    ),
    "a blocked prompt": (
        lambda c: _generate(c, prompt="A forbidden picture"),
        openai.BadRequestError,
        "moderation_blocked",
        None,
        "rejected by the safety system",
    ),
    "a steered failure": (
        lambda c: _generate(c, extra_headers={"X-Imgemu-Outcome": "INFERENCE_FAILURE"}),
        openai.InternalServerError,
        "server_error",
        None,
        "The server had an error while processing your request.",
    ),
}


@pytest.mark.parametrize("case", ERRORS)
def test_refusals_raise_the_sdk_exception_with_code_param_and_request_id(
    serve: Serve, case: str
) -> None:
    call, error_class, code, param, message = ERRORS[case]
    client = client_for(serve(_error_app()), GOOD_KEY)
    with pytest.raises(openai.APIStatusError) as caught:
        call(client)
    exc = caught.value
    assert type(exc) is error_class, exc
    assert (
        exc.status_code
        == {openai.BadRequestError: 400, openai.InternalServerError: 500}[error_class]
    )
    assert (exc.code, exc.param) == (code, param)
    assert isinstance(exc.body, dict)
    assert set(exc.body) == {"message", "type", "param", "code"}
    assert (exc.body["code"], exc.body["param"]) == (code, param)
    assert message in exc.body["message"]
    assert exc.message.endswith(exc.body["message"])
    assert exc.request_id is not None
    assert exc.request_id.startswith("req_")
    assert exc.request_id == exc.response.headers["x-request-id"]
    if code == "moderation_blocked":
        assert exc.type == "image_generation_user_error"
    elif error_class is openai.InternalServerError:
        assert exc.type == "server_error"
    else:
        assert exc.type == "invalid_request_error"


def test_a_wrong_key_raises_authentication_error(serve: Serve) -> None:
    server = serve(_error_app())
    with pytest.raises(openai.AuthenticationError) as caught:
        _generate(client_for(server, "sk-wrong"))
    exc = caught.value
    assert (exc.status_code, exc.code, exc.param, exc.type) == (
        401,
        "invalid_api_key",
        None,
        "invalid_request_error",
    )
    assert exc.request_id is not None
    assert exc.request_id.startswith("req_")
    with pytest.raises(openai.AuthenticationError):
        _edit(client_for(server, "sk-wrong"))


def test_a_rate_limit_raises_rate_limit_error_with_retry_headers(serve: Serve) -> None:
    client = client_for(serve(fast_app(rate_limit=RateLimit(limit=1, window_seconds=3600))))
    _generate(client)
    with pytest.raises(openai.RateLimitError) as caught:
        _generate(client)
    exc = caught.value
    assert (exc.status_code, exc.code, exc.param) == (429, "rate_limit_exceeded", None)
    assert exc.request_id is not None
    assert exc.request_id.startswith("req_")
    assert int(exc.response.headers["retry-after-ms"]) > 0


def test_a_failure_after_a_stream_began_raises_api_error_while_iterating(serve: Serve) -> None:
    client = client_for(serve(_error_app()), GOOD_KEY)
    stream = _generate(
        client,
        stream=True,
        partial_images=1,
        extra_headers={"X-Imgemu-Outcome": "INFERENCE_FAILURE"},
    )
    assert stream.response.status_code == 200
    with pytest.raises(openai.APIError) as caught:
        list(stream)
    exc = caught.value
    assert not isinstance(exc, openai.APIStatusError)  # the status was 200 already
    assert (exc.code, exc.param, exc.type) == ("server_error", None, "server_error")
    assert isinstance(exc.body, dict)
    assert exc.body["code"] == "server_error"
