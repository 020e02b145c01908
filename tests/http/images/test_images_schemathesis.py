"""Schemathesis over the Images documents (OpenAI, AGCloud, 典名词元) against the app in-process.

Every operation, every phase (examples, coverage, fuzzing), positive and negative data, against
apps whose generations finish at once and whose only key is the test key (so the ignored-auth
check has something to find). Beyond Schemathesis' own checks:

- Multipart bodies need real images: ``image/png`` parts (the documents' encoding for ``image``,
  ``image[]`` and ``mask``, and for 典名词元's upload ``file``) are drawn from a few small PNGs,
  with and without alpha, so that the mask rule is exercised too.
- A schema-valid body can still break a semantic rule (``x-imgemu-rules``: a size the model does
  not take, compression with png, a mask without alpha...), which JSON Schema cannot say. So
  ``positive_data_acceptance`` is replaced by ``valid_data_is_accepted_but_for_rules``: positive
  data is answered 2xx, or 400 naming a field one of the operation's rules checks (in ``param``
  for the OpenAI dialect, at the head of ``message`` in 典名词元's envelope). Stricter than the
  built-in check, which lets 401, 404 and 409 pass.
- OpenAPI 3.1 has no ``itemSchema``; the documents declare a stream as ``{type: string}`` and list
  its events in ``x-imgemu-events``, while Schemathesis reads a 3.1 ``schema`` as each event's.
  So for ``text/event-stream`` answers ``response_schema_conformance`` is replaced by
  ``events_follow_the_document``: every event's data is one of the listed events, its
  ``event:`` line is its ``type``, and the stream ends with a completed image or an error.
- In a form every text part is a string on the wire, so a string field "changed" to a number or
  an object is still valid, a field "changed" to an empty array or object sends no part at all,
  and a form without ``image[]`` is valid when it has ``image`` (the other branch of their
  ``oneOf``). Schemathesis cannot tell; a negative form case whose every
  mutation is one of those is not held to ``negative_data_rejection``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

import jsonschema_rs
import pytest
import schemathesis
import yaml
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from schemathesis.checks import (
    negative_data_rejection,
    positive_data_acceptance,
    response_schema_conformance,
)
from schemathesis.core.mutations import OperatorKind
from schemathesis.core.parameters import ParameterLocation
from schemathesis.generation.case import Case
from schemathesis.generation.meta import CoveragePhaseData
from schemathesis.transport.asgi import ASGI_TRANSPORT, ASGITransport
from schemathesis.transport.serialization import Binary

from emulator.spec.loader import document_text
from tests.helpers import events, examples, fast_app, png_bytes

KEY = "sk-test"
PROVIDERS = ("openai", "agcloud", "aa")


# Small inputs keep renders cheap; RGB masks (no alpha) and a second size hit the mask rule.
CLEAR = (40, 90, 160, 0)  # the alpha channel fully transparent: the whole mask is editable
schemathesis.openapi.media_type(
    "image/png",
    st.sampled_from(
        [
            png_bytes((64, 64), "RGBA", CLEAR),
            png_bytes((64, 64), "RGB"),
            png_bytes((96, 64), "RGBA", CLEAR),
        ]
    ),
)

APPS = {p: fast_app(api_keys={p: (KEY,)}) for p in PROVIDERS}
DOCUMENTS = {p: yaml.safe_load(document_text(p)) for p in PROVIDERS}
openai = schemathesis.openapi.from_asgi("/openapi/openai.json", APPS["openai"])
agcloud = schemathesis.openapi.from_asgi("/openapi/agcloud.json", APPS["agcloud"])
aa = schemathesis.openapi.from_asgi("/openapi/aa.json", APPS["aa"])


class BearerKey:
    """The one valid key, as Schemathesis' own auth: left off where a case drops the header."""

    def get(self, case: Case, context: Any) -> str:
        return KEY

    def set(self, case: Case, data: str, context: Any) -> None:
        case.headers = {**(case.headers or {}), "Authorization": f"Bearer {data}"}


for _schema in (openai, agcloud, aa):
    _schema.auth()(BearerKey)

# Few examples a phase: each positive case renders real images (up to n=10, plus partials).
# Whole Schemathesis runs: slow (CI runs them); the everyday loop keeps the contract plugin's
# one item per check and operation (tests/contracts/test_contract_plugin.py).
pytestmark = pytest.mark.slow
SETTINGS = settings(
    max_examples=examples(2 / 3), deadline=None, suppress_health_check=list(HealthCheck)
)

# The fields each rule checks, as an error's ``param`` names them (before any ``[index]``).
RULE_FIELDS = {
    "model_size": {"size"},
    "transparent_background": {"background"},
    "compression_needs_lossy_format": {"output_compression"},
    "input_fidelity_support": {"input_fidelity"},
    "quality_not_on_plus_models": {"quality"},
    "image_inputs": {"image"},
    "image_references": {"images", "mask"},
    "mask_matches_first_image": {"mask"},
}
# Schemathesis' coverage case of this name sends every encoded part (`image` and `image[]`
# together, which the schema's oneOf forbids) and "" for each required text part (`prompt`
# has minLength 1, `model` an enum), yet calls it positive: nothing to judge there.
BLANKED_FORM = "Multipart body with custom encoding"
RULE_CODES = {"invalid_value", "invalid_image_format", "array_above_max_length"}


def _resolve(doc: Mapping[str, Any], node: Any) -> Any:
    while isinstance(node, dict) and "$ref" in node:
        target: Any = doc
        for part in node["$ref"][2:].split("/"):
            target = target[part]
        node = target
    return node


def _operation(doc: Mapping[str, Any], case: Case) -> Mapping[str, Any]:
    op: Mapping[str, Any] = doc["paths"][case.operation.path][case.method.lower()]
    return op


# The documents share no path.
_BY_PATH = {path: doc for doc in DOCUMENTS.values() for path in doc["paths"]}


def _document(case: Case) -> Mapping[str, Any]:
    return _BY_PATH[case.operation.path]


_EVENT_VALIDATORS: dict[tuple[int, str], Any] = {}


def _event_validator(doc: Mapping[str, Any], case: Case) -> Any:
    key = (id(doc), case.operation.path)
    if key not in _EVENT_VALIDATORS:
        ok = _resolve(doc, _operation(doc, case)["responses"]["200"])
        listed = ok["content"]["text/event-stream"]["x-imgemu-events"]
        schema = {"oneOf": listed, "components": doc["components"]}
        _EVENT_VALIDATORS[key] = jsonschema_rs.validator_for(schema)
    return _EVENT_VALIDATORS[key]


def _content_type(response: Any) -> str:
    values = response.headers.get("content-type") or [""]
    return str(values[0]).split(";")[0].strip()


def valid_data_is_accepted_but_for_rules(ctx: Any, response: Any, case: Case) -> None:
    """Schema-valid data is answered 2xx, or 400 naming a field one of the operation's rules
    checks (or 404 from the task query: a drawn task id names no task)."""
    meta = case.meta
    if meta is None or not meta.generation.mode.is_positive:
        return
    phase = meta.phase.data
    if isinstance(phase, CoveragePhaseData) and phase.description == BLANKED_FORM:
        return
    status = response.status_code
    if status == 404 and "{" in case.operation.path:
        return
    if status != 400:
        assert 200 <= status < 300, f"schema-valid data answered {status}: {response.content!r}"
        return
    code, field = _refusal(json.loads(response.content))
    rules = _operation(_document(case), case).get("x-imgemu-rules", ())
    fields = set().union(*(RULE_FIELDS[rule] for rule in rules))
    refused = f"schema-valid data refused, and not by a rule of {case.operation.label}: {field}"
    assert code is None or code in RULE_CODES, refused
    assert field.split("[")[0].split(".")[0] in fields, refused


def _refusal(body: Mapping[str, Any]) -> tuple[str | None, str]:
    """(code, field) of an error: OpenAI's ``error`` object, or 典名词元's ``field: text``."""
    if "error" in body:
        return body["error"]["code"], str(body["error"]["param"] or "")
    message = str(body["message"])
    return None, message.split(": ", 1)[0] if ": " in message else ""


def events_follow_the_document(ctx: Any, response: Any, case: Case) -> None:
    """Every event of a stream is one the document lists; the stream ends as documented."""
    if response.status_code != 200 or _content_type(response) != "text/event-stream":
        return
    assert response.headers.get("x-request-id"), "a stream without x-request-id"
    validator = _event_validator(_document(case), case)
    found = events(response.content.decode())
    assert found, "an empty stream"
    for name, data in found:
        problems = [error.message for error in validator.iter_errors(data)]
        assert not problems, f"event {name} off the document: {problems[:3]}"
        assert data["type"] == name, (name, data["type"])
    last = found[-1][0]
    assert last == "error" or last.endswith(".completed"), f"the stream ended with {last}"


class _NamedFileParts(ASGITransport):
    """Schemathesis' in-process transport, with a filename on every image part.

    Schemathesis names only the parts whose schema is plainly binary: not ``image`` (one file
    or several, a ``oneOf``) nor ``image[]`` drawn as a single value. A part without a filename
    is text to the emulator, as to most form parsers, and the SDKs always send one.
    """

    def serialize_case(self, case: Case, **kwargs: Any) -> dict[str, Any]:
        data = super().serialize_case(case, **kwargs)
        if data.get("files"):
            data["files"] = [(name, _named(name, part)) for name, part in data["files"]]
        return data


def _named(name: str, part: Any) -> Any:
    binary = isinstance(part, tuple) and part[0] is None and isinstance(part[1], bytes | Binary)
    if name in FILE_PARTS and binary:
        return (f"{name.removesuffix('[]')}.png", *part[1:])
    return part


FILE_PARTS = {"image", "image[]", "mask"}
NAMED_FILE_PARTS = _NamedFileParts()
NAMED_FILE_PARTS._copy_serializers_from(ASGI_TRANSPORT)


def _call(case: Case) -> Any:
    if case.media_type != "multipart/form-data":
        return case.call()
    case.freeze_metadata()
    return NAMED_FILE_PARTS.send(case)


def _negation_lost_in_the_form(case: Case) -> bool:
    """Whether every mutation of a negative form case leaves a form the document accepts."""
    meta = case.meta
    if case.media_type != "multipart/form-data" or meta is None:
        return False
    if not meta.generation.mode.is_negative or any(
        info.mode.is_negative
        for location, info in meta.components.items()
        if location is not ParameterLocation.BODY
    ):
        return False
    mutations = getattr(meta.phase.data, "mutations", ())
    if not mutations:
        return False
    doc = _document(case)
    body = _resolve(doc, _operation(doc, case)["requestBody"])
    form = _resolve(doc, body["content"]["multipart/form-data"]["schema"])
    sent = case.body if isinstance(case.body, dict) else {}
    for mutation in mutations:
        if mutation.operator is OperatorKind.CHANGE_TYPE and len(mutation.path) == 1:
            declared = _resolve(doc, form["properties"].get(mutation.path[0], {}))
            if declared.get("type") == "string":
                continue
            if sent.get(mutation.path[0]) in (None, [], {}):  # no part on the wire at all
                continue
        if "required" in mutation.keywords and "/oneOf/" in mutation.schema_pointer:
            continue
        return False
    return True


def _run(case: Case) -> None:
    response = _call(case)
    excluded: list[Callable[..., Any]] = [positive_data_acceptance]
    if _negation_lost_in_the_form(case):
        excluded.append(negative_data_rejection)
    if _content_type(response) == "text/event-stream":
        excluded.append(response_schema_conformance)
    case.validate_response(
        response,
        excluded_checks=excluded,
        additional_checks=[valid_data_is_accepted_but_for_rules, events_follow_the_document],
    )


@openai.parametrize()
@SETTINGS
def test_openai(case: Case) -> None:
    _run(case)


@agcloud.parametrize()
@SETTINGS
def test_agcloud(case: Case) -> None:
    _run(case)


@aa.parametrize()
@SETTINGS
def test_aa(case: Case) -> None:
    _run(case)
