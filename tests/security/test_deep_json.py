"""JSON nested deeper than any request needs is refused as an unreadable body, in each provider's
shape, before anything walks it (the schema validator, the records); nothing is kept of it."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from emulator.http.common import MAX_JSON_DEPTH, NotJson, load_json
from emulator.state import Emulator
from emulator.store import MemoryStore
from tests.helpers import AUTH, asgi_client, examples, fast_app
from tests.support.aa import BEARER as AA_BEARER
from tests.support.aa import assert_error
from tests.support.images import BEARER, error_of
from tests.support.security import nested

pytestmark = pytest.mark.anyio

QUEUE_TOO_DEEP = f"Request body is nested too deeply (more than {MAX_JSON_DEPTH} levels)"
OPENAI_TOO_DEEP = (
    "We could not parse the JSON body of your request: it is nested more than "
    f"{MAX_JSON_DEPTH} levels deep."
)
AA_TOO_DEEP = f"The request body must not nest more than {MAX_JSON_DEPTH} levels."
OPENAI_NOT_JSON = (
    "We could not parse the JSON body of your request. The OpenAI API expects a JSON payload "
    "(or multipart/form-data for image edits)."
)


async def answers(depth: int, validation: str = "async") -> dict[str, httpx.Response]:
    """Each provider's answer to a body ``depth`` levels deep."""
    app = fast_app(validation=validation)
    body = nested(depth)
    json = {"content-type": "application/json"}
    async with asgi_client(app) as client:
        found = {
            "queue": await client.post(
                "/model/v1/queue/gpt_image_1", content=body, headers={**AUTH, **json}
            ),
            "queue edit": await client.post(
                "/model/v1/queue/gpt_image_1_edit", content=body, headers={**AUTH, **json}
            ),
            "openai": await client.post(
                "/v1/images/generations", content=body, headers={**BEARER, **json}
            ),
            "openai edit": await client.post(
                "/v1/images/edits", content=body, headers={**BEARER, **json}
            ),
            "aa": await client.post(
                "/api/v1/image/generation", content=body, headers={**AA_BEARER, **json}
            ),
        }
    if depth > MAX_JSON_DEPTH:
        emulator: Emulator = app.state.emulator
        store = emulator.store
        assert isinstance(store, MemoryStore)
        assert (store._jobs, store._tasks) == ({}, {})  # nothing made, nothing kept
    return found


@pytest.mark.parametrize("validation", ["async", "sync"])
@pytest.mark.parametrize("depth", [MAX_JSON_DEPTH + 1, 256, 600, 1023])
async def test_deep_json_is_refused_in_each_providers_shape(depth: int, validation: str) -> None:
    found = await answers(depth, validation)
    for name in ("queue", "queue edit"):
        assert found[name].status_code == 400, found[name].text
        assert found[name].json() == {"detail": QUEUE_TOO_DEEP}
    for name in ("openai", "openai edit"):
        assert found[name].status_code == 400, found[name].text
        assert error_of(found[name]) == {
            "message": OPENAI_TOO_DEEP,
            "type": "invalid_request_error",
            "param": None,
            "code": None,
        }
    assert_error(found["aa"], 400, AA_TOO_DEEP)


@pytest.mark.parametrize("depth", [1025, 5000, 200_000])
async def test_json_past_any_parsers_depth_is_not_json(depth: int) -> None:
    found = await answers(depth)
    assert found["queue"].json() == {"detail": "Request body is not valid JSON"}
    assert error_of(found["openai"])["message"] == OPENAI_NOT_JSON
    assert_error(found["aa"], 400, "The request body must be valid JSON.")


async def test_json_at_the_depth_limit_is_read_as_usual() -> None:
    """``MAX_JSON_DEPTH`` levels: parsed, then refused for what it says (a prompt that is no
    string), never for its depth."""
    found = await answers(MAX_JSON_DEPTH)
    assert found["queue"].status_code == 200  # queued, to end REQUEST_INVALID
    # Parsed: OpenAI names the first field at fault (the body names no model; then the prompt).
    assert error_of(found["openai"])["param"] == "model"
    assert found["aa"].json()["message"].endswith("prompt: Input should be a string")


def shapes(depth: int) -> st.SearchStrategy[bytes]:
    """JSON text ``depth`` levels deep, each level an object or an array, with siblings."""
    opens = st.lists(st.sampled_from(["[", '{"a": ']), min_size=depth, max_size=depth)

    def text(levels: list[str]) -> bytes:
        head = "".join(level if i else '{"x": 1, "k": ' for i, level in enumerate(levels))
        tail = "".join("]" if level == "[" else "}" for level in reversed(levels[1:]))
        inner = "0"
        return (head + inner + tail + "}").encode()

    return opens.map(text)


@settings(max_examples=examples())
@given(data=st.data(), depth=st.integers(1, 1500))
def test_load_json_refuses_exactly_the_bodies_too_deep(data: st.DataObject, depth: int) -> None:
    raw = data.draw(shapes(depth))
    if depth <= MAX_JSON_DEPTH:
        load_json(raw)
        return
    with pytest.raises(NotJson) as refused:
        load_json(raw)
    # Past orjson's 1,024 levels the standard library's parser decides, by the recursion limit.
    assert refused.value.problem in (("too_deep",) if depth <= 1024 else ("too_deep", "not_json"))


@settings(max_examples=examples(0.3))
@given(depth=st.integers(MAX_JSON_DEPTH - 2, 1100))
def test_no_depth_gets_a_server_error(depth: int) -> None:
    found = asyncio.run(answers(depth))
    for name, response in found.items():
        assert response.status_code < 500, (name, depth, response.text)
