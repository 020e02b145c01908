"""Schemathesis over a whole provider document, as its CLI runs it (tests/fuzz).

``run(provider, app, key=..., examples=...)`` loads the document the app serves and runs
Schemathesis' engine over it in-process: every phase (examples, coverage, fuzzing, then
stateful over the links Schemathesis infers from the answers, the documents declaring none),
positive and negative data, a fixed seed, one worker. It answers a ``Run``: the requests each
phase sent and every failed check, each with the request that makes it (``curl``), the answer
and the message.

Checks: Schemathesis' own, with three of them replaced where the emulator is right and the
built-in check cannot know it (each replacement calls the built-in check where it applies):

- ``positive_data_acceptance`` -> ``valid_data_is_accepted_but_for_rules_and_state``: schema-valid
  data is answered 2xx, or refused naming a field one of the operation's ``x-imgemu-rules``
  checks (JSON Schema cannot say those: a size the model does not take, a mask without alpha),
  or answered as the state of what it names requires (an id that names no job or task: 404; a
  job canceled, refused or done: the queue's documented 400 and 422). Stricter than the built-in
  check, which lets 401, 404 and 409 pass anywhere.
- ``negative_data_rejection`` -> ``invalid_data_is_rejected_but_for_forms_and_async``: the queue's
  documented asynchronous validation (``validation=async``, the default) accepts any JSON object
  at submit and fails the job later, so a queue submit is held to it only under
  ``validation=sync``; and in a multipart form every text part is a string on the wire, so a
  mutation that leaves a form the document accepts (a string "changed" to a number, an empty
  array that sends no part, ``image`` without ``image[]``, the other branch of their ``oneOf``)
  is not a negative case at all; nor is a case whose one violation is a header the operation
  does not declare (any HTTP request may carry one).
- ``response_schema_conformance`` -> ``response_conforms_but_streams_by_event``: OpenAPI 3.1 has
  no ``itemSchema``; the documents declare a stream as ``{type: string}`` and list its events in
  ``x-imgemu-events``, while Schemathesis reads a 3.1 ``schema`` as each event's. So a
  ``text/event-stream`` answer is checked event by event instead: every event is one the
  document lists, its ``event:`` line is its ``type``, the stream ends with a completed image
  or an error.

The replacements are registered with Schemathesis (its registry is process-wide) but judge only
the runs of this module and pass everywhere else: any other Schemathesis use in the same
process (the contract suite) keeps exactly the checks it chose.

Multipart bodies need real images: ``image/png``, ``image/jpeg`` and ``image/webp`` parts are
drawn from a few small images, with and without alpha, so that the mask rule is exercised too;
and every image part carries a filename, as the SDKs send it (Schemathesis names only the parts
whose schema is plainly binary, not ``image``, a ``oneOf`` of one file or several, and a part
without a filename is text to the emulator as to most form parsers).
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import jsonschema_rs
import schemathesis
from hypothesis import strategies as st
from schemathesis.checks import negative_data_rejection, response_schema_conformance
from schemathesis.config import SchemathesisConfig
from schemathesis.core.mutations import OperatorKind
from schemathesis.core.parameters import ParameterLocation
from schemathesis.engine import events, from_schema
from schemathesis.generation.case import Case
from schemathesis.generation.meta import CoveragePhaseData
from schemathesis.transport import SerializationContext
from schemathesis.transport.asgi import ASGI_TRANSPORT
from schemathesis.transport.requests import multipart_serializer
from schemathesis.transport.serialization import Binary

from tests.helpers import events as sse_events
from tests.helpers import image_bytes, png_bytes
from tests.support.bad_requests import SEED

QUEUE = ("seacloud", "odirouter")
PROVIDERS = (*QUEUE, "openai", "agcloud", "aa")

# Small inputs keep renders cheap; RGB masks (no alpha) and a second size hit the mask rule.
CLEAR = (40, 90, 160, 0)  # the alpha channel fully transparent: the whole mask is editable
IMAGES = {
    "image/png": [
        png_bytes((64, 64), "RGBA", CLEAR),
        png_bytes((64, 64), "RGB"),
        png_bytes((96, 64), "RGBA", CLEAR),
    ],
    "image/jpeg": [image_bytes((64, 64), "RGB", fmt="JPEG")],
    "image/webp": [image_bytes((64, 64), "RGBA", CLEAR, fmt="WEBP")],
}
for _media_type, _samples in IMAGES.items():
    schemathesis.openapi.media_type(_media_type, st.sampled_from(_samples))

# The runs in progress, by their document's identity (each ``Setup`` holds its document, so
# the id is not reused meanwhile): the only ones this module's checks judge.
_RUNS: dict[int, Setup] = {}


@dataclass(frozen=True)
class Setup:
    """What a run's checks need to know of it."""

    provider: str
    document: Mapping[str, Any]
    sync_validation: bool  # the queue refuses schema violations at submit (``validation=sync``)


@dataclass
class Failure:
    """One failed check: where, what Schemathesis says, and the request that makes it."""

    phase: str
    check: str
    operation: str
    message: str
    curl: str
    status: int | None
    body: str

    def __str__(self) -> str:
        return (
            f"[{self.phase}] {self.check} on {self.operation}: {self.message}\n"
            f"  {self.curl}\n  -> {self.status} {self.body}"
        )


@dataclass
class Run:
    """What a run sent and found."""

    provider: str
    requests: Counter[str] = field(default_factory=Counter)  # by phase
    failures: list[Failure] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)  # Schemathesis could not run something
    seconds: float = 0.0

    @property
    def total(self) -> int:
        return sum(self.requests.values())

    def report(self) -> str:
        """The failures and errors, one paragraph each (the same failure once)."""
        seen: dict[tuple[str, str, str, str], int] = {}
        lines: list[str] = []
        for failure in self.failures:
            key = (failure.phase, failure.check, failure.operation, failure.message)
            if key not in seen:
                lines.append(str(failure))
            seen[key] = seen.get(key, 0) + 1
        lines.extend(f"error: {error}" for error in self.errors)
        head = f"{self.provider}: {dict(self.requests)} in {self.seconds:.1f}s"
        return "\n".join([head, *lines])


PHASES = ("examples", "coverage", "fuzzing", "stateful")


def run(
    provider: str,
    app: Any,
    *,
    key: str,
    examples: int,
    sync_validation: bool = False,
    phases: Sequence[str] = PHASES,
) -> Run:
    """Schemathesis' ``phases`` (by default every one) over ``provider``'s document as ``app``
    serves it, with ``examples`` as each operation's Hypothesis budget per phase; ``key`` is the
    one valid key, ``sync_validation`` whether the app runs the queue with ``validation=sync``."""
    enabled = {name: {"enabled": name in phases} for name in PHASES}
    enabled["stateful"]["inference"] = {"algorithms": ["location-headers", "dependency-analysis"]}
    config = SchemathesisConfig.from_dict(
        {
            "seed": SEED,
            "workers": 1,
            "suppress-health-check": ["all"],
            "generation": {"max-examples": examples, "database": "none"},
            "auth": {"openapi": {"bearerAuth": {"bearer": key}}},
            "checks": {
                "positive_data_acceptance": {"enabled": False},
                "negative_data_rejection": {"enabled": False},
                "response_schema_conformance": {"enabled": False},
            },
            "phases": enabled,
        }
    )
    schema = schemathesis.openapi.from_asgi(f"/openapi/{provider}.json", app, config=config)
    _RUNS[id(schema.raw_schema)] = Setup(provider, schema.raw_schema, sync_validation)
    found = Run(provider)
    started = time.monotonic()
    try:
        for event in from_schema(schema).execute():
            if isinstance(event, events.ScenarioFinished):
                _collect(found, event)
            elif isinstance(event, events.NonFatalError | events.FatalError):
                found.errors.append(_error_text(event))
    finally:
        del _RUNS[id(schema.raw_schema)]
    found.seconds = time.monotonic() - started
    return found


def _collect(found: Run, event: events.ScenarioFinished) -> None:
    phase = event.phase.value
    recorder = event.recorder
    found.requests[phase] += len(recorder.interactions)
    for case_id, checks in recorder.checks.items():
        for check in checks:
            info = check.failure_info
            if info is None:
                continue
            node = recorder.cases.get(case_id)
            interaction = recorder.interactions.get(case_id)
            response = interaction.response if interaction is not None else None
            body = ""
            if response is not None and response.content is not None:
                body = response.content[:400].decode("utf-8", "replace")
            found.failures.append(
                Failure(
                    phase=phase,
                    check=check.name,
                    operation=node.value.operation.label if node is not None else recorder.label,
                    message=str(info.failure.title) + ": " + str(info.failure.message)[:600],
                    curl=info.code_sample[:1500],
                    status=response.status_code if response is not None else None,
                    body=body,
                )
            )


def _error_text(event: events.NonFatalError | events.FatalError) -> str:
    if isinstance(event, events.FatalError):
        return f"fatal: {event.exception!r}"
    return f"{event.label}: {event.info.title}: {event.info.message}"


# ---- the checks replacing built-in ones (see the module's docstring) ----


def _setup(case: Case) -> Setup | None:
    return _RUNS.get(id(case.operation.schema.raw_schema))


def _resolve(doc: Mapping[str, Any], node: Any) -> Any:
    while isinstance(node, dict) and "$ref" in node:
        target: Any = doc
        for part in node["$ref"][2:].split("/"):
            target = target[part.replace("~1", "/").replace("~0", "~")]
        node = target
    return node


def _operation(doc: Mapping[str, Any], case: Case) -> Mapping[str, Any]:
    op: Mapping[str, Any] = doc["paths"][case.operation.path][case.operation.method.lower()]
    return op


def _content_type(response: Any) -> str:
    values = response.headers.get("content-type") or [""]
    return str(values[0]).split(";")[0].strip()


def _kind(setup: Setup, case: Case) -> str:
    return str(_operation(setup.document, case).get("x-imgemu-operation", {}).get("kind", ""))


# The fields each rule checks, as an error names them (before any ``[index]`` or ``.``).
RULE_FIELDS = {
    "model_size": {"size"},
    "gpt_image_2_size": {"size"},
    "transparent_background": {"background"},
    "transparent_needs_alpha_format": {"background"},
    "compression_needs_lossy_format": {"output_compression"},
    "background_for_model": {"background"},
    "png_compression": {"output_compression"},
    "input_fidelity_support": {"input_fidelity"},
    "quality_not_on_plus_models": {"quality"},
    "image_inputs": {"image"},
    "no_webhooks": set(),
    "image_references": {"images", "mask"},
    "mask_matches_first_image": {"mask"},
    "markup_part": {"markup"},
}
# The OpenAI dialect's codes for a broken rule.
RULE_CODES = {
    "invalid_value",
    "invalid_image_format",
    "array_above_max_length",
    "invalid_input_fidelity_model",
    "invalid_png_output_compression",
}
# Schemathesis' coverage case of this name sends every encoded part (``image`` and ``image[]``
# together, which the schema's oneOf forbids) and "" for each required text part (``prompt``
# has minLength 1, ``model`` an enum), yet calls it positive: nothing to judge there.
BLANKED_FORM = "Multipart body with custom encoding"
# The queue's answers to a schema-valid request about a job in a state that refuses it.
QUEUE_STATE_ANSWERS = {
    ("cancel", 400): {"status": "ALREADY_COMPLETED"},
    ("result", 400): {"error_type": "CANCELED"},
    ("result", 422): {"error_type": "REQUEST_INVALID"},
    ("result", 504): {"error_type": "request_timeout"},  # a drawn X-Fal-Request-Timeout passed
    # The operations the providers document as not offered: every call is refused so.
    ("status.stream", 400): {"detail": "SSE streaming not supported"},
    ("sync", 404): {"detail": "Not Found"},
}


def valid_data_is_accepted_but_for_rules_and_state(ctx: Any, response: Any, case: Case) -> None:
    """Schema-valid data is answered 2xx, or refused by a rule of the operation, or answered
    as the state of the job or task it names requires (see the module's docstring)."""
    setup = _setup(case)
    if setup is None:
        return
    meta = case.meta
    if meta is None or not meta.generation.mode.is_positive:
        return
    phase = meta.phase.data
    if isinstance(phase, CoveragePhaseData) and phase.description == BLANKED_FORM:
        return
    status = response.status_code
    if 200 <= status < 300:
        return
    kind = _kind(setup, case)
    body = _json(response)
    if status == 404 and "{" in case.operation.path:
        return  # a drawn id names no job, task or file
    if setup.provider in QUEUE:
        if (kind, status) in QUEUE_STATE_ANSWERS:
            expected = QUEUE_STATE_ANSWERS[(kind, status)]
            refused = f"schema-valid {kind} answered {status}: {response.content!r}"
            assert isinstance(body, dict), refused
            assert expected.items() <= body.items(), refused
            return
        if kind == "submit" and status == 400 and body == {"detail": "webhook not supported"}:
            return  # no_webhooks: a drawn property named like a webhook
        if kind == "submit" and status == 422 and setup.sync_validation:
            fields = {str(item["loc"][1]) for item in body["detail"] if len(item["loc"]) > 1}
            _assert_rule_fields(setup, case, fields, response)
            return
        raise AssertionError(f"schema-valid {kind} answered {status}: {response.content!r}")
    assert status == 400, f"schema-valid data answered {status}: {response.content!r}"
    code, name = _refusal(body)
    refused = f"schema-valid data refused, and not by a rule of {case.operation.label}: {name}"
    assert code is None or code in RULE_CODES, refused
    _assert_rule_fields(setup, case, {name}, response)


def _assert_rule_fields(setup: Setup, case: Case, names: set[str], response: Any) -> None:
    rules = _operation(setup.document, case).get("x-imgemu-rules", ())
    allowed = set().union(*(RULE_FIELDS[rule] for rule in rules))
    named = {name.split("[")[0].split(".")[0] for name in names}
    refused = (
        f"schema-valid data refused, and not by a rule of {case.operation.label}: "
        f"{sorted(named)} ({response.content[:300]!r})"
    )
    assert named, refused
    assert named <= allowed, refused


def _json(response: Any) -> Any:
    try:
        return json.loads(response.content)
    except ValueError:
        return None


def _refusal(body: Mapping[str, Any]) -> tuple[str | None, str]:
    """(code, field) of an error: OpenAI's ``error`` object, or 典名词元's ``field: text``."""
    if "error" in body:
        return body["error"]["code"], str(body["error"]["param"] or "")
    message = str(body["message"])
    return None, message.split(": ", 1)[0] if ": " in message else ""


def invalid_data_is_rejected_but_for_forms_and_async(ctx: Any, response: Any, case: Case) -> None:
    """Schema-violating data is refused, but where the violation never reaches the wire or the
    provider documents accepting it (see the module's docstring)."""
    setup = _setup(case)
    if setup is None:
        return
    if setup.provider in QUEUE and not setup.sync_validation and _kind(setup, case) == "submit":
        return
    if _negation_lost_in_the_form(setup, case) or _only_an_unknown_header(case):
        return
    negative_data_rejection(ctx, response, case)


def _only_an_unknown_header(case: Case) -> bool:
    """A coverage case whose one violation is a header the operation does not declare (once it
    declares one, as the queue submit's ``X-Fal-Request-Timeout``): HTTP takes any header."""
    meta = case.meta
    if meta is None:
        return False
    phase = meta.phase.data
    negative = [where for where, info in meta.components.items() if info.mode.is_negative]
    return (
        isinstance(phase, CoveragePhaseData)
        and negative == [ParameterLocation.HEADER]
        and "unexpected properties" in phase.description
    )


def _negation_lost_in_the_form(setup: Setup, case: Case) -> bool:
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
    doc = setup.document
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


_EVENT_VALIDATORS: dict[tuple[int, str], Any] = {}


def _event_validator(doc: Mapping[str, Any], case: Case) -> Any:
    key = (id(doc), case.operation.path)
    if key not in _EVENT_VALIDATORS:
        ok = _resolve(doc, _operation(doc, case)["responses"]["200"])
        listed = ok["content"]["text/event-stream"]["x-imgemu-events"]
        schema = {"oneOf": listed, "components": doc["components"]}
        _EVENT_VALIDATORS[key] = jsonschema_rs.validator_for(schema)
    return _EVENT_VALIDATORS[key]


def response_conforms_but_streams_by_event(ctx: Any, response: Any, case: Case) -> None:
    """The answer follows its schema; a stream's events each follow the document's list."""
    setup = _setup(case)
    if setup is None:
        return
    if _content_type(response) != "text/event-stream" or response.status_code != 200:
        response_schema_conformance(ctx, response, case)
        return
    assert response.headers.get("x-request-id"), "a stream without x-request-id"
    validator = _event_validator(setup.document, case)
    found = sse_events(response.content.decode())
    assert found, "an empty stream"
    for name, data in found:
        problems = [error.message for error in validator.iter_errors(data)]
        assert not problems, f"event {name} off the document: {problems[:3]}"
        assert data["type"] == name, (name, data["type"])
    last = found[-1][0]
    assert last == "error" or last.endswith(".completed"), f"the stream ended with {last}"


for _check in (
    valid_data_is_accepted_but_for_rules_and_state,
    invalid_data_is_rejected_but_for_forms_and_async,
    response_conforms_but_streams_by_event,
):
    schemathesis.check(_check)


# ---- image parts named as files ----

FILE_PARTS = {"image", "image[]", "mask", "file"}


@ASGI_TRANSPORT.serializer("multipart/form-data")
def _named_file_parts(ctx: SerializationContext, value: Any) -> dict[str, Any]:
    """Schemathesis' multipart serializer, with a filename on every image part of this
    module's runs (see the module's docstring)."""
    data = multipart_serializer(ctx, value)
    if _setup(ctx.case) is not None and data.get("files"):
        data["files"] = [(name, _named(name, part)) for name, part in data["files"]]
    return data


def _named(name: str, part: Any) -> Any:
    binary = isinstance(part, tuple) and part[0] is None and isinstance(part[1], bytes | Binary)
    if name in FILE_PARTS and binary:
        return (f"{name.removesuffix('[]')}.png", *part[1:])
    return part
