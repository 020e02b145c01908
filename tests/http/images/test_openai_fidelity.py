"""OpenAI's Images API as it answers in late 2026, through the official SDK with strict
response validation: every request field and model the SDK offers that the API takes passes;
what the live API refuses is refused with its status, type, code, param and message."""

from __future__ import annotations

import base64
import io
from collections.abc import Callable, Iterator
from functools import partial
from typing import Any

import httpx
import openai
import pytest
from openai import OpenAI
from PIL import Image

from emulator.domain.catalog import IMAGE_MODELS
from tests.helpers import RunningServer, fast_app

SERVED = (
    "gpt-image-1",
    "gpt-image-1-mini",
    "gpt-image-1.5",
    "gpt-image-2",
    "gpt-image-2-2026-04-21",
    "chatgpt-image-latest",
)
# Ids the SDK 3.57 types that no evidence shows the API taking, and the retired DALL·E ones.
NOT_SERVED = (
    "gpt-image-2.5-sunburst",
    "gpt-image-2.5-sunburst-2026-09-08",
    "gpt-image-2.5-flare",
    "gpt-image-2.5-flare-2026-09-08",
    "gpt-image-2.6-sunburst",
    "gpt-image-2.6-flare",
    "dall-e-2",
    "dall-e-3",
)
PROMPT = "A flat sticker of a smiling lemon"


def _png(size: tuple[int, int] = (256, 256)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, (200, 120, 40)).save(out, "PNG")
    return out.getvalue()


@pytest.fixture
def start(serve: Callable[[Any], RunningServer]) -> Iterator[Callable[..., OpenAI]]:
    clients: list[OpenAI] = []

    def make(**settings: Any) -> OpenAI:
        server = serve(fast_app(**settings))
        client = OpenAI(
            base_url=server.base_url + "/v1",
            api_key="sk-test",
            max_retries=0,
            _strict_response_validation=True,
        )
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


@pytest.fixture
def sdk(start: Callable[..., OpenAI]) -> OpenAI:
    return start()


def _error(exc: openai.APIStatusError) -> dict[str, Any]:
    body = exc.body
    assert isinstance(body, dict)
    return body


def test_the_sdk_is_the_latest_with_the_ids_the_document_names() -> None:
    from typing import get_args

    from openai.types.image_model import ImageModel

    assert openai.__version__ == "3.57.0"
    offered = set(get_args(ImageModel))
    assert set(SERVED) <= offered
    assert offered - set(SERVED) == set(NOT_SERVED)
    assert set(SERVED) <= set(IMAGE_MODELS)


@pytest.mark.parametrize("model", SERVED)
def test_every_served_model_generates_with_every_field_and_explicit_nulls(
    sdk: OpenAI, model: str
) -> None:
    result = sdk.images.generate(
        model=model,
        prompt=PROMPT,
        n=2,
        size="1024x1536",
        quality="low",
        background="opaque",
        moderation="low",
        output_format="webp",
        output_compression=80,
        safety_identifier="user-hash-42",
        user="user-42",
    )
    assert result.size == "1024x1536"
    assert result.output_format == "webp"
    assert result.data is not None
    assert len(result.data) == 2
    nulls = sdk.images.generate(
        model=model,
        prompt=PROMPT,
        n=None,
        size=None,
        quality=None,
        background=None,
        moderation=None,
        output_format=None,
        output_compression=None,
        partial_images=None,
        stream=None,
        safety_identifier=None,
    )
    assert (nulls.size, nulls.output_format, nulls.background) == ("1024x1024", "png", "opaque")


@pytest.mark.parametrize("model", SERVED)
def test_every_served_model_edits_and_streams(sdk: OpenAI, model: str) -> None:
    fidelity = IMAGE_MODELS[model].input_fidelity
    extra: dict[str, Any] = {"input_fidelity": fidelity[0]} if fidelity else {}
    result = sdk.images.edit(
        model=model,
        prompt=PROMPT,
        image=[("in.png", _png(), "image/png")],
        quality="low",
        output_format="jpeg",
        output_compression=70,
        safety_identifier="user-hash-42",
        **extra,
    )
    assert result.data is not None
    assert result.output_format == "jpeg"
    events = list(
        sdk.images.edit(
            model=model,
            prompt=PROMPT,
            image=("in.png", _png(), "image/png"),
            quality="low",
            stream=True,
            partial_images=1,
        )
    )
    assert [e.type for e in events] == ["image_edit.partial_image", "image_edit.completed"]
    generated = list(sdk.images.generate(model=model, prompt=PROMPT, quality="low", stream=True))
    assert [e.type for e in generated] == ["image_generation.completed"]


def test_transparent_output_for_the_models_that_draw_it(sdk: OpenAI) -> None:
    for model in ("gpt-image-1.5", "chatgpt-image-latest", "gpt-image-1-mini"):
        result = sdk.images.generate(model=model, prompt=PROMPT, background="transparent")
        assert result.background == "transparent"
        assert result.data is not None
        assert result.data[0].b64_json is not None
        image = Image.open(io.BytesIO(base64.b64decode(result.data[0].b64_json)))
        assert image.mode == "RGBA"


@pytest.mark.parametrize("model", ["gpt-image-2", "gpt-image-2-2026-04-21"])
@pytest.mark.parametrize("operation", ["generate", "edit"])
def test_gpt_image_2_refuses_a_transparent_background(
    sdk: OpenAI, model: str, operation: str
) -> None:
    image = ("in.png", _png(), "image/png")
    call = (
        partial(sdk.images.generate, model=model, prompt=PROMPT)
        if operation == "generate"
        else partial(sdk.images.edit, model=model, prompt=PROMPT, image=image)
    )
    with pytest.raises(openai.BadRequestError) as caught:
        call(background="transparent")
    assert caught.value.status_code == 400
    assert _error(caught.value) == {
        "message": "Transparent background is not supported for this model.",
        "type": "image_generation_user_error",
        "param": "background",
        "code": "invalid_value",
    }
    assert caught.value.request_id is not None


def test_the_preview_setting_lets_gpt_image_2_draw_it(start: Callable[..., OpenAI]) -> None:
    sdk = start(openai_transparent_preview=True)
    result = sdk.images.generate(
        model="gpt-image-2", prompt=PROMPT, background="transparent", output_format="png"
    )
    assert result.background == "transparent"
    assert result.data is not None
    assert result.data[0].b64_json is not None
    image = Image.open(io.BytesIO(base64.b64decode(result.data[0].b64_json)))
    assert image.mode == "RGBA"


@pytest.mark.parametrize("model", ["gpt-image-2", "gpt-image-2-2026-04-21"])
def test_gpt_image_2_refuses_input_fidelity(sdk: OpenAI, model: str) -> None:
    image = ("in.png", _png(), "image/png")
    with pytest.raises(openai.BadRequestError) as caught:
        sdk.images.edit(model=model, prompt=PROMPT, image=image, input_fidelity="low")
    assert _error(caught.value) == {
        "message": f"The model '{model}' does not support the 'input_fidelity' parameter.",
        "type": "image_generation_user_error",
        "param": "input_fidelity",
        "code": "invalid_input_fidelity_model",
    }
    # A null is as if it were not sent.
    assert sdk.images.edit(model=model, prompt=PROMPT, image=image, input_fidelity=None).data


def test_gpt_image_1_mini_takes_only_low_fidelity(sdk: OpenAI) -> None:
    image = ("in.png", _png(), "image/png")
    mini = "gpt-image-1-mini"
    assert sdk.images.edit(model=mini, prompt=PROMPT, image=image, input_fidelity="low").data
    with pytest.raises(openai.BadRequestError) as caught:
        sdk.images.edit(model=mini, prompt=PROMPT, image=image, input_fidelity="high")
    assert _error(caught.value) == {
        "message": "input_fidelity 'high' is not supported for model gpt-image-1-mini. "
        "Supported values are: 'low'.",
        "type": "invalid_request_error",
        "param": "input_fidelity",
        "code": "invalid_value",
    }


@pytest.mark.parametrize("model", NOT_SERVED)
def test_ids_without_evidence_are_refused(sdk: OpenAI, model: str) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        sdk.images.generate(model=model, prompt=PROMPT)
    error = _error(caught.value)
    assert (error["type"], error["param"], error["code"]) == (
        "invalid_request_error",
        "model",
        "invalid_value",
    )
    assert error["message"].startswith(f"Invalid value: '{model}'. Supported values are: ")
    assert "'chatgpt-image-latest'" in error["message"]


def test_a_request_without_a_model_is_refused(sdk: OpenAI) -> None:
    for call in (
        lambda: sdk.images.generate(prompt=PROMPT),
        lambda: sdk.images.edit(prompt=PROMPT, image=("in.png", _png(), "image/png")),
    ):
        with pytest.raises(openai.BadRequestError) as caught:
            call()
        assert _error(caught.value) == {
            "message": "Missing required parameter: 'model'.",
            "type": "invalid_request_error",
            "param": "model",
            "code": "missing_required_parameter",
        }
    with pytest.raises(openai.BadRequestError) as caught:
        sdk.images.generate(prompt=PROMPT, model=None)
    assert _error(caught.value) == {
        "message": "Invalid type for 'model': expected a string, but got null instead.",
        "type": "invalid_request_error",
        "param": "model",
        "code": "invalid_type",
    }


def test_png_with_compression_below_100_is_refused(sdk: OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        sdk.images.generate(
            model="gpt-image-1.5", prompt=PROMPT, output_format="png", output_compression=80
        )
    assert _error(caught.value) == {
        "message": "Compression less than 100 is not supported for PNG output format.",
        "type": "image_generation_user_error",
        "param": "output_compression",
        "code": "invalid_png_output_compression",
    }


def test_a_blocked_prompt_quotes_the_request_id_and_no_category(
    start: Callable[..., OpenAI],
) -> None:
    sdk = start(blocked_terms=("forbidden",))
    with pytest.raises(openai.BadRequestError) as caught:
        sdk.images.generate(model="gpt-image-1.5", prompt="a forbidden thing")
    request_id = caught.value.request_id
    assert request_id is not None
    assert request_id.startswith("req_")
    assert _error(caught.value) == {
        "message": "Your request was rejected by the safety system. If you believe this is an "
        f"error, contact us at help.openai.com and include the request ID {request_id}.",
        "type": "image_generation_user_error",
        "param": None,
        "code": "moderation_blocked",
    }


@pytest.mark.parametrize(
    ("images", "param", "message"),
    [
        (
            [{"url": "https://example.com/a.png"}],
            "images[0]",
            "Invalid value for 'images[0]': it matches none of the parameter's accepted forms.",
        ),
        (
            [{"image_url": "https://example.com/a.png", "file_id": "file-1"}],
            "images[0]",
            "Invalid value for 'images[0]': it matches none of the parameter's accepted forms.",
        ),
    ],
)
def test_json_schema_words_never_reach_the_message(
    serve: Callable[[Any], RunningServer], images: list[Any], param: str, message: str
) -> None:
    server = serve(fast_app())
    body = {"model": "gpt-image-1.5", "prompt": PROMPT, "images": images}
    for extra in ({}, {"mask": {"path": "m.png"}}):
        answer = httpx.post(
            server.base_url + "/v1/images/edits",
            json={**body, **extra},
            headers={"Authorization": "Bearer sk-test"},
        )
        assert answer.status_code == 400
        error = answer.json()["error"]
        assert "oneOf" not in error["message"]
        assert "anyOf" not in error["message"]
        assert "is not valid under" not in error["message"]
        if not extra:
            assert error == {
                "message": message,
                "type": "invalid_request_error",
                "param": param,
                "code": "invalid_value",
            }
        else:
            assert error["param"] in (param, "mask")


@pytest.mark.parametrize(
    ("field", "value", "message", "code"),
    [
        (
            "quality",
            "hd",
            "Invalid value: 'hd'. Supported values are: 'low', 'medium', 'high', and 'auto'.",
            "invalid_value",
        ),
        (
            "n",
            "2",
            "Invalid type for 'n': expected an integer, but got a string instead.",
            "invalid_type",
        ),
        (
            "n",
            11,
            "Invalid 'n': integer above maximum value. Expected a value <= 10, but got 11 instead.",
            "integer_above_max_value",
        ),
    ],
)
def test_a_nullable_field_is_refused_in_its_own_words_when_not_null(
    serve: Callable[[Any], RunningServer], field: str, value: Any, message: str, code: str
) -> None:
    server = serve(fast_app())
    answer = httpx.post(
        server.base_url + "/v1/images/generations",
        json={"model": "gpt-image-2", "prompt": PROMPT, field: value},
        headers={"Authorization": "Bearer sk-test"},
    )
    assert answer.status_code == 400
    assert answer.json()["error"] == {
        "message": message,
        "type": "invalid_request_error",
        "param": field,
        "code": code,
    }
