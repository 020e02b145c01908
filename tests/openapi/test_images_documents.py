"""The Images-protocol OpenAPI documents (openai, agcloud, aa): valid, complete, schemas right."""

from __future__ import annotations

import json
from collections.abc import Iterator
from functools import cache
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from openapi_spec_validator import validate
from openapi_spec_validator.validation.exceptions import OpenAPIValidationError
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from tests.helpers import events
from tests.openapi._documents import document, load, operations

PROVIDERS = ("openai", "agcloud", "aa")
SSE_PROVIDERS = ("openai", "agcloud")
RULE_NAMES = frozenset(
    {
        "model_size",
        "transparent_background",
        "compression_needs_lossy_format",
        "background_for_model",
        "png_compression",
        "input_fidelity_support",
        "image_inputs",
        "mask_matches_first_image",
        "quality_not_on_plus_models",
        "image_references",
    }
)
EXTENSIONS = frozenset(
    {
        "x-imgemu-assumption",
        "x-imgemu-operation",
        "x-imgemu-rules",
        "x-imgemu-events",
        "x-imgemu-models",
    }
)
SERVERS = {
    "openai": "https://api.openai.com",
    "agcloud": "https://aiandgpu.com",
    "aa": "https://api.aa.com.cn",
}
IMAGES_ERRORS = {"200", "400", "401", "413", "429", "500", "503"}
# kind -> (method, path, rules, response statuses)
OPERATIONS: dict[str, dict[str, tuple[str, str, frozenset[str], set[str]]]] = {
    "openai": {
        "images.generate": (
            "post",
            "/v1/images/generations",
            frozenset({"model_size", "background_for_model", "png_compression"}),
            IMAGES_ERRORS,
        ),
        "images.edit": (
            "post",
            "/v1/images/edits",
            frozenset(
                {
                    "model_size",
                    "background_for_model",
                    "png_compression",
                    "input_fidelity_support",
                    "image_inputs",
                    "image_references",
                    "mask_matches_first_image",
                }
            ),
            IMAGES_ERRORS,
        ),
    },
    "agcloud": {
        "images.edit": (
            "post",
            "/v1/image/edits",
            frozenset(
                {
                    "model_size",
                    "transparent_background",
                    "compression_needs_lossy_format",
                    "image_inputs",
                    "mask_matches_first_image",
                    "quality_not_on_plus_models",
                }
            ),
            IMAGES_ERRORS,
        ),
    },
    "aa": {
        "aa.generate": (
            "post",
            "/api/v1/image/generation",
            frozenset(
                {
                    "model_size",
                    "transparent_background",
                    "compression_needs_lossy_format",
                    "image_references",
                    "mask_matches_first_image",
                }
            ),
            {"200", "400", "401", "413", "429", "500"},
        ),
        "aa.task": (
            "get",
            "/api/v1/image/generation/{task_id}",
            frozenset(),
            {"200", "401", "404", "429", "500"},
        ),
        "aa.upload": (
            "post",
            "/api/v1/files",
            frozenset(),
            {"200", "400", "401", "413", "429", "500"},
        ),
    },
}
# (provider, request schema) -> the defaults the emulator must read from it
DEFAULTS = {
    ("openai", "CreateImageRequest"): {
        "n": 1,
        "size": "auto",
        "quality": "auto",
        "background": "auto",
        "moderation": "auto",
        "output_format": "png",
        "output_compression": 100,
        "stream": False,
        "partial_images": 0,
    },
    ("openai", "EditImageJsonRequest"): {
        "n": 1,
        "size": "auto",
        "quality": "auto",
        "background": "auto",
        "moderation": "auto",
        "output_format": "png",
        "output_compression": 100,
        "input_fidelity": "low",
        "stream": False,
        "partial_images": 0,
    },
    ("openai", "EditImageMultipartRequest"): {
        "n": 1,
        "size": "auto",
        "quality": "auto",
        "background": "auto",
        "output_format": "png",
        "output_compression": 100,
        "input_fidelity": "low",
        "stream": False,
        "partial_images": 0,
    },
    ("agcloud", "EditImageRequest"): {
        "n": 1,
        "size": "auto",
        "quality": "auto",
        "background": "auto",
        "moderation": "auto",
        "output_format": "auto",
        "output_compression": 100,
        "stream": False,
        "partial_images": 0,
    },
    ("aa", "ImageGenerationRequest"): {
        "n": 1,
        "size": "auto",
        "quality": "auto",
        "background": "auto",
        "moderation": "auto",
        "output_format": "png",
        "output_compression": 100,
        "input_fidelity": "low",
        "stream": False,
        "partial_images": 0,
        "async": False,
    },
}
JSON_REQUESTS = (
    ("openai", "CreateImageRequest"),
    ("openai", "EditImageJsonRequest"),
    ("aa", "ImageGenerationRequest"),
)
MULTIPART_EDITS = (("openai", "EditImageMultipartRequest"), ("agcloud", "EditImageRequest"))
SHARED_WITH_AGCLOUD = (
    "ImageData",
    "ResolvedSize",
    "RequestedSize",
    "TokenDetails",
    "ImagesUsage",
    "ImagesResponse",
    "ErrorObject",
    "ErrorResponse",
    "StreamErrorEvent",
    "ImageEditPartialImageEvent",
    "ImageEditCompletedEvent",
    "N",
    "Moderation",
    "Stream",
    "User",
)
PNG_B64 = (
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAIAAACQd1PeAAAADElEQVR42mM4EaABAAMkAUEj5ExoAAAAAElFTkSuQmCC"
)

# Seed 004 (典名词元): the page's curl body, verbatim, and the same body with real values.
SEED_004_LITERAL = {
    "images": [{"file_id": "string", "image_url": "string"}],
    "prompt": "string",
    "model": "string",
}
SEED_004 = {
    "images": [{"image_url": "https://example.com/input.png"}],
    "prompt": "Replace the background with a clean white studio setup.",
    "model": "gpt-image-1.5",
}
# Every optional field the seed 004 page lists, with a value it allows.
SEED_004_FULL = {
    **SEED_004,
    "images": [{"image_url": "https://example.com/input.png"}, {"file_id": "file-abc123"}],
    "background": "opaque",
    "input_fidelity": "high",
    "mask": {"file_id": "file-mask123"},
    "moderation": "low",
    "n": 2,
    "output_compression": 80,
    "output_format": "webp",
    "partial_images": 2,
    "quality": "high",
    "size": "1536x1024",
    "stream": False,
    "user": "user-42",
}
OPENAI_GENERATE = {
    "model": "gpt-image-2",
    "prompt": "A wide watercolor panorama of a harbour town at dawn.",
    "n": 1,
    "size": "2048x1152",
    "quality": "high",
    "background": "auto",
    "moderation": "low",
    "output_format": "jpeg",
    "output_compression": 90,
    "stream": True,
    "partial_images": 3,
    "user": "user-42",
}
OPENAI_JSON_EDIT = {
    "images": [{"file_id": "file-abc123"}, {"image_url": f"data:image/png;base64,{PNG_B64}"}],
    "mask": {"file_id": "file-mask123"},
    "prompt": "Put the mug from the first image on the desk from the second image.",
    "model": "gpt-image-1.5",
    "input_fidelity": "high",
    "size": "1536x1024",
}
# Multipart forms as the emulator validates them: text parts converted to the declared types,
# file parts stood for by strings.
FILE = "<PNG bytes>"
# Seed 003 (AGCloud): every field its table lists.
SEED_003_FORM = {
    "model": "gpt-image-2",
    "prompt": "Replace the background with a clean white studio setup.",
    "image": [FILE, FILE],
    "mask": FILE,
    "input_fidelity": "high",
    "n": 1,
    "size": "2048x1152",
    "quality": "auto",
    "background": "auto",
    "moderation": "auto",
    "output_format": "auto",
    "output_compression": 100,
    "stream": False,
    "partial_images": 0,
    "user": "user-42",
}
OPENAI_FORM = {
    "image[]": [FILE],
    "mask": FILE,
    "prompt": "Replace the sky with a starry night.",
    "model": "gpt-image-1",
    "n": 2,
    "size": "1024x1536",
    "quality": "low",
    "background": "transparent",
    "output_format": "webp",
    "output_compression": 70,
    "input_fidelity": "low",
    "stream": True,
    "partial_images": 1,
    "user": "user-42",
}
MULTIPART_FORMS = {"openai": OPENAI_FORM, "agcloud": SEED_003_FORM}


def resolve(doc: dict[str, Any], node: Any) -> Any:
    """``node`` with its references followed; a nullable field (``anyOf: [schema, {type:
    'null'}]``) as its schema."""
    branches = node.get("anyOf") if isinstance(node, dict) else None
    if branches and len(branches) == 2 and {"type": "null"} in branches:
        node = next(b for b in branches if b != {"type": "null"})
    return _resolve(doc, node)


def _resolve(doc: dict[str, Any], node: Any) -> Any:
    while isinstance(node, dict) and "$ref" in node:
        target: Any = doc
        for part in node["$ref"].removeprefix("#/").split("/"):
            target = target[part.replace("~1", "/").replace("~0", "~")]
        node = target
    return node


def walk(node: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], str, Any]]:
    """Every (path, key, value) of a mapping anywhere in ``node``."""
    if isinstance(node, dict):
        for key, value in node.items():
            yield path, key, value
            yield from walk(value, (*path, str(key)))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from walk(value, (*path, str(index)))


@cache
def _validator(provider: str, ref: str) -> Draft202012Validator:
    registry: Registry[Any] = Registry().with_resource(
        "urn:doc", Resource(contents=load(provider), specification=DRAFT202012)
    )
    return Draft202012Validator(
        {"$ref": f"urn:doc{ref}"},
        registry=registry,
        format_checker=Draft202012Validator.FORMAT_CHECKER,
    )


def errors(provider: str, schema: str, instance: Any) -> list[str]:
    """Messages of ``instance`` against a component schema name or a ``#/...`` reference."""
    ref = schema if schema.startswith("#/") else f"#/components/schemas/{schema}"
    return [e.message for e in _validator(provider, ref).iter_errors(instance)]


def media_examples(media: dict[str, Any]) -> list[Any]:
    found = [media["example"]] if "example" in media else []
    found += [example["value"] for example in media.get("examples", {}).values()]
    return found


def sse_events(text: str) -> list[tuple[str, dict[str, Any]]]:
    """A stream example's (event name, data) pairs, after checking its shape: blocks of an
    ``event`` and a ``data`` line, ending with a blank line."""
    assert text.endswith("\n\n"), "a stream example ends with a blank line"
    for block in text.strip("\n").split("\n\n"):
        assert {line.split(": ", 1)[0] for line in block.split("\n")} == {"event", "data"}, block
    return events(text)


def usages(node: Any) -> Iterator[dict[str, Any]]:
    for _, key, value in walk(node):
        if key == "usage" and isinstance(value, dict):
            yield value


# ---- the documents as a whole ----


@pytest.mark.parametrize("provider", PROVIDERS)
def test_document_is_valid_openapi_3_1(provider: str) -> None:
    doc = document(provider)
    assert doc["openapi"] == "3.1.0"
    validate(doc)
    assert doc["info"]["version"] == "1.0.0"
    assert "x-imgemu-assumption" in doc["info"]["description"]
    assert [s["url"] for s in doc["servers"]] == [SERVERS[provider]]


def test_item_schema_needs_openapi_3_2() -> None:
    """Why the streams use `schema: {type: string}` plus `x-imgemu-events`."""
    doc = document("openai")
    media = doc["components"]["responses"]["ImagesGenerated"]["content"]["text/event-stream"]
    media["itemSchema"] = {"oneOf": media.pop("x-imgemu-events")}
    with pytest.raises(OpenAPIValidationError, match="itemSchema"):
        validate(doc)
    doc["openapi"] = "3.2.0"
    validate(doc)


@pytest.mark.parametrize("provider", PROVIDERS)
def test_security_is_bearer(provider: str) -> None:
    doc = document(provider)
    schemes = doc["components"]["securitySchemes"]
    assert set(schemes) == {"bearerAuth"}
    assert schemes["bearerAuth"]["type"] == "http"
    assert schemes["bearerAuth"]["scheme"] == "bearer"
    assert doc["security"] == [{"bearerAuth": []}]
    for _, _, op in operations(doc):
        assert "security" not in op
    if provider == "agcloud":
        assert "sk-" in schemes["bearerAuth"]["description"]


@pytest.mark.parametrize("provider", PROVIDERS)
def test_operations_are_bound(provider: str) -> None:
    ops = operations(document(provider))
    expected = OPERATIONS[provider]
    seen = {}
    for path, method, op in ops:
        binding = op["x-imgemu-operation"]
        assert binding == {"kind": binding["kind"], "model": "*"}
        kind = binding["kind"]
        assert kind in expected, kind
        assert (method, path) == expected[kind][:2], kind
        assert isinstance(op["operationId"], str)
        assert op["operationId"]
        assert op["summary"]
        assert op["description"]
        assert kind not in seen
        seen[kind] = op["operationId"]
    assert set(seen) == set(expected)
    assert len(set(seen.values())) == len(seen)


@pytest.mark.parametrize("provider", PROVIDERS)
def test_rules_come_from_the_vocabulary(provider: str) -> None:
    for _, _, op in operations(document(provider)):
        kind = op["x-imgemu-operation"]["kind"]
        expected = OPERATIONS[provider][kind][2]
        if not expected:
            assert "x-imgemu-rules" not in op, kind
            continue
        rules = op["x-imgemu-rules"]
        assert len(rules) == len(set(rules)), kind
        assert set(rules) <= RULE_NAMES
        assert set(rules) == expected, kind
        for name in rules:
            assert f"`{name}`" in op["description"], (kind, name)


@pytest.mark.parametrize("provider", PROVIDERS)
def test_every_named_status_has_a_response_with_a_schema(provider: str) -> None:
    doc = document(provider)
    for _, _, op in operations(doc):
        kind = op["x-imgemu-operation"]["kind"]
        assert set(op["responses"]) == OPERATIONS[provider][kind][3], kind
        for status, ref in op["responses"].items():
            assert set(ref) == {"$ref"}, (kind, status)
            assert ref["$ref"].startswith("#/components/responses/")
            response = resolve(doc, ref)
            assert response["description"], (kind, status)
            media = response["content"]["application/json"]
            assert media["schema"]["$ref"].startswith("#/components/schemas/"), (kind, status)
            assert media_examples(media), (kind, status)
            expected_media = {"application/json"}
            if status == "200" and provider in SSE_PROVIDERS:
                expected_media.add("text/event-stream")
            assert set(response["content"]) == expected_media, (kind, status)


@pytest.mark.parametrize("provider", PROVIDERS)
def test_assumptions_are_non_empty_strings(provider: str) -> None:
    doc = document(provider)
    count = 0
    for path, key, value in walk(doc):
        if key.startswith("x-imgemu"):
            assert key in EXTENSIONS, (path, key)
        if key == "x-imgemu-assumption":
            assert isinstance(value, str), path
            assert value.strip(), path
            assert len(value.split()) >= 5, (path, value)
            count += 1
    assert count >= 10


@pytest.mark.parametrize("provider", PROVIDERS)
def test_everything_is_described(provider: str) -> None:
    doc = document(provider)
    components = doc["components"]
    for section in ("responses", "headers", "requestBodies", "parameters", "securitySchemes"):
        for name, item in components.get(section, {}).items():
            assert item.get("description"), (section, name)
    for name, schema in components["schemas"].items():
        assert schema.get("description"), name
    for name in (name for (p, name) in DEFAULTS if p == provider):
        for prop_name, prop in components["schemas"][name]["properties"].items():
            described = prop.get("description") or resolve(doc, prop).get("description")
            assert described, (name, prop_name)


@pytest.mark.parametrize("provider", PROVIDERS)
def test_every_component_is_used(provider: str) -> None:
    doc = document(provider)
    text = json.dumps(doc)
    for section, items in doc["components"].items():
        if section == "securitySchemes":
            continue
        for name in items:
            assert f'"#/components/{section}/{name}"' in text, (section, name)


@pytest.mark.parametrize("provider", PROVIDERS)
def test_response_examples_validate(provider: str) -> None:
    doc = document(provider)
    for name, response in doc["components"]["responses"].items():
        media = response["content"]["application/json"]
        ref = media["schema"]["$ref"]
        for example in media_examples(media):
            assert errors(provider, ref, example) == [], name


@pytest.mark.parametrize("provider", PROVIDERS)
def test_request_examples_validate(provider: str) -> None:
    doc = document(provider)
    for name, body in doc["components"]["requestBodies"].items():
        assert body["required"] is True
        for media_type, media in body["content"].items():
            assert media["schema"]["$ref"].startswith("#/components/schemas/")
            examples = media_examples(media)
            assert examples or media_type == "multipart/form-data", name
            for example in examples:
                assert errors(provider, media["schema"]["$ref"], example) == [], name


@pytest.mark.parametrize("provider", PROVIDERS)
def test_usage_in_examples_adds_up(provider: str) -> None:
    found = []
    for response in document(provider)["components"]["responses"].values():
        for media_type, media in response["content"].items():
            if media_type == "text/event-stream":
                events = sse_events(media["example"])
                found += [data["usage"] for _, data in events if "usage" in data]
            else:
                found += [u for example in media_examples(media) for u in usages(example)]
    assert found
    for usage in found:
        assert usage["total_tokens"] == usage["input_tokens"] + usage["output_tokens"], usage
        if "input_tokens_details" in usage:
            assert sum(usage["input_tokens_details"].values()) == usage["input_tokens"]
        if "output_tokens_details" in usage:
            assert sum(usage["output_tokens_details"].values()) == usage["output_tokens"]


# ---- requests ----


@pytest.mark.parametrize(("provider", "schema"), list(DEFAULTS))
def test_request_defaults(provider: str, schema: str) -> None:
    """The defaults the emulator reads: a property's own or its referenced schema's."""
    doc = document(provider)
    found = {}
    for name, prop in doc["components"]["schemas"][schema]["properties"].items():
        if "default" in prop:
            found[name] = prop["default"]
        elif "default" in resolve(doc, prop):
            found[name] = resolve(doc, prop)["default"]
    assert found == DEFAULTS[(provider, schema)]
    for name, value in found.items():
        ref = f"#/components/schemas/{schema}/properties/{name}"
        assert errors(provider, ref, value) == [], name


@pytest.mark.parametrize(("provider", "schema"), [*JSON_REQUESTS, *MULTIPART_EDITS])
def test_unknown_fields_are_refused(provider: str, schema: str) -> None:
    doc = document(provider)
    assert doc["components"]["schemas"][schema]["additionalProperties"] is False
    body = {
        "CreateImageRequest": OPENAI_GENERATE,
        "EditImageJsonRequest": OPENAI_JSON_EDIT,
        "ImageGenerationRequest": SEED_004,
        "EditImageMultipartRequest": OPENAI_FORM,
        "EditImageRequest": SEED_003_FORM,
    }[schema]
    assert errors(provider, schema, body) == []
    for extra in ({"seed": 7}, {"response_format": "b64_json"}, {"style": "vivid"}):
        assert errors(provider, schema, {**body, **extra}), extra


def test_seed_004_bodies() -> None:
    assert errors("aa", "ImageGenerationRequest", SEED_004) == []
    assert errors("aa", "ImageGenerationRequest", SEED_004_FULL) == []
    assert errors("aa", "ImageGenerationRequest", {**SEED_004, "async": True}) == []
    # The page's placeholder body names both keys in one reference and no real model.
    assert errors("aa", "ImageGenerationRequest", SEED_004_LITERAL)
    for key in ("images", "prompt", "model"):
        body = {k: v for k, v in SEED_004.items() if k != key}
        assert errors("aa", "ImageGenerationRequest", body), key


AA_INVALID = [
    pytest.param({"model": "gpt-image-1"}, id="model-other"),
    pytest.param({"images": []}, id="images-empty"),
    pytest.param({"images": [{"image_url": "https://example.com/a.png"}] * 17}, id="images-17"),
    pytest.param({"images": ["https://example.com/a.png"]}, id="images-bare-url"),
    pytest.param({"prompt": ""}, id="prompt-empty"),
    pytest.param({"prompt": "x" * 32001}, id="prompt-too-long"),
    pytest.param({"n": 11}, id="n-11"),
    pytest.param({"quality": 2}, id="quality-integer"),
    pytest.param({"partial_images": 4}, id="partial-4"),
    pytest.param({"partial_images": "2"}, id="partial-string"),
    pytest.param({"output_format": "gif"}, id="format-gif"),
    pytest.param({"output_compression": 101}, id="compression-101"),
    pytest.param({"async": "yes"}, id="async-string"),
    pytest.param({"mask": "https://example.com/m.png"}, id="mask-bare-url"),
]


@pytest.mark.parametrize("change", AA_INVALID)
def test_aa_invalid_bodies(change: dict[str, Any]) -> None:
    assert errors("aa", "ImageGenerationRequest", {**SEED_004, **change})


@pytest.mark.parametrize("provider", ["openai", "aa"])
def test_image_ref_is_exactly_one_key(provider: str) -> None:
    url = {"image_url": "https://example.com/a.png"}
    for ref in (url, {"image_url": f"data:image/png;base64,{PNG_B64}"}, {"file_id": "file-1"}):
        assert errors(provider, "ImageRef", ref) == [], ref
    for ref in (
        {},
        {**url, "file_id": "file-1"},
        {"image_url": ""},
        {"file_id": ""},
        {**url, "detail": "high"},
        "https://example.com/a.png",
        {"image_url": None},
    ):
        assert errors(provider, "ImageRef", ref), ref


def test_openai_request_bodies() -> None:
    assert errors("openai", "CreateImageRequest", {"prompt": "a cat", "model": "gpt-image-2"}) == []
    # No model, or a null one: the spec's default (dall-e-2) is retired.
    assert errors("openai", "CreateImageRequest", {"prompt": "a cat"})
    assert errors("openai", "CreateImageRequest", {"prompt": "a cat", "model": None})
    # Every other optional field takes null, as OpenAI's schema says and the SDK sends.
    nulls = {k: None for k in OPENAI_GENERATE if k not in ("model", "prompt", "user")}
    assert errors("openai", "CreateImageRequest", {**OPENAI_GENERATE, **nulls}) == []
    edit_nulls = {**nulls, "mask": None, "input_fidelity": None, "safety_identifier": None}
    assert errors("openai", "EditImageJsonRequest", {**OPENAI_JSON_EDIT, **edit_nulls}) == []
    for model in ("gpt-image-2-2026-04-21", "chatgpt-image-latest"):
        assert errors("openai", "CreateImageRequest", {**OPENAI_GENERATE, "model": model}) == []
    assert (
        errors("openai", "CreateImageRequest", {**OPENAI_GENERATE, "safety_identifier": "u"}) == []
    )
    assert errors("openai", "CreateImageRequest", OPENAI_GENERATE) == []
    assert errors("openai", "EditImageJsonRequest", OPENAI_JSON_EDIT) == []
    bad_generate = (
        {"model": "dall-e-3"},
        {"model": "gpt-image-2-mini"},
        {"n": 0},
        {"quality": "hd"},
        {"model": "gpt-image-2.5-sunburst"},
        {"model": "gpt-image-2.6-flare"},
        {"stream": "true"},
        {"size": 1024},
    )
    for change in bad_generate:
        assert errors("openai", "CreateImageRequest", {**OPENAI_GENERATE, **change}), change
    assert errors("openai", "CreateImageRequest", {"n": 1})
    json_edit = OPENAI_JSON_EDIT
    assert errors("openai", "EditImageJsonRequest", {**json_edit, "images": []})
    seventeen = [{"file_id": f"file-{i}"} for i in range(17)]
    assert errors("openai", "EditImageJsonRequest", {**json_edit, "images": seventeen})
    assert errors("openai", "EditImageJsonRequest", {**json_edit, "image": json_edit["images"]})
    assert errors("openai", "EditImageJsonRequest", {**json_edit, "input_fidelity": "medium"})


@pytest.mark.parametrize(("provider", "schema"), [*JSON_REQUESTS, *MULTIPART_EDITS])
def test_size_is_left_to_rule_model_size(provider: str, schema: str) -> None:
    doc = document(provider)
    size = resolve(doc, doc["components"]["schemas"][schema]["properties"]["size"])
    assert size["type"] == "string"
    assert "enum" not in size
    assert "pattern" not in size
    assert "model_size" in size["description"]
    assert "1536x1024" in size["description"]
    if provider != "aa":
        assert "3840" in size["description"]
        assert "8,294,400" in size["description"]
    body = {
        "CreateImageRequest": OPENAI_GENERATE,
        "EditImageJsonRequest": OPENAI_JSON_EDIT,
        "ImageGenerationRequest": SEED_004,
        "EditImageMultipartRequest": OPENAI_FORM,
        "EditImageRequest": SEED_003_FORM,
    }[schema]
    for value in ("auto", "1024x1024", "3840x2160", "9:16"):
        assert errors(provider, schema, {**body, "size": value}) == [], value
    assert errors(provider, schema, {**body, "size": 1024})


def test_models() -> None:
    openai, agcloud, aa = (document(p)["components"]["schemas"] for p in PROVIDERS)
    assert openai["ImageModel"]["enum"] == [
        "gpt-image-1",
        "gpt-image-1-mini",
        "gpt-image-1.5",
        "gpt-image-2",
        "gpt-image-2-2026-04-21",
        "chatgpt-image-latest",
    ]
    assert "x-imgemu-assumption" in openai["ImageModel"]
    for schema in ("CreateImageRequest", "EditImageJsonRequest", "EditImageMultipartRequest"):
        assert "x-imgemu-assumption" in openai[schema]["properties"]["model"], schema
        assert "model" in openai[schema]["required"], schema
    assert set(agcloud["ImageModel"]["enum"]) == {
        "gpt-image-1",
        "gpt-image-2",
        "gpt-image-1-plus",
        "gpt-image-2-plus",
    }
    assert "x-imgemu-assumption" in agcloud["ImageModel"]
    assert "model" in agcloud["EditImageRequest"]["required"]
    assert aa["ImageGenerationRequest"]["properties"]["model"]["enum"] == ["gpt-image-1.5"]
    assert set(aa["ImageGenerationRequest"]["required"]) == {"model", "prompt", "images"}
    assert "x-imgemu-assumption" in agcloud["OutputFormat"]
    assert agcloud["OutputFormat"]["default"] == "auto"
    for name in ("stream", "partial_images", "async"):
        assert "x-imgemu-assumption" in aa["ImageGenerationRequest"]["properties"][name], name


# ---- multipart ----


def _is_file(doc: dict[str, Any], schema: Any) -> bool:
    schema = resolve(doc, schema)
    return schema.get("type") == "string" and (
        schema.get("format") == "binary"
        or schema.get("contentMediaType") == "application/octet-stream"
    )


@pytest.mark.parametrize(("provider", "schema"), MULTIPART_EDITS)
def test_multipart_edit_has_file_parts(provider: str, schema: str) -> None:
    doc = document(provider)
    body = resolve(doc, {"$ref": "#/components/requestBodies/EditImage"})
    media = body["content"]["multipart/form-data"]
    assert media["schema"] == {"$ref": f"#/components/schemas/{schema}"}
    props = doc["components"]["schemas"][schema]["properties"]
    single, many = props["image"]["oneOf"]
    assert _is_file(doc, single)
    assert (many["type"], many["minItems"], many["maxItems"]) == ("array", 1, 16)
    assert _is_file(doc, many["items"])
    brackets = props["image[]"]
    assert (brackets["type"], brackets["minItems"], brackets["maxItems"]) == ("array", 1, 16)
    assert _is_file(doc, brackets["items"])
    assert _is_file(doc, props["mask"])
    for name in ("image", "image[]"):
        types = {t.strip() for t in media["encoding"][name]["contentType"].split(",")}
        assert types == {"image/png", "image/jpeg", "image/webp"}, name
    assert media["encoding"]["mask"]["contentType"] == "image/png"
    typed = {"n": "integer", "partial_images": "integer", "output_compression": "integer"}
    for name, kind in {**typed, "stream": "boolean"}.items():
        assert resolve(doc, props[name])["type"] == kind, name


@pytest.mark.parametrize("provider", ["openai", "agcloud"])
def test_multipart_forms(provider: str) -> None:
    schema = dict(MULTIPART_EDITS)[provider]
    form = MULTIPART_FORMS[provider]
    assert errors(provider, schema, form) == []
    images = form.get("image", form.get("image[]"))
    without = {k: v for k, v in form.items() if k not in ("image", "image[]")}
    for name, value in (("image", FILE), ("image", [FILE] * 16), ("image[]", [FILE])):
        assert errors(provider, schema, {**without, name: value}) == [], (name, value)
    assert errors(provider, schema, without), "no image part"
    assert errors(provider, schema, {**without, "image": images, "image[]": images})
    assert errors(provider, schema, {**without, "image[]": [FILE] * 17})
    assert errors(provider, schema, {**without, "image": []})
    assert errors(provider, schema, {**form, "n": "2"}), "text parts are converted before"
    assert errors(provider, schema, {k: v for k, v in form.items() if k != "prompt"})


def test_multipart_model_fields() -> None:
    assert errors("openai", "EditImageMultipartRequest", {**OPENAI_FORM, "moderation": "low"})
    openai_form = {k: v for k, v in OPENAI_FORM.items() if k != "model"}
    assert errors("openai", "EditImageMultipartRequest", openai_form)
    agcloud = SEED_003_FORM
    assert errors("agcloud", "EditImageRequest", {k: v for k, v in agcloud.items() if k != "model"})
    assert errors("agcloud", "EditImageRequest", {**agcloud, "model": "git-image-2"})
    for model in ("gpt-image-1", "gpt-image-1-plus", "gpt-image-2-plus"):
        assert errors("agcloud", "EditImageRequest", {**agcloud, "model": model}) == [], model
    assert errors("agcloud", "EditImageRequest", {**agcloud, "output_format": "png"}) == []
    assert errors("agcloud", "EditImageRequest", {**agcloud, "input_fidelity": "medium"})


def test_aa_upload_has_a_file_part() -> None:
    doc = document("aa")
    body = doc["components"]["requestBodies"]["FileUpload"]
    assert set(body["content"]) == {"multipart/form-data"}
    media = body["content"]["multipart/form-data"]
    schema = resolve(doc, media["schema"])
    assert schema["required"] == ["file"]
    assert _is_file(doc, schema["properties"]["file"])
    assert schema["properties"]["purpose"]["type"] == "string"
    assert "file" in media["encoding"]
    ref = media["schema"]["$ref"]
    assert errors("aa", ref, {"file": FILE, "purpose": "vision"}) == []
    assert errors("aa", ref, {"purpose": "vision"})


# ---- responses and streams ----


@pytest.mark.parametrize("provider", SSE_PROVIDERS)
def test_headers(provider: str) -> None:
    doc = document(provider)
    headers = doc["components"]["headers"]
    assert headers["XRequestId"]["required"] is True
    assert headers["XRequestId"]["schema"]["type"] == "string"
    for name, response in doc["components"]["responses"].items():
        assert response["headers"]["x-request-id"] == {"$ref": "#/components/headers/XRequestId"}, (
            name
        )
    limits = {
        f"x-ratelimit-{part}-{unit}"
        for part in ("limit", "remaining", "reset")
        for unit in ("requests", "images")
    }
    for name, response in doc["components"]["responses"].items():
        # Every answer to a key the gateway took shows the key's limits; a 401 has no key, and
        # a body too large by its Content-Length is refused before the gateway looks at one.
        shown = set(response["headers"]) & limits
        assert shown == (set() if name in ("Unauthorized", "RequestTooLarge") else limits), name
        for header in shown:
            assert "x-imgemu-assumption" in resolve(doc, response["headers"][header]), header
    limited = doc["components"]["responses"]["RateLimited"]["headers"]
    assert set(limited) == {"x-request-id", "retry-after", "retry-after-ms"} | limits
    for name in ("retry-after", "retry-after-ms"):
        assert resolve(doc, limited[name])["schema"]["type"] == "integer"
    for unit in ("requests", "images"):
        assert resolve(doc, limited[f"x-ratelimit-limit-{unit}"])["schema"]["type"] == "integer"
        reset = resolve(doc, limited[f"x-ratelimit-reset-{unit}"])["schema"]
        validator = Draft202012Validator(reset)
        for value in ("0s", "12s", "1m30s", "250ms", "1h2m3.5s", "6m0s"):
            assert validator.is_valid(value), value
        assert not validator.is_valid("soon")


@pytest.mark.parametrize(
    ("provider", "response", "prefix"),
    [
        ("openai", "ImagesGenerated", "ImageGen"),
        ("openai", "ImagesEdited", "ImageEdit"),
        ("agcloud", "ImagesEdited", "ImageEdit"),
    ],
)
def test_streams_declare_their_events(provider: str, response: str, prefix: str) -> None:
    doc = document(provider)
    media = doc["components"]["responses"][response]["content"]["text/event-stream"]
    assert media["schema"]["type"] == "string"
    assert "itemSchema" not in media
    refs = [item["$ref"] for item in media["x-imgemu-events"]]
    base = "#/components/schemas/"
    assert refs == [
        f"{base}{prefix}PartialImageEvent",
        f"{base}{prefix}CompletedEvent",
        f"{base}StreamErrorEvent",
    ]
    events = sse_events(media["example"])
    assert events
    assert "[DONE]" not in media["example"]
    kinds = {resolve(doc, {"$ref": ref})["properties"]["type"]["const"] for ref in refs}
    assert events[-1][0].endswith(".completed")
    for name, data in events:
        assert name == data["type"]
        assert name in kinds
        matching = [ref for ref in refs if not errors(provider, ref, data)]
        assert len(matching) == 1, (name, matching)


@pytest.mark.parametrize("provider", SSE_PROVIDERS)
def test_event_schemas(provider: str) -> None:
    partial = {
        "type": "image_edit.partial_image",
        "b64_json": PNG_B64,
        "created_at": 1795255200,
        "size": "auto",
        "quality": "auto",
        "background": "auto",
        "output_format": "png",
        "partial_image_index": 0,
    }
    usage = {
        "input_tokens": 14,
        "output_tokens": 1056,
        "total_tokens": 1070,
        "input_tokens_details": {"text_tokens": 14, "image_tokens": 0},
    }
    completed = {
        **{k: v for k, v in partial.items() if k != "partial_image_index"},
        "type": "image_edit.completed",
        "usage": usage,
    }
    assert errors(provider, "ImageEditPartialImageEvent", partial) == []
    assert errors(provider, "ImageEditCompletedEvent", completed) == []
    assert errors(provider, "ImageEditCompletedEvent", {**completed, "size": "2048x1152"}) == []
    assert errors(provider, "ImageEditPartialImageEvent", {**partial, "type": completed["type"]})
    assert errors(provider, "ImageEditCompletedEvent", {**partial, "type": completed["type"]})
    assert errors(provider, "ImageEditPartialImageEvent", {**partial, "partial_image_index": 3})
    assert errors(provider, "ImageEditPartialImageEvent", {**partial, "output_format": "auto"})
    assert errors(provider, "ImageEditCompletedEvent", {**completed, "usage": {}})
    error = {
        "type": "error",
        "error": {"message": "boom", "type": "server_error", "param": None, "code": None},
    }
    assert errors(provider, "StreamErrorEvent", error) == []
    assert errors(provider, "StreamErrorEvent", {"error": error["error"]})
    assert errors(provider, "StreamErrorEvent", {**error, "error": {"message": "boom"}})


@pytest.mark.parametrize("provider", SSE_PROVIDERS)
def test_images_response_carries_resolved_values(provider: str) -> None:
    response = doc_example(provider, "ImagesEdited")
    assert errors(provider, "ImagesResponse", response) == []
    for change in (
        {"quality": "auto"},
        {"size": "auto"},
        {"background": "auto"},
        {"output_format": "auto"},
        {"data": []},
        {"data": [{"url": "https://example.com/a.png"}]},
        {"created": "now"},
    ):
        assert errors(provider, "ImagesResponse", {**response, **change}), change
    for key in ("created", "data", "usage", "size", "quality"):
        body = {k: v for k, v in response.items() if k != key}
        assert errors(provider, "ImagesResponse", body), key
    no_details = {k: v for k, v in response["usage"].items() if k != "output_tokens_details"}
    assert errors(provider, "ImagesResponse", {**response, "usage": no_details}) == []


def doc_example(provider: str, response: str) -> dict[str, Any]:
    media = document(provider)["components"]["responses"][response]["content"]
    example = media["application/json"]["example"]
    assert isinstance(example, dict)
    return example


@pytest.mark.parametrize("provider", SSE_PROVIDERS)
def test_error_object_has_four_keys(provider: str) -> None:
    error = {"message": "m", "type": "invalid_request_error", "param": "size", "code": "x"}
    assert errors(provider, "ErrorResponse", {"error": error}) == []
    nulls = {**error, "param": None, "code": None}
    assert errors(provider, "ErrorResponse", {"error": nulls}) == []
    for key in error:
        body = {"error": {k: v for k, v in error.items() if k != key}}
        assert errors(provider, "ErrorResponse", body), key
    assert errors(provider, "ErrorResponse", {"error": {**error, "code": 400}})
    assert errors(provider, "ErrorResponse", error)


def test_error_examples_use_the_decided_codes() -> None:
    openai = document("openai")["components"]["responses"]
    codes = {
        name: {e["error"]["code"] for e in media_examples(r["content"]["application/json"])}
        for name, r in openai.items()
        if name.startswith(("Bad", "Unauth", "Rate"))
    }
    assert {"invalid_value", "moderation_blocked"} <= codes["BadRequest"]
    assert codes["Unauthorized"] == {"invalid_api_key"}
    assert codes["RateLimited"] == {"rate_limit_exceeded", "insufficient_quota"}
    agcloud = document("agcloud")["components"]["responses"]["BadRequest"]
    params = {
        (e["error"]["param"], e["error"]["code"])
        for e in media_examples(agcloud["content"]["application/json"])
    }
    assert ("background", "invalid_value") in params
    assert ("quality", "invalid_value") in params


def test_shared_parts_match_agcloud() -> None:
    openai, agcloud = document("openai")["components"], document("agcloud")["components"]
    for name in SHARED_WITH_AGCLOUD:
        assert openai["schemas"][name] == agcloud["schemas"][name], name
    assert set(openai["headers"]) == set(agcloud["headers"])
    for name in openai["headers"]:
        assert openai["headers"][name]["schema"] == agcloud["headers"][name]["schema"], name
    assert set(agcloud["responses"]) == set(openai["responses"]) - {"ImagesGenerated"}


# ---- 典名词元 envelopes ----

AA_SUCCEEDED = {
    "code": 0,
    "message": "success",
    "request_id": "req_1",
    "data": {
        "urls": ["https://example.com/_files/t/0.png"],
        "usage": {
            "images": 1,
            "seconds": 12.5,
            "input_tokens": 10,
            "output_tokens": 1056,
            "total_tokens": 1066,
        },
        "expired": "2026-11-22T10:00:00Z",
        "task_id": "task_1",
        "task_status": "succeeded",
    },
}
AA_PENDING = {
    **AA_SUCCEEDED,
    "data": {"urls": [], "usage": None, "expired": None, "task_id": "t", "task_status": "pending"},
}


def test_aa_task_envelope() -> None:
    assert errors("aa", "TaskResponse", AA_SUCCEEDED) == []
    for status in ("pending", "processing", "failed"):
        body = {**AA_PENDING, "data": {**AA_PENDING["data"], "task_status": status}}
        assert errors("aa", "TaskResponse", body) == [], status
    succeeded = AA_SUCCEEDED["data"]
    bad_data = (
        {**succeeded, "urls": []},
        {**succeeded, "usage": None},
        {**succeeded, "expired": None},
        {**succeeded, "expired": "2026-11-22T18:00:00+08:00"},
        {**succeeded, "expired": "tomorrow"},
        {**succeeded, "task_status": "done"},
        {**AA_PENDING["data"], "urls": ["https://example.com/a.png"]},
        {**AA_PENDING["data"], "expired": "2026-11-22T10:00:00Z"},
        {k: v for k, v in succeeded.items() if k != "task_id"},
        {**succeeded, "usage": {"images": 1}},
    )
    for data in bad_data:
        assert errors("aa", "TaskResponse", {**AA_SUCCEEDED, "data": data}), data
    assert errors("aa", "TaskResponse", {**AA_SUCCEEDED, "code": 400})
    assert errors("aa", "TaskResponse", {k: v for k, v in AA_SUCCEEDED.items() if k != "message"})


def test_aa_error_envelope() -> None:
    error = {"code": 400, "message": "insufficient_credit", "request_id": "r", "data": None}
    assert errors("aa", "ErrorResponse", error) == []
    for change in ({"code": 0}, {"code": 402}, {"data": {}}, {"message": ""}, {"code": "400"}):
        assert errors("aa", "ErrorResponse", {**error, **change}), change
    assert errors("aa", "ErrorResponse", {k: v for k, v in error.items() if k != "request_id"})


def test_aa_error_codes_repeat_the_status() -> None:
    doc = document("aa")
    for _, _, op in operations(doc):
        for status, ref in op["responses"].items():
            media = resolve(doc, ref)["content"]["application/json"]
            for example in media_examples(media):
                assert example["code"] == (0 if status == "200" else int(status)), status
                assert (example["data"] is None) == (status != "200"), status
    bad = doc["components"]["responses"]["BadRequest"]["content"]["application/json"]
    messages = [e["message"] for e in media_examples(bad)]
    assert any("insufficient_credit" in m for m in messages)


def test_aa_upload_and_task_parameter() -> None:
    doc = document("aa")
    ok = doc_example("aa", "UploadOk")
    assert errors("aa", "UploadResponse", ok) == []
    assert errors("aa", "UploadResponse", {**ok, "data": {}})
    task = doc["paths"]["/api/v1/image/generation/{task_id}"]["get"]
    assert task["parameters"] == [{"$ref": "#/components/parameters/TaskId"}]
    param = doc["components"]["parameters"]["TaskId"]
    assert (param["name"], param["in"], param["required"]) == ("task_id", "path", True)
