"""The OpenAI models as the catalog, ``/_emulator/capabilities`` and openapi/openai.yaml state
them agree: the served ids, custom sizes, transparency and ``input_fidelity`` values."""

from __future__ import annotations

import httpx
import pytest

from emulator.domain.catalog import IMAGE_MODELS
from emulator.spec import document_text, parse_document
from tests.helpers import asgi_client, fast_app

DOC = parse_document(document_text("openai"))
SCHEMA = DOC["components"]["schemas"]["ImageModel"]


def test_the_document_lists_each_served_model_once_with_its_facts() -> None:
    assert list(SCHEMA["x-imgemu-models"]) == SCHEMA["enum"]
    for model_id, facts in SCHEMA["x-imgemu-models"].items():
        info = IMAGE_MODELS[model_id]
        assert facts == {
            "custom_sizes": info.custom_sizes,
            "transparency": info.transparency,
            "input_fidelity": list(info.input_fidelity),
        }, model_id


@pytest.mark.anyio
@pytest.mark.parametrize("preview", [False, True])
async def test_capabilities_say_what_the_catalog_and_the_document_say(preview: bool) -> None:
    app = fast_app(openai_transparent_preview=preview)
    async with asgi_client(app) as client:
        caps = (await client.get("/_emulator/capabilities")).json()
    view = caps["providers"]["openai"]
    assert view["models"] == SCHEMA["enum"]
    assert view["transparent_preview"] is preview
    for model_id, facts in SCHEMA["x-imgemu-models"].items():
        listed = caps["image_models"][model_id]
        assert {k: listed[k] for k in facts} == facts, model_id


@pytest.mark.anyio
@pytest.mark.parametrize("preview", [False, True])
async def test_the_protocol_draws_transparency_exactly_as_capabilities_say(preview: bool) -> None:
    app = fast_app(openai_transparent_preview=preview)
    async with asgi_client(app, {"Authorization": "Bearer sk-test"}) as client:
        caps = (await client.get("/_emulator/capabilities")).json()
        for model_id in caps["providers"]["openai"]["models"]:
            body = {"model": model_id, "prompt": "a lemon", "background": "transparent"}
            answer: httpx.Response = await client.post("/v1/images/generations", json=body)
            draws = (
                caps["image_models"][model_id]["transparency"]
                or (caps["providers"]["openai"]["transparent_preview"])
            )
            assert answer.status_code == (200 if draws else 400), model_id
            if draws:
                assert answer.json()["background"] == "transparent"
            else:
                assert answer.json()["error"]["param"] == "background"
