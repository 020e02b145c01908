"""Request bodies as every handler reads them (``load_json``): JSON, or ``NotJson`` and the
dialect's 400, never an exception of another kind."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from emulator.http.common import NotJson, load_json
from tests.helpers import asgi_client, examples, fast_app

pytestmark = pytest.mark.anyio

SURROGATES = st.characters(categories=["Cs"])
TEXT = st.text(st.characters(codec="utf-8"), max_size=8)
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | TEXT,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(TEXT, inner, max_size=3),
    max_leaves=10,
)


@settings(max_examples=examples())
@given(value=JSON)
def test_json_is_read_as_sent(value: Any) -> None:
    assert load_json(json.dumps(value).encode()) == value


@settings(max_examples=examples())
@given(value=JSON, surrogate=SURROGATES, as_key=st.booleans())
def test_a_string_with_half_a_surrogate_pair_is_not_json(
    value: Any, surrogate: str, as_key: bool
) -> None:
    body = {surrogate: value} if as_key else {"prompt": [value, f"a{surrogate}b"]}
    with pytest.raises(NotJson):
        load_json(json.dumps(body).encode())


def test_nan_and_infinity_are_taken() -> None:
    value = load_json(b'{"a": NaN, "b": -Infinity}')
    assert math.isnan(value["a"])
    assert value["b"] == -math.inf


LONE = b'{"prompt": "a red \\ud800 apple", "images": ["https://example.com/a.png"]}'


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/seacloud/model/v1/queue/gpt_image_1", {"detail": "Request body is not valid JSON"}),
        (
            "/v1/images/generations",
            {
                "error": {
                    "message": "We could not parse the JSON body of your request. The OpenAI API "
                    "expects a JSON payload (or multipart/form-data for image edits).",
                    "type": "invalid_request_error",
                    "param": None,
                    "code": None,
                }
            },
        ),
    ],
)
async def test_each_dialect_refuses_half_a_surrogate_pair_as_bad_json(
    path: str, expected: dict[str, Any]
) -> None:
    async with asgi_client(fast_app(), {"Authorization": "Bearer sk-test"}) as client:
        response = await client.post(
            path, content=LONE, headers={"Content-Type": "application/json"}
        )
    assert response.status_code == 400
    assert response.json() == expected


async def test_the_envelope_refuses_half_a_surrogate_pair_as_bad_json() -> None:
    async with asgi_client(fast_app(), {"Authorization": "Bearer sk-test"}) as client:
        response = await client.post(
            "/api/v1/image/generation",
            content=LONE,
            headers={"Content-Type": "application/json"},
        )
    assert response.status_code == 400
    envelope = response.json()
    assert envelope["code"] == 400
    assert envelope["message"] == "The request body must be valid JSON."
    assert envelope["data"] is None
