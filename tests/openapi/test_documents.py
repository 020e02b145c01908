"""The queue-protocol OpenAPI documents: valid, complete, shared parts identical, schemas right."""

from __future__ import annotations

from functools import cache
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from openapi_spec_validator import validate
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from tests.openapi._documents import document, load, operations
from tests.seeds import SEED_GPT_IMAGE_1, SEED_GPT_IMAGE_2_EDIT

PROVIDERS = ("seacloud", "odirouter")
MODELS = (
    "gpt_image_1",
    "gpt_image_1_edit",
    "gpt_image_1_5",
    "gpt_image_1_5_edit",
    "gpt_image_2",
    "gpt_image_2_edit",
)
EDIT_MODELS = tuple(m for m in MODELS if m.endswith("_edit"))
RULE_NAMES = frozenset(
    {
        "gpt_image_2_size",
        "transparent_needs_alpha_format",
        "image_references",
        "mask_matches_first_image",
        "no_webhooks",
    }
)
INPUT_SCHEMA = {
    "gpt_image_1": "GptImage1Input",
    "gpt_image_1_edit": "GptImage1EditInput",
    "gpt_image_1_5": "GptImage15Input",
    "gpt_image_1_5_edit": "GptImage15EditInput",
    "gpt_image_2": "GptImage2Input",
    "gpt_image_2_edit": "GptImage2EditInput",
}
# (method, path below /v1/queue/<model>) per kind
ROUTES = {
    "submit": ("post", ""),
    "status": ("get", "/requests/{request_id}/status"),
    "result": ("get", "/requests/{request_id}/response"),
    "cancel": ("put", "/requests/{request_id}/cancel"),
    # Documented as not offered: every call is refused.
    "status.stream": ("get", "/requests/{request_id}/status/stream"),
    "sync": ("post", "/sync"),
}
STATUS_CODES = {
    "submit": {"200", "400", "401", "402", "404", "413", "422", "429"},
    "status": {"200", "202", "401", "404"},
    "result": {"200", "202", "400", "401", "404", "422", "500", "504"},
    "cancel": {"202", "400", "401", "404"},
    "status.stream": {"400"},
    "sync": {"404"},
}


@cache
def _validator(provider: str, schema_name: str) -> Draft202012Validator:
    registry: Registry[Any] = Registry().with_resource(
        "urn:doc", Resource(contents=load(provider), specification=DRAFT202012)
    )
    return Draft202012Validator(
        {"$ref": f"urn:doc#/components/schemas/{schema_name}"}, registry=registry
    )


def errors(provider: str, schema_name: str, instance: Any) -> list[str]:
    return [e.message for e in _validator(provider, schema_name).iter_errors(instance)]


def input_schemas(models: tuple[str, ...] = MODELS) -> list[Any]:
    return [
        pytest.param(provider, INPUT_SCHEMA[m], id=f"{provider}-{m}")
        for provider in PROVIDERS
        for m in models
    ]


@pytest.mark.parametrize("provider", PROVIDERS)
def test_document_is_valid_openapi_3_1(provider: str) -> None:
    doc = document(provider)
    assert doc["openapi"] == "3.1.0"
    validate(doc)
    assert doc["info"]["version"] == "1.0.0"
    assert "x-imgemu-assumption" in doc["info"]["description"]


@pytest.mark.parametrize(
    ("provider", "server", "schemes"),
    [
        ("seacloud", "https://cloud.seaart.ai/model", {"bearerAuth", "keyAuth"}),
        ("odirouter", "https://odirouter.ai/model", {"bearerAuth"}),
    ],
)
def test_servers_and_security(provider: str, server: str, schemes: set[str]) -> None:
    doc = document(provider)
    assert [s["url"] for s in doc["servers"]] == [server]
    declared = doc["components"]["securitySchemes"]
    assert set(declared) == schemes
    assert declared["bearerAuth"] == declared["bearerAuth"] | {"type": "http", "scheme": "bearer"}
    assert doc["security"] == [{name: []} for name in sorted(schemes)]
    if "keyAuth" in schemes:
        key = declared["keyAuth"]
        assert (key["type"], key["in"], key["name"]) == ("apiKey", "header", "Authorization")
        assert "Key <k>" in key["description"]


@pytest.mark.parametrize("provider", PROVIDERS)
def test_one_operation_per_kind_and_model(provider: str) -> None:
    ops = operations(document(provider))
    assert len(ops) == len(ROUTES) * len(MODELS)
    bound = {}
    for path, method, op in ops:
        binding = op["x-imgemu-operation"]
        kind, model = binding["kind"], binding["model"]
        assert set(binding) == {"kind", "model"}
        assert op["operationId"] == f"{kind.replace('.', '_')}_{model}"
        assert (method, path) == (ROUTES[kind][0], f"/v1/queue/{model}{ROUTES[kind][1]}")
        assert (kind, model) not in bound
        bound[(kind, model)] = op["operationId"]
    assert set(bound) == {(kind, model) for kind in ROUTES for model in MODELS}
    assert len(set(bound.values())) == len(ROUTES) * len(MODELS)


@pytest.mark.parametrize("provider", PROVIDERS)
def test_operation_parameters(provider: str) -> None:
    doc = document(provider)
    for _, _, op in operations(doc):
        kind = op["x-imgemu-operation"]["kind"]
        refs = [p["$ref"] for p in op.get("parameters", [])]
        expected = {
            "submit": ["#/components/parameters/RequestTimeout"],
            "status": ["#/components/parameters/RequestId", "#/components/parameters/Logs"],
            "result": ["#/components/parameters/RequestId"],
            "cancel": ["#/components/parameters/RequestId"],
            "status.stream": ["#/components/parameters/RequestId"],
            "sync": [],
        }[kind]
        assert refs == expected
        assert ("requestBody" in op) == (kind == "submit")
        assert "x-imgemu-assumption" in op
    params = doc["components"]["parameters"]
    assert params["RequestId"]["schema"] == {"type": "string"}
    assert params["RequestId"]["required"] is True
    # Any value is taken (only 1 or true lists the logs): a poll is never refused for its flag.
    assert params["Logs"]["schema"] == {"type": "string", "examples": ["1", "true", "0", "false"]}
    assert params["Logs"]["required"] is False


@pytest.mark.parametrize("provider", PROVIDERS)
def test_submit_rules(provider: str) -> None:
    for _, _, op in operations(document(provider)):
        kind, model = op["x-imgemu-operation"]["kind"], op["x-imgemu-operation"]["model"]
        if kind != "submit":
            assert "x-imgemu-rules" not in op
            continue
        rules = op["x-imgemu-rules"]
        assert len(rules) == len(set(rules))
        assert set(rules) <= RULE_NAMES
        expected = {"no_webhooks"}
        if model in EDIT_MODELS:
            expected |= {"image_references", "mask_matches_first_image"}
        if model.startswith("gpt_image_2"):
            expected.add("gpt_image_2_size")
        else:
            expected.add("transparent_needs_alpha_format")
        assert set(rules) == expected, model
        for name in rules:
            assert f"`{name}`" in op["description"], (model, name)


@pytest.mark.parametrize("provider", PROVIDERS)
def test_responses_are_shared_references(provider: str) -> None:
    doc = document(provider)
    shared = doc["components"]["responses"]
    for _, _, op in operations(doc):
        kind = op["x-imgemu-operation"]["kind"]
        assert set(op["responses"]) == STATUS_CODES[kind], op["operationId"]
        for response in op["responses"].values():
            assert set(response) == {"$ref"}
            prefix = "#/components/responses/"
            assert response["$ref"].startswith(prefix)
            assert response["$ref"].removeprefix(prefix) in shared
        if kind == "submit":
            assert set(op["requestBody"]) == {"$ref"}
            assert op["requestBody"]["$ref"].startswith("#/components/requestBodies/")


@pytest.mark.parametrize("provider", PROVIDERS)
def test_shared_responses_have_schema_and_valid_example(provider: str) -> None:
    doc = document(provider)
    for name, response in doc["components"]["responses"].items():
        assert response["description"], name
        media = response["content"]["application/json"]
        ref = media["schema"]["$ref"]
        assert ref.startswith("#/components/schemas/")
        assert errors(provider, ref.rsplit("/", 1)[1], media["example"]) == [], name
    headers = doc["components"]["responses"]["RateLimited"]["headers"]
    assert headers["Retry-After"] == {"$ref": "#/components/headers/RetryAfter"}
    assert doc["components"]["headers"]["RetryAfter"]["schema"]["type"] == "integer"


def test_shared_parts_are_identical() -> None:
    sea, odi = document("seacloud"), document("odirouter")
    assert sea["paths"] == odi["paths"]
    assert sea["tags"] == odi["tags"]
    for section in ("schemas", "responses", "parameters", "requestBodies", "headers"):
        assert sea["components"][section] == odi["components"][section], section
    assert set(sea["components"]) == set(odi["components"])


@pytest.mark.parametrize("provider", PROVIDERS)
def test_request_body_examples_validate(provider: str) -> None:
    bodies = document(provider)["components"]["requestBodies"]
    assert set(bodies) == set(INPUT_SCHEMA.values())
    for name, body in bodies.items():
        media = body["content"]["application/json"]
        assert media["schema"] == {"$ref": f"#/components/schemas/{name}"}
        assert media["examples"]
        for example in media["examples"].values():
            assert errors(provider, name, example["value"]) == [], name


@pytest.mark.parametrize(("provider", "schema"), input_schemas())
def test_seed_bodies_validate(provider: str, schema: str) -> None:
    body = SEED_GPT_IMAGE_2_EDIT if schema.endswith("EditInput") else SEED_GPT_IMAGE_1
    assert errors(provider, schema, body) == []
    # Unknown fields are accepted (and ignored by the emulator).
    assert errors(provider, schema, {**body, "seed": 7, "input_fidelity": "high"}) == []
    # A single image reference and base64 references are accepted on edits.
    if "images" in body:
        for images in ("https://example.com/a.png", ["iVBORw0KGgo="] * 16):
            assert errors(provider, schema, {**body, "images": images}) == []


INVALID_CHANGES = [
    pytest.param({"n": 11}, id="n-11"),
    pytest.param({"n": 0}, id="n-0"),
    pytest.param({"n": "1"}, id="n-string"),
    pytest.param({"quality": "ultra"}, id="quality-ultra"),
    pytest.param({"prompt": ""}, id="prompt-empty"),
    pytest.param({"prompt": "x" * 32001}, id="prompt-too-long"),
    pytest.param({"output_format": "gif"}, id="format-gif"),
    pytest.param({"output_compression": 101}, id="compression-101"),
    pytest.param({"moderation": "high"}, id="moderation-high"),
    pytest.param({"background": "green"}, id="background-green"),
    pytest.param({"size": "big"}, id="size-word"),
]


@pytest.mark.parametrize("change", INVALID_CHANGES)
@pytest.mark.parametrize(("provider", "schema"), input_schemas())
def test_invalid_bodies_are_rejected(provider: str, schema: str, change: dict[str, Any]) -> None:
    body = SEED_GPT_IMAGE_2_EDIT if schema.endswith("EditInput") else SEED_GPT_IMAGE_1
    assert errors(provider, schema, {**body, **change})


@pytest.mark.parametrize(("provider", "schema"), input_schemas())
def test_prompt_is_required(provider: str, schema: str) -> None:
    body = SEED_GPT_IMAGE_2_EDIT if schema.endswith("EditInput") else SEED_GPT_IMAGE_1
    assert errors(provider, schema, {k: v for k, v in body.items() if k != "prompt"})
    assert errors(provider, schema, [body])


@pytest.mark.parametrize(("provider", "schema"), input_schemas(EDIT_MODELS))
def test_edit_images(provider: str, schema: str) -> None:
    body = SEED_GPT_IMAGE_2_EDIT
    assert errors(provider, schema, {k: v for k, v in body.items() if k != "images"})
    for images in (["https://example.com/a.png"] * 17, [], "", [""], [1]):
        assert errors(provider, schema, {**body, "images": images}), images
    assert errors(provider, schema, {**body, "mask": ""})
    assert errors(provider, schema, {**body, "mask": "https://example.com/mask.png"}) == []


@pytest.mark.parametrize(
    ("provider", "schema"),
    input_schemas(("gpt_image_1", "gpt_image_1_edit", "gpt_image_1_5", "gpt_image_1_5_edit")),
)
def test_legacy_models_take_only_standard_sizes(provider: str, schema: str) -> None:
    body = SEED_GPT_IMAGE_2_EDIT if schema.endswith("EditInput") else SEED_GPT_IMAGE_1
    for size in ("auto", "1024x1024", "1024x1536", "1536x1024"):
        assert errors(provider, schema, {**body, "size": size}) == []
    for size in ("999x999", "2048x1152", "1024X1024"):
        assert errors(provider, schema, {**body, "size": size}), size


@pytest.mark.parametrize(("provider", "schema"), input_schemas(("gpt_image_2", "gpt_image_2_edit")))
def test_gpt_image_2_sizes_are_checked_by_form_only(provider: str, schema: str) -> None:
    body = SEED_GPT_IMAGE_2_EDIT if schema.endswith("EditInput") else SEED_GPT_IMAGE_1
    # The numeric limits belong to rule gpt_image_2_size, not to the schema.
    for size in ("auto", "2048x1152", "3840x2160", "999x999"):
        assert errors(provider, schema, {**body, "size": size}) == []
    for size in ("big", "1024x", "123456x10", "1024*1024"):
        assert errors(provider, schema, {**body, "size": size}), size
    # transparent is accepted (the output is opaque).
    assert errors(provider, schema, {**body, "background": "transparent"}) == []


@pytest.mark.parametrize("provider", PROVIDERS)
def test_status_bodies_are_mutually_exclusive(provider: str) -> None:
    base = {
        "request_id": "mmsu_01jd5x3k7m9q2w4e6r8t0y1u3i",
        "response_url": "https://example.com/model/v1/queue/gpt_image_1/requests/x/response",
        "logs": None,
    }
    valid = {
        "StatusInQueue": {**base, "status": "IN_QUEUE", "queue_position": 3},
        "StatusInProgress": {**base, "status": "IN_PROGRESS"},
        "StatusCompleted": {**base, "status": "COMPLETED", "metrics": {"inference_time": 1.5}},
        "StatusFailed": {
            **base,
            "status": "COMPLETED",
            "error": "n: 11 is greater than the maximum of 10",
            "error_type": "REQUEST_INVALID",
        },
    }
    for name, body in valid.items():
        for other in valid:
            assert (errors(provider, other, body) == []) == (other == name), (name, other)
        assert errors(provider, "StatusResponse", body) == []
    log = {
        "message": "started",
        "level": "INFO",
        "source": "worker",
        "timestamp": "2026-11-21T10:00:00Z",
    }
    assert errors(provider, "StatusResponse", {**valid["StatusInProgress"], "logs": [log]}) == []
    bad = [
        {k: v for k, v in valid["StatusInProgress"].items() if k != "logs"},
        {k: v for k, v in valid["StatusInQueue"].items() if k != "queue_position"},
        {**base, "status": "COMPLETED"},
        {**valid["StatusCompleted"], "metrics": {"inference_time": -1}},
        {**valid["StatusFailed"], "error_type": "OOPS"},
        {**base, "status": "FAILED", "error": "x", "error_type": "INFERENCE_FAILURE"},
        {**valid["StatusInProgress"], "logs": [{"message": "no level"}]},
    ]
    for body in bad:
        assert errors(provider, "StatusResponse", body), body


@pytest.mark.parametrize("provider", PROVIDERS)
def test_fal_headers_are_documented_where_the_emulator_sends_them(provider: str) -> None:
    doc = document(provider)
    responses = doc["components"]["responses"]
    named = {"$ref": "#/components/headers/FalRequestId"}
    for name in (
        "SubmitOk",
        "StatusOk",
        "StatusPending",
        "ResultOk",
        "ResultNotReady",
        "ResultCanceled",
        "ResultRejected",
        "ResultFailed",
        "ResultTimedOut",
        "CancelOk",
        "CancelAlreadyCompleted",
    ):
        assert responses[name]["headers"]["x-fal-request-id"] == named, name
    for header in doc["components"]["headers"].values():  # none is on the providers' pages
        assert "fal" in header["x-imgemu-assumption"] or "LLM" in header["x-imgemu-assumption"]
    timed_out = responses["ResultTimedOut"]["headers"]
    assert timed_out["X-Fal-Error-Type"] == {"$ref": "#/components/headers/FalErrorType"}
    assert timed_out["X-Fal-Request-Timeout-Type"] == {
        "$ref": "#/components/headers/FalRequestTimeoutType"
    }
    assert doc["components"]["headers"]["FalRequestTimeoutType"]["schema"]["const"] == "user"
    deadline = doc["components"]["parameters"]["RequestTimeout"]
    assert (deadline["name"], deadline["in"], deadline["required"]) == (
        "X-Fal-Request-Timeout",
        "header",
        False,
    )
    assert deadline["schema"] == {"type": "number", "exclusiveMinimum": 0.1}
    assert "request_timeout" in doc["components"]["schemas"]["ErrorType"]["enum"]
    example = responses["ResultTimedOut"]["content"]["application/json"]["example"]
    assert example == {"detail": "Request timed out", "error_type": "request_timeout"}
