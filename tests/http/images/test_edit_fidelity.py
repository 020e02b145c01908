"""Edits as the providers answer them in late 2026, against a real uvicorn server.

- AGCloud's JSON edit is checked exactly as its multipart edit: the same rules, the same error
  bodies, AGCloud's model list; nothing is served unchecked and nothing answers 500.
- An undeclared part of a multipart edit is refused by name (OpenAI and AGCloud), never
  dropped: a ``masks`` typo must not run an edit without its mask. OpenAI's ``markup`` part
  (SDK 3.57) is declared and taken only by the models that support it.
- 典名词元 streams OpenAI's edit events for ``stream: true``; ``partial_images`` is a string.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import openai
import pytest
from openai import OpenAI
from starlette.applications import Starlette

from tests.helpers import RunningServer, data_url, decode, fast_app, mask_bytes, png_bytes
from tests.support.images import PROMPT

pytestmark = pytest.mark.server

Serve = Callable[[Starlette], RunningServer]
AGCLOUD = "/v1/image/edits"
OPENAI = "/v1/images/edits"
AA = "/api/v1/image/generation"
BEARER = {"Authorization": "Bearer sk-test"}
AGCLOUD_MODELS = "'gpt-image-1', 'gpt-image-2', 'gpt-image-1-plus', and 'gpt-image-2-plus'"


@pytest.fixture
def server(serve: Serve) -> RunningServer:
    return serve(fast_app())


def _error(response: httpx.Response) -> tuple[int, str, str | None, str | None, str]:
    assert response.headers["content-type"] == "application/json", response.text
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    return response.status_code, error["type"], error["param"], error["code"], error["message"]


# ---- AGCloud's JSON edit: the multipart edit's rules and answers ----------------------------

# (change to a valid edit, param, code, message): each refused alike as JSON and as a form.
AGCLOUD_REFUSALS: dict[str, tuple[dict[str, Any], str, str, str]] = {
    "n above 10": (
        {"n": 50},
        "n",
        "integer_above_max_value",
        "Invalid 'n': integer above maximum value. Expected a value <= 10, but got 50 instead.",
    ),
    "no prompt": (
        {"prompt": None},
        "prompt",
        "missing_required_parameter",
        "Missing required parameter: 'prompt'.",
    ),
    "no model": (
        {"model": None},
        "model",
        "missing_required_parameter",
        "Missing required parameter: 'model'.",
    ),
    "a model AGCloud does not offer": (
        {"model": "gpt-image-1.5"},
        "model",
        "invalid_value",
        f"Invalid value: 'gpt-image-1.5'. Supported values are: {AGCLOUD_MODELS}.",
    ),
    "a DALL-E model": (
        {"model": "dall-e-2"},
        "model",
        "invalid_value",
        f"Invalid value: 'dall-e-2'. Supported values are: {AGCLOUD_MODELS}.",
    ),
    "an unknown quality": (
        {"quality": "ultra"},
        "quality",
        "invalid_value",
        "Invalid value: 'ultra'. Supported values are: 'auto', 'low', 'medium', and 'high'.",
    ),
    "a custom size for gpt-image-1": (
        {"size": "1280x720"},
        "size",
        "invalid_value",
        "Invalid value: '1280x720'. Supported values are: "
        "'1024x1024', '1024x1536', '1536x1024', and 'auto'.",
    ),
    "quality on a -plus model": (
        {"model": "gpt-image-1-plus", "quality": "low"},
        "quality",
        "invalid_value",
        "quality is not supported for gpt-image-1-plus.",
    ),
    "transparency for gpt-image-2": (
        {"model": "gpt-image-2", "background": "transparent"},
        "background",
        "invalid_value",
        "Invalid value: 'transparent'. Transparent backgrounds are not supported for "
        "gpt-image-2. Supported values are: 'opaque' and 'auto'.",
    ),
    "an unknown field": (
        {"style": "vivid"},
        "style",
        "unknown_parameter",
        "Unknown parameter: 'style'.",
    ),
}


def _json_edit(change: dict[str, Any]) -> dict[str, Any]:
    body: dict[str, Any] = {
        "model": "gpt-image-1",
        "prompt": PROMPT,
        "images": [{"image_url": data_url(png_bytes((1024, 1024)))}],
        "size": "1024x1024",
        "quality": "low",
    }
    body.update(change)
    return {k: v for k, v in body.items() if v is not None}


def _form_edit(change: dict[str, Any]) -> dict[str, str]:
    fields = {k: v for k, v in _json_edit(change).items() if k != "images"}
    return {k: str(v) for k, v in fields.items()}


@pytest.mark.parametrize("case", list(AGCLOUD_REFUSALS))
def test_agcloud_json_edit_is_refused_as_its_form_is(server: RunningServer, case: str) -> None:
    change, param, code, message = AGCLOUD_REFUSALS[case]
    url = server.base_url + AGCLOUD
    as_json = httpx.post(url, json=_json_edit(change), headers=BEARER, timeout=30)
    files = [("image", ("in.png", png_bytes((1024, 1024)), "image/png"))]
    as_form = httpx.post(url, data=_form_edit(change), files=files, headers=BEARER, timeout=30)
    expected = (400, "invalid_request_error", param, code, message)
    assert _error(as_json) == expected
    assert _error(as_form) == expected


def test_agcloud_json_edit_without_images_is_refused(server: RunningServer) -> None:
    body = _json_edit({"images": None})
    response = httpx.post(server.base_url + AGCLOUD, json=body, headers=BEARER, timeout=30)
    assert _error(response) == (
        400,
        "invalid_request_error",
        "images",
        "missing_required_parameter",
        "Missing required parameter: 'images'.",
    )


def test_agcloud_json_edit_with_a_broken_reference_is_refused(server: RunningServer) -> None:
    body = _json_edit({"images": [{"image_url": data_url(b"not an image")}]})
    response = httpx.post(server.base_url + AGCLOUD, json=body, headers=BEARER, timeout=30)
    assert _error(response) == (
        400,
        "invalid_request_error",
        "images[0]",
        "invalid_value",
        "The image is not a PNG, JPEG or WebP image.",
    )


def test_agcloud_json_edit_is_served(server: RunningServer) -> None:
    body = _json_edit(
        {
            "n": 2,
            "mask": {"image_url": data_url(mask_bytes((1024, 1024), (0, 0, 512, 512)))},
            "output_format": "jpeg",
        }
    )
    response = httpx.post(server.base_url + AGCLOUD, json=body, headers=BEARER, timeout=30)
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["output_format"] == "jpeg"
    images = [decode(item["b64_json"]) for item in answer["data"]]
    assert [(image.format, image.size) for image in images] == [("JPEG", (1024, 1024))] * 2


# ---- undeclared parts of a multipart edit ---------------------------------------------------


def _image() -> tuple[str, tuple[str, bytes, str]]:
    return ("image", ("in.png", png_bytes((1024, 1024)), "image/png"))


def _mask(name: str) -> tuple[str, tuple[str, bytes, str]]:
    return (name, ("mask.png", mask_bytes((1024, 1024), (0, 0, 512, 512)), "image/png"))


# (provider path, model, extra parts, extra fields, expected (param, code, message))
UNDECLARED: dict[str, tuple[str, str, list[Any], dict[str, Any], tuple[str, str, str]]] = {
    "openai: a masks file part": (
        OPENAI,
        "gpt-image-1.5",
        [_mask("masks")],
        {},
        ("masks", "unknown_parameter", "Unknown parameter: 'masks'."),
    ),
    "openai: a masks[] file part": (
        OPENAI,
        "gpt-image-1.5",
        [_mask("masks[]")],
        {},
        ("masks", "unknown_parameter", "Unknown parameter: 'masks'."),
    ),
    "openai: an unknown text field": (
        OPENAI,
        "gpt-image-1.5",
        [],
        {"masks": "mask.png"},
        ("masks", "unknown_parameter", "Unknown parameter: 'masks'."),
    ),
    "openai: a file under a text field's name": (
        OPENAI,
        "gpt-image-1.5",
        [_mask("prompt")],
        {},
        (
            "prompt",
            "invalid_type",
            "Invalid type for 'prompt': expected a string, but got a file instead.",
        ),
    ),
    "openai: a text field sent twice": (
        OPENAI,
        "gpt-image-1.5",
        [],
        {"stream": ["true", "false"]},
        (
            "stream",
            "invalid_type",
            "Invalid type for 'stream': expected a boolean, but got an array instead.",
        ),
    ),
    "openai: markup for a model without it": (
        OPENAI,
        "gpt-image-1.5",
        [_mask("markup")],
        {},
        ("markup", "invalid_value", "markup is not supported for gpt-image-1.5."),
    ),
    "agcloud: a masks file part": (
        AGCLOUD,
        "gpt-image-1",
        [_mask("masks")],
        {},
        ("masks", "unknown_parameter", "Unknown parameter: 'masks'."),
    ),
    "agcloud: an unknown text field": (
        AGCLOUD,
        "gpt-image-1",
        [],
        {"style": "vivid"},
        ("style", "unknown_parameter", "Unknown parameter: 'style'."),
    ),
    "agcloud: a text field sent twice": (
        AGCLOUD,
        "gpt-image-1",
        [],
        {"n": ["1", "2"]},
        (
            "n",
            "invalid_type",
            "Invalid type for 'n': expected an integer, but got an array instead.",
        ),
    ),
    "agcloud: OpenAI's markup part": (
        AGCLOUD,
        "gpt-image-2",
        [_mask("markup")],
        {},
        ("markup", "unknown_parameter", "Unknown parameter: 'markup'."),
    ),
}


@pytest.mark.parametrize("case", list(UNDECLARED))
def test_undeclared_parts_are_refused_by_name(server: RunningServer, case: str) -> None:
    path, model, parts, fields, (param, code, message) = UNDECLARED[case]
    data = {"model": model, "prompt": PROMPT, "quality": "low", **fields}
    response = httpx.post(
        server.base_url + path,
        data=data,
        files=[_image(), *parts],
        headers=BEARER,
        timeout=30,
    )
    assert _error(response) == (400, "invalid_request_error", param, code, message)


# ---- the official SDK ------------------------------------------------------------------------


@pytest.fixture
def sdk(server: RunningServer) -> Iterator[OpenAI]:
    client = OpenAI(
        base_url=server.base_url + "/v1",
        api_key="sk-test",
        _strict_response_validation=True,
        max_retries=0,
    )
    yield client
    client.close()


def test_sdk_markup_is_sent_and_refused_for_gpt_image_1_5(sdk: OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        sdk.images.edit(
            image=("in.png", png_bytes((1024, 1024)), "image/png"),
            markup=("markup.png", mask_bytes((1024, 1024), (0, 0, 512, 512)), "image/png"),
            prompt=PROMPT,
            model="gpt-image-1.5",
            quality="low",
        )
    error = caught.value
    assert (error.status_code, error.code, error.param) == (400, "invalid_value", "markup")
    assert error.body == {  # type: ignore[comparison-overlap]
        "message": "markup is not supported for gpt-image-1.5.",
        "type": "invalid_request_error",
        "param": "markup",
        "code": "invalid_value",
    }


def test_sdk_masks_part_is_refused_not_dropped(sdk: OpenAI) -> None:
    """A typo in the part's name, sent through the SDK's own multipart request."""
    with pytest.raises(openai.BadRequestError) as caught:
        sdk.post(
            "/images/edits",
            cast_to=openai.types.ImagesResponse,
            body={"prompt": PROMPT, "model": "gpt-image-1.5", "quality": "low"},
            files=[
                ("image", ("in.png", png_bytes((1024, 1024)), "image/png")),
                ("masks", ("mask.png", mask_bytes((1024, 1024)), "image/png")),
            ],
            options={"headers": {"Content-Type": "multipart/form-data"}},
        )
    error = caught.value
    assert (error.status_code, error.code, error.param) == (400, "unknown_parameter", "masks")
    assert error.body == {  # type: ignore[comparison-overlap]
        "message": "Unknown parameter: 'masks'.",
        "type": "invalid_request_error",
        "param": "masks",
        "code": "unknown_parameter",
    }


def test_sdk_mask_part_is_still_taken(sdk: OpenAI) -> None:
    answer = sdk.images.edit(
        image=("in.png", png_bytes((1024, 1024)), "image/png"),
        mask=("mask.png", mask_bytes((1024, 1024), (0, 0, 512, 512)), "image/png"),
        prompt=PROMPT,
        model="gpt-image-1.5",
        quality="low",
    )
    assert answer.data is not None
    assert decode(answer.data[0].b64_json or "").size == (1024, 1024)


# ---- 典名词元's stream -----------------------------------------------------------------------


def _aa_body(**fields: Any) -> dict[str, Any]:
    return {
        "model": "gpt-image-1.5",
        "prompt": PROMPT,
        "images": [{"image_url": data_url(png_bytes((1024, 1536)))}],
        "quality": "low",
        **fields,
    }


def _read_events(response: httpx.Response) -> list[tuple[str, dict[str, Any]]]:
    """The stream's events as they arrive, line by line; ``:`` keep-alives are skipped."""
    found: list[tuple[str, dict[str, Any]]] = []
    event: str | None = None
    for line in response.iter_lines():
        if line.startswith(":") or not line:
            continue
        key, _, value = line.partition(": ")
        if key == "event":
            event = value
        elif key == "data":
            assert event is not None, line
            found.append((event, json.loads(value)))
            event = None
    return found


@pytest.mark.parametrize(("partial_images", "partials"), [("2", 2), ("0", 0), (3, 3)])
def test_aa_streams_partial_and_final_images(
    server: RunningServer, partial_images: str | int, partials: int
) -> None:
    body = _aa_body(stream=True, partial_images=partial_images, n=2, output_format="webp")
    with httpx.stream(
        "POST", server.base_url + AA, json=body, headers=BEARER, timeout=60
    ) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        found = _read_events(response)
    names = [name for name, _ in found]
    per_image = ["image_edit.partial_image"] * partials + ["image_edit.completed"]
    assert names == per_image * 2
    for name, data in found:
        assert data["type"] == name
        image = decode(base64.b64decode(data["b64_json"]))
        assert (image.format, image.size) == ("WEBP", (1024, 1536))
        assert (data["size"], data["quality"], data["output_format"]) == ("auto", "low", "webp")
        if name.endswith(".partial_image"):
            assert "usage" not in data
        else:
            assert data["usage"]["output_tokens"] > 0
    indexes = [data["partial_image_index"] for name, data in found if "partial" in name]
    assert indexes == list(range(partials)) * 2


def test_aa_stream_failure_is_an_error_event_in_the_envelope(serve: Serve) -> None:
    server = serve(fast_app(steering=True))
    body = _aa_body(stream=True, partial_images="1")
    headers = {**BEARER, "X-Imgemu-Outcome": "INFERENCE_FAILURE"}
    with httpx.stream("POST", server.base_url + AA, json=body, headers=headers, timeout=60) as r:
        assert r.status_code == 200
        found = _read_events(r)
    name, data = found[-1]
    assert name == "error"
    assert data == {
        "type": "error",
        "code": 500,
        "message": "Image generation failed: an internal error occurred.",
        "request_id": r.headers["x-request-id"],
        "data": None,
    }


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("4", "partial_images: String should match pattern '^[0-3]$', got '4'"),
        (4, "partial_images: Input should be less than or equal to 3"),
        (2.5, "partial_images: Input should be an integer or a string"),
    ],
)
def test_aa_partial_images_out_of_range_is_refused(
    server: RunningServer, value: Any, message: str
) -> None:
    body = _aa_body(stream=True, partial_images=value)
    response = httpx.post(server.base_url + AA, json=body, headers=BEARER, timeout=30)
    assert response.status_code == 400
    assert response.headers["content-type"] == "application/json"
    answer = response.json()
    assert answer == {
        "code": 400,
        "message": message,
        "request_id": response.headers["x-request-id"],
        "data": None,
    }


def test_an_aa_stream_is_journaled_as_its_task_ended(server: RunningServer) -> None:
    """The stream delivered the task's images: the verdicts see no abandoned task."""
    body = _aa_body(stream=True, partial_images="1")
    with httpx.stream("POST", server.base_url + AA, json=body, headers=BEARER, timeout=60) as r:
        assert [name for name, _ in _read_events(r)][-1] == "image_edit.completed"
    entries: list[dict[str, Any]] = []
    for _ in range(100):  # the journal notes the request a moment after its last byte
        entries = httpx.get(server.base_url + "/_emulator/journal", timeout=10).json()["entries"]
        if entries:
            break
        time.sleep(0.01)
    (entry,) = entries
    assert (entry["operation"], entry["state"]) == ("aa.generate", "succeeded")
    assert entry["job"].startswith("task_")
    verdicts = httpx.get(server.base_url + "/_emulator/verdicts", timeout=10).json()
    assert (verdicts["checked"], verdicts["findings"]) == (1, [])
