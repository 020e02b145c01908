"""The official openai SDK against ``imgemu_server``, validating every answer and event
(``_strict_response_validation=True``): generation, a multipart edit, a stream, and its own
retries meeting planned 429s and 503s."""

from __future__ import annotations

import pytest

from tests.support.plugin import run

SDK_TESTS = """
import io

import openai
import pytest
from openai import OpenAI
from PIL import Image

MODEL = "gpt-image-1.5"


@pytest.fixture
def sdk(imgemu_server):
    with OpenAI(
        base_url=imgemu_server.url("openai"),
        api_key="sk-test",
        max_retries=2,
        _strict_response_validation=True,
    ) as client:
        yield client


def png(size):
    out = io.BytesIO()
    Image.new("RGB", size, "navy").save(out, "PNG")
    return out.getvalue()


def test_generate(sdk):
    result = sdk.images.generate(model=MODEL, prompt="A red apple", size="1536x1024", n=2)
    assert len(result.data) == 2
    assert result.size == "1536x1024"
    assert result.usage.output_tokens > 0


def test_edit(sdk):
    result = sdk.images.edit(
        model=MODEL, image=[("in.png", png((640, 480)), "image/png")], prompt="Green"
    )
    assert result.data[0].b64_json


def test_stream(sdk):
    events = list(
        sdk.images.generate(model=MODEL, prompt="A red apple", stream=True, partial_images=1)
    )
    assert [e.type for e in events] == [
        "image_generation.partial_image",
        "image_generation.completed",
    ]


@pytest.mark.parametrize("status", [429, 503])
def test_the_sdk_retries_planned_errors(imgemu_server, sdk, status):
    imgemu_server.faults.add(
        match={"provider": "openai", "operation": "images.generate"},
        action={"kind": "error", "status": status, "retry_after": 0.01},
        times=2,
    )
    assert sdk.images.generate(model=MODEL, prompt="A red apple").data
    assert imgemu_server.faults.list()[0]["applied"] == 2


def test_three_429s_outlast_two_retries(imgemu_server, sdk):
    imgemu_server.faults.add(
        match={"provider": "openai"},
        action={"kind": "error", "status": 429, "retry_after": 0.01},
        times=3,
    )
    with pytest.raises(openai.RateLimitError) as refused:
        sdk.images.generate(model=MODEL, prompt="A red apple")
    assert refused.value.code == "rate_limit_exceeded"
    assert refused.value.response.headers["retry-after-ms"] == "10"
"""


@pytest.mark.server
def test_the_official_sdk_strictly_validated(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_plugin_sdk_user=SDK_TESTS)
    run(pytester).assert_outcomes(passed=6)
