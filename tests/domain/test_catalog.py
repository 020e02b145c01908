"""The one catalog against the documents, the price and latency tables and the contract suite."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from contracts._context import PROFILES
from emulator.domain.catalog import FAMILIES, IMAGE_MODELS, QUEUE_MODELS, family_of, model_of
from emulator.domain.latency import DEFAULT_BASE_SECONDS
from emulator.domain.pricing import image_cost_usd
from emulator.providers import PROVIDERS
from emulator.spec import document_text


def _document(provider: str) -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load(document_text(provider))
    return document


def _queue_models(provider: str) -> set[str]:
    operations = (
        op["x-imgemu-operation"]
        for item in _document(provider)["paths"].values()
        for op in item.values()
        if isinstance(op, dict) and "x-imgemu-operation" in op
    )
    return {op["model"] for op in operations}


def _image_models(provider: str) -> set[str]:
    schemas = _document(provider)["components"]["schemas"]
    if "ImageModel" in schemas:
        return set(schemas["ImageModel"]["enum"])
    found: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            model = node.get("properties", {}).get("model") if "properties" in node else None
            if isinstance(model, dict):
                found.update(model.get("enum", ()))
                if "const" in model:
                    found.add(model["const"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(schemas)
    return found


def test_every_queue_model_of_the_documents_is_in_the_catalog_and_back() -> None:
    queue = [p.name for p in PROVIDERS.values() if p.protocol == "queue"]
    for provider in queue:
        assert _queue_models(provider) == set(QUEUE_MODELS), provider


def test_every_images_model_of_the_documents_is_in_the_catalog_and_back() -> None:
    named = {
        p.name: _image_models(p.name) for p in PROVIDERS.values() if p.protocol in ("images", "aa")
    }
    assert all(named.values()), named
    assert set().union(*named.values()) == set(IMAGE_MODELS)


@pytest.mark.parametrize("model_id", [*QUEUE_MODELS, *IMAGE_MODELS])
def test_each_model_belongs_to_a_family_with_a_price_and_service_times(model_id: str) -> None:
    family = family_of(model_id)
    assert family in FAMILIES
    assert DEFAULT_BASE_SECONDS[family] == dict(FAMILIES[family].base_seconds)
    assert set(DEFAULT_BASE_SECONDS[family]) == {"low", "medium", "high"}
    assert (
        0 < image_cost_usd(family, "low", 1024, 1024) < image_cost_usd(family, "high", 1024, 1024)
    )


def test_an_unknown_model_has_no_family() -> None:
    assert model_of("dall-e-3") is None
    assert family_of("gpt_image_9") is None


@pytest.mark.parametrize("provider", sorted(PROFILES))
def test_the_contract_suite_prices_from_the_catalog(provider: str) -> None:
    profile = PROFILES[provider]
    info = model_of(profile.model)
    assert info is not None
    assert (profile.family, profile.transparency) == (info.family, info.transparency)
