"""Proof that the suite catches drift: deliberately broken emulators, each caught by a named check.

Every variant is built from the outside: ASGI middleware that rewrites the emulator's answers
(JSON, SSE and image bytes), or an emulator function monkeypatched for one test. Each test runs
only the checks its variant needs; ``test_the_real_emulator_passes_the_same_checks`` runs the same
checks against the unbroken emulator.
"""

from __future__ import annotations

import base64
import io
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from contracts import REGISTRY, run_contract
from contracts.report import Report
from tests.helpers import RunningServer, decode, fast_app
from tests.support.contracts import (
    KEY,
    Answer,
    Reshape,
    Scope,
    accepts_every_key,
    contract_app,
    header,
    json_answers,
    result_before_completion,
    set_header,
    status_goes_back,
    target_of,
    wrong_image_size,
)

EXAMPLES = 3  # Schemathesis cases per operation and mode: the variants break every answer
Headers = list[tuple[bytes, bytes]]


def _path(scope: Scope) -> str:
    return str(scope["path"])


def _request_id(scope: Scope) -> str:
    return _path(scope).split("/requests/")[1].split("/")[0]


# --- queue variants ------------------------------------------------------------------------


def queue_position_rises(app: Any) -> Reshape:
    """Each job is shown ``IN_QUEUE`` at position 1, then 3 (its result answers 202 meanwhile)."""
    positions = (1, 3)
    polls: dict[str, int] = {}

    def rewrite(scope: Scope, status: int, headers: Headers, body: bytes) -> Answer:
        rid = _request_id(scope)
        if status != 200:
            return status, headers, body
        if _path(scope).endswith("/status"):
            polls[rid] = polls.get(rid, 0) + 1
            count = polls[rid]
        else:
            count = polls.get(rid, 0)
        if not 1 <= count <= len(positions):
            return status, headers, body
        data = json.loads(body)
        faked = {
            "status": "IN_QUEUE",
            "request_id": rid,
            "response_url": data.get("response_url", ""),
            "logs": None,
            "queue_position": positions[count - 1],
        }
        code = 200 if _path(scope).endswith("/status") else 202
        return code, headers, json.dumps(faked).encode()

    def match(scope: Scope) -> bool:
        return _path(scope).endswith(("/status", "/response")) and "/requests/" in _path(scope)

    return Reshape(app, match, rewrite)


def cancel_completed_accepted(app: Any) -> Reshape:
    """A cancel of a completed job answers 202 ``CANCELLATION_REQUESTED``, not 400."""

    def change(status: int, data: Any) -> tuple[int, Any] | None:
        if data == {"status": "ALREADY_COMPLETED"}:
            return 202, {"status": "CANCELLATION_REQUESTED"}
        return None

    return json_answers(app, lambda s: _path(s).endswith("/cancel"), change)


def cancel_unknown_accepted(app: Any) -> Reshape:
    """A cancel of an unknown request id answers 202 instead of 404."""

    def change(status: int, data: Any) -> tuple[int, Any] | None:
        if status == 404:
            return 202, {"status": "CANCELLATION_REQUESTED"}
        return None

    return json_answers(app, lambda s: _path(s).endswith("/cancel"), change)


def status_without_logs(app: Any) -> Reshape:
    """Status bodies without their ``logs`` key (fal-client needs it)."""

    def change(status: int, data: Any) -> tuple[int, Any] | None:
        if status != 200 or "logs" not in data:
            return None
        return status, {k: v for k, v in data.items() if k != "logs"}

    return json_answers(app, lambda s: _path(s).endswith("/status"), change)


def _reencode(data: bytes, fmt: str, mode: str | None = None) -> bytes:
    image = decode(data)
    if mode is not None or fmt == "JPEG":
        image = image.convert(mode or "RGB")
    out = io.BytesIO()
    image.save(out, fmt)
    return out.getvalue()


def download_mislabelled(app: Any) -> Reshape:
    """Queue downloads of PNG images labelled ``image/webp``."""

    def rewrite(scope: Scope, status: int, headers: Headers, body: bytes) -> Answer:
        if header(headers, b"content-type") == "image/png":
            set_header(headers, b"content-type", "image/webp")
        return status, headers, body

    return Reshape(app, lambda s: _path(s).startswith("/_files/"), rewrite)


def output_size_lies(app: Any) -> Reshape:
    """A queue result whose ``outputs`` records give a width the image does not have."""

    def change(status: int, data: Any) -> tuple[int, Any] | None:
        if status != 200 or not data.get("outputs"):
            return None
        for output in data["outputs"]:
            output["width"] = output["width"] * 2
        return status, data

    return json_answers(app, lambda s: _path(s).endswith("/response"), change)


# --- images (OpenAI) variants ----------------------------------------------------------------


def _images(change: Callable[[dict[str, Any]], None]) -> Callable[[Any], Reshape]:
    """A variant that edits the JSON body of OpenAI generations (streams are left alone)."""

    def variant(app: Any) -> Reshape:
        def edit(status: int, data: Any) -> tuple[int, Any] | None:
            if status != 200 or "data" not in data:
                return None
            change(data)
            return status, data

        return json_answers(app, lambda s: s["path"] == "/v1/images/generations", edit)

    return variant


def _jpeg_labelled_png(data: dict[str, Any]) -> None:
    for item in data["data"]:
        item["b64_json"] = base64.b64encode(
            _reencode(base64.b64decode(item["b64_json"]), "JPEG")
        ).decode()


def _no_alpha(data: dict[str, Any]) -> None:
    for item in data["data"]:
        raw = base64.b64decode(item["b64_json"])
        if raw.startswith(b"\x89PNG"):
            item["b64_json"] = base64.b64encode(_reencode(raw, "PNG", "RGB")).decode()


def _one_more_image(data: dict[str, Any]) -> None:
    data["data"].append(dict(data["data"][0]))


def _sse(
    change: Callable[[str, dict[str, Any]], dict[str, Any] | None],
) -> Callable[[Any], Reshape]:
    """A variant that edits (or, returning None, drops) each event of OpenAI streams."""

    def variant(app: Any) -> Reshape:
        def rewrite(scope: Scope, status: int, headers: Headers, body: bytes) -> Answer:
            if not header(headers, b"content-type").startswith("text/event-stream"):
                return status, headers, body
            blocks = []
            for block in body.decode().split("\n\n"):
                lines = block.split("\n")
                event = next((x[7:] for x in lines if x.startswith("event: ")), "")
                data = next((x[6:] for x in lines if x.startswith("data: ")), None)
                if data is None:
                    blocks.append(block)
                    continue
                changed = change(event, json.loads(data))
                if changed is not None:
                    blocks.append(f"event: {event}\ndata: {json.dumps(changed)}")
            return status, headers, "\n\n".join(blocks).encode()

        return Reshape(app, lambda s: s["path"] == "/v1/images/generations", rewrite)

    return variant


def _drop_completed(event: str, data: dict[str, Any]) -> dict[str, Any] | None:
    return None if event.endswith(".completed") else data


def _usage_on_partial(event: str, data: dict[str, Any]) -> dict[str, Any] | None:
    if event.endswith(".partial_image"):
        return {**data, "usage": {"input_tokens": 1, "output_tokens": 1, "total_tokens": 2}}
    return data


def _completed_without_usage(event: str, data: dict[str, Any]) -> dict[str, Any] | None:
    return {k: v for k, v in data.items() if k != "usage"}


def _partials_from_one(event: str, data: dict[str, Any]) -> dict[str, Any] | None:
    if event.endswith(".partial_image"):
        return {**data, "partial_image_index": data["partial_image_index"] + 1}
    return data


def stream_as_json(app: Any) -> Reshape:
    """``stream=true`` answered with one JSON body (the SDK then silently yields no events)."""

    def rewrite(scope: Scope, status: int, headers: Headers, body: bytes) -> Answer:
        if not header(headers, b"content-type").startswith("text/event-stream"):
            return status, headers, body
        last = [x for x in body.decode().split("\n") if x.startswith("data: ")][-1]
        set_header(headers, b"content-type", "application/json")
        return status, headers, last[6:].encode()

    return Reshape(app, lambda s: s["path"] == "/v1/images/generations", rewrite)


def queue_dialect_errors(app: Any) -> Reshape:
    """OpenAI routes answering errors in the queue's dialect: ``{"detail": message}``."""

    def change(status: int, data: Any) -> tuple[int, Any] | None:
        if status < 400 or "error" not in data:
            return None
        return status, {"detail": data["error"].get("message", "")}

    return json_answers(app, lambda s: str(s["path"]).startswith("/v1/images/"), change)


def aa_code_not_status(app: Any) -> Reshape:
    """典名词元 error envelopes whose ``code`` is a documented error code but not the HTTP
    status (400 where the answer is 401 or 404, 500 on a 400): the schema alone accepts them."""

    def change(status: int, data: Any) -> tuple[int, Any] | None:
        if status < 400 or "code" not in data:
            return None
        return status, {**data, "code": 500 if status == 400 else 400}

    return json_answers(app, lambda s: str(s["path"]).startswith("/api/v1/"), change)


@pytest.fixture
def invalid_size_accepted(monkeypatch: pytest.MonkeyPatch) -> Callable[[Any], Any]:
    """The size rules skipped: an invalid gpt-image-2 size is answered 200."""
    from emulator.domain import rules

    def skip(body: Any, ctx: Any) -> Iterator[Any]:
        yield from ()

    monkeypatch.setattr(rules, "model_size", skip)
    monkeypatch.setattr(rules, "gpt_image_2_size", skip)
    return lambda app: app


# --- the matrix ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Variant:
    """A broken emulator, the provider it is run as, the checks run, and the catching check."""

    name: str
    wrap: Callable[[Any], Any]
    provider: str
    checks: tuple[str, ...]
    caught_by: str
    says: str  # a fragment of the failure's detail


# --- the queue's fal-style rules (contracts/_fidelity_queue.py) ------------------------------


def _no_job_id(app: Any) -> Reshape:
    """A queue whose submits do not name the job in ``x-fal-request-id``."""

    def rewrite(scope: Scope, status: int, headers: Headers, body: bytes) -> Answer:
        return status, [(k, v) for k, v in headers if k.lower() != b"x-fal-request-id"], body

    return Reshape(app, lambda s: s["method"] == "POST" and "/requests/" not in _path(s), rewrite)


def _completed_202(app: Any) -> Reshape:
    """A queue whose status answers 202 even once the job is COMPLETED."""
    return json_answers(
        app,
        lambda s: _path(s).endswith("/status"),
        lambda status, data: (202, data) if data.get("status") == "COMPLETED" else None,
    )


def _cancel_unnamed(app: Any) -> Reshape:
    """A queue whose cancel answers do not name the job."""

    def rewrite(scope: Scope, status: int, headers: Headers, body: bytes) -> Answer:
        return status, [(k, v) for k, v in headers if k.lower() != b"x-fal-request-id"], body

    return Reshape(app, lambda s: _path(s).endswith("/cancel"), rewrite)


def _deadline_ignored(app: Any) -> Any:
    """A queue that ignores ``X-Fal-Request-Timeout`` (the header never reaches it)."""

    async def strip(scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            kept = [(k, v) for k, v in scope["headers"] if k.lower() != b"x-fal-request-timeout"]
            scope = {**scope, "headers": kept}
        await app(scope, receive, send)

    return strip


def _stream_not_found(app: Any) -> Reshape:
    """A status stream answered 404 where the providers document a 400."""
    return json_answers(
        app, lambda s: _path(s).endswith("/status/stream"), lambda status, data: (404, data)
    )


def _mask_format_unchecked(app: Any) -> Reshape:
    """A queue whose invalid edit jobs are reported as successes."""

    def change(status: int, data: Any) -> tuple[int, Any] | None:
        if data.get("error_type") != "REQUEST_INVALID":
            return None
        data = {k: v for k, v in data.items() if k not in ("error", "error_type")}
        return status, {**data, "metrics": {"inference_time": 1.0}}

    return json_answers(app, lambda s: _path(s).endswith("/status"), change)


FIDELITY = [
    Variant(
        "submit_without_job_id",
        _no_job_id,
        "seacloud",
        ("queue_status_codes",),
        "queue_status_codes",
        "x-fal-request-id is None",
    ),
    Variant(
        "completed_status_202",
        _completed_202,
        "odirouter",
        ("queue_status_codes",),
        "queue_status_codes",
        "status answered 202 for a job COMPLETED",
    ),
    Variant(
        "cancel_without_job_id",
        _cancel_unnamed,
        "seacloud",
        ("queue_cancel_running",),
        "queue_cancel_running",
        "x-fal-request-id is None",
    ),
    Variant(
        "start_deadline_ignored",
        _deadline_ignored,
        "seacloud",
        ("queue_start_deadline",),
        "queue_start_deadline",
        "X-Fal-Request-Timeout: soon answered 200",
    ),
    Variant(
        "status_stream_404",
        _stream_not_found,
        "odirouter",
        ("queue_not_offered",),
        "queue_not_offered",
        "the status stream answered 404",
    ),
    Variant(
        "mask_format_unchecked",
        _mask_format_unchecked,
        "seacloud",
        ("queue_mask_format",),
        "queue_mask_format",
        "a WEBP mask on a PNG image ended COMPLETED None",
    ),
]


QUEUE = ("queue_lifecycle",)
IMAGE = ("image_properties",)
STREAM = ("stream_events",)
NEGATIVE = ("spec_negative",)

VARIANTS = [
    Variant(
        "status_goes_back", status_goes_back, "seacloud", QUEUE, "queue_lifecycle", "went back"
    ),
    Variant(
        "result_before_completion",
        result_before_completion,
        "seacloud",
        QUEUE,
        "queue_lifecycle",
        "IN_PROGRESS after an answer that said the job was terminal",
    ),
    Variant(
        "queue_position_rises",
        queue_position_rises,
        "odirouter",
        QUEUE,
        "queue_lifecycle",
        "rose from 0 to 1",
    ),
    Variant(
        "cancel_of_completed_202",
        cancel_completed_accepted,
        "seacloud",
        QUEUE,
        "queue_lifecycle",
        "cancel accepted (202) after the job was seen COMPLETED",
    ),
    Variant(
        "cancel_of_unknown_202",
        cancel_unknown_accepted,
        "seacloud",
        QUEUE,
        "queue_lifecycle",
        "cancel of an unknown id answered 202",
    ),
    Variant(
        "status_without_logs",
        status_without_logs,
        "seacloud",
        ("spec_conformance",),
        "spec_conformance",
        "the status of an accepted job",
    ),
    Variant(
        "download_content_type_mismatch",
        download_mislabelled,
        "seacloud",
        IMAGE,
        "image_properties",
        "content type image/webp for png",
    ),
    Variant(
        "output_record_size_lies",
        output_size_lies,
        "odirouter",
        IMAGE,
        "image_properties",
        "output says 2048x1024",
    ),
    Variant("wrong_image_size", wrong_image_size, "openai", IMAGE, "image_properties", "size 512"),
    Variant(
        "jpeg_bytes_labelled_png",
        _images(_jpeg_labelled_png),
        "openai",
        IMAGE,
        "image_properties",
        "are not png",
    ),
    Variant(
        "no_alpha_for_transparent",
        _images(_no_alpha),
        "openai",
        IMAGE,
        "image_properties",
        "no alpha (RGB)",
    ),
    Variant(
        "n_images_not_requested",
        _images(_one_more_image),
        "openai",
        IMAGE,
        "image_properties",
        "2 images for n=1",
    ),
    Variant(
        "stream_without_completed",
        _sse(_drop_completed),
        "openai",
        STREAM,
        "stream_events",
        "partial events [0, 1] after the last completed event",
    ),
    Variant(
        "usage_on_partial",
        _sse(_usage_on_partial),
        "openai",
        STREAM,
        "stream_events",
        "usage on a partial event",
    ),
    Variant(
        "completed_without_usage",
        _sse(_completed_without_usage),
        "openai",
        STREAM,
        "stream_events",
        "a completed event without usage",
    ),
    Variant(
        "partial_indexes_from_1",
        _sse(_partials_from_one),
        "openai",
        STREAM,
        "stream_events",
        "partial indexes [1, 2]",
    ),
    Variant(
        "stream_answered_as_json",
        stream_as_json,
        "openai",
        STREAM,
        "stream_events",
        "a stream as application/json",
    ),
    Variant(
        "errors_in_queue_dialect",
        queue_dialect_errors,
        "openai",
        NEGATIVE,
        "spec_negative",
        '"error" is a required property',
    ),
    Variant(
        "accepts_every_key",
        accepts_every_key,
        "seacloud",
        NEGATIVE,
        "spec_negative",
        "API accepts invalid authentication",
    ),
    Variant(
        "accepts_every_key_openai",
        accepts_every_key,
        "openai",
        ("spec_conformance",),
        "spec_conformance",
        "API accepts invalid authentication",
    ),
    Variant(
        "accepts_every_key_agcloud",
        accepts_every_key,
        "agcloud",
        ("auth_enforced",),
        "auth_enforced",
        "a request with a key the provider never issued was served",
    ),
    Variant(
        "aa_code_not_http_status",
        aa_code_not_status,
        "aa",
        NEGATIVE,
        "spec_negative",
        "the envelope's code is",
    ),
    *FIDELITY,
]


def _run(server: RunningServer, provider: str, checks: tuple[str, ...]) -> Report:
    return run_contract(
        provider,
        target_of(server, provider),
        api_key=KEY,
        checks=list(checks),
        examples=EXAMPLES,
        derandomize=True,
        timeout=10.0,
    )


def _failures(report: Report) -> list[tuple[str, str, str]]:
    return [(o.check, o.operation, o.detail[:300]) for o in report.failures()]


# Slow (CI runs them), each with an everyday counterpart on the same path:
# - accepts_every_key: seacloud's negative Schemathesis pass takes seconds; the same breakage on
#   openai and agcloud (the ``accepts_every_key_*`` variants) stays everyday;
# - status_goes_back, cancel_of_completed_202: the same breakages caught by queue_lifecycle in
#   test_contract_lifecycle.py (test_a_completed_job_that_goes_back_is_caught,
#   test_a_cancel_accepted_after_completion_is_caught);
# - wrong_image_size: the same breakage caught by image_properties in test_contract_checks.py
#   (test_a_wrong_image_size_is_caught_by_image_properties);
# - usage_on_partial, completed_without_usage, partial_indexes_from_1: judge_stream's breaches,
#   each in test_contract_lifecycle.py::test_judge_stream_names_each_breach, while
#   stream_without_completed and stream_answered_as_json keep real streams everyday.
SLOW_VARIANTS = {
    "accepts_every_key",
    "status_goes_back",
    "cancel_of_completed_202",
    "wrong_image_size",
    "usage_on_partial",
    "completed_without_usage",
    "partial_indexes_from_1",
}


@pytest.mark.parametrize(
    "variant",
    [pytest.param(v, marks=pytest.mark.slow) if v.name in SLOW_VARIANTS else v for v in VARIANTS],
    ids=[v.name for v in VARIANTS],
)
def test_a_broken_variant_is_caught_by_its_named_check(
    serve: Callable[[Any], RunningServer], variant: Variant
) -> None:
    server = serve(variant.wrap(contract_app()))
    report = _run(server, variant.provider, variant.checks)
    assert variant.caught_by in report.failed_checks(), report.outcomes
    details = [o.detail for o in report.failures() if o.check == variant.caught_by]
    assert any(variant.says in d for d in details), _failures(report)


@pytest.mark.parametrize("provider", ["openai", pytest.param("seacloud", marks=pytest.mark.slow)])
def test_a_200_for_an_invalid_size_is_caught_by_spec_negative(
    serve: Callable[[Any], RunningServer],
    invalid_size_accepted: Callable[[Any], Any],
    provider: str,
) -> None:
    server = serve(invalid_size_accepted(contract_app()))
    report = _run(server, provider, NEGATIVE)
    assert "spec_negative" in report.failed_checks(), report.outcomes
    details = [o.detail for o in report.failures() if o.check == "spec_negative"]
    assert any("a body the rules refuse" in d for d in details), _failures(report)


# openai's and aa's checks here are a subset of their whole runs, everyday in
# test_contract_runner.py::test_the_emulator_passes_every_check: slow. odirouter's stays
# everyday (the queue providers' whole runs are slow there).
@pytest.mark.parametrize(
    ("provider", "checks"),
    [
        pytest.param(
            "seacloud", (*QUEUE, *IMAGE, *NEGATIVE, "spec_conformance"), marks=pytest.mark.slow
        ),
        ("odirouter", (*QUEUE, *IMAGE)),
        pytest.param("openai", (*IMAGE, *STREAM, *NEGATIVE), marks=pytest.mark.slow),
        pytest.param("aa", NEGATIVE, marks=pytest.mark.slow),
    ],
)
def test_the_real_emulator_passes_the_same_checks(
    emulator: RunningServer, provider: str, checks: tuple[str, ...]
) -> None:
    report = _run(emulator, provider, checks)
    assert report.ok, _failures(report)
    assert {o.check for o in report.outcomes} == set(checks)
    assert report.counts()["skipped"] == 0


def test_at_least_twelve_variants_and_every_named_check_catches_one() -> None:
    names = [v.name for v in VARIANTS] + ["invalid_size_answered_200"]
    assert len(set(names)) == len(names) >= 12
    caught = {v.caught_by for v in VARIANTS}
    assert caught <= set(REGISTRY)
    assert caught >= {
        "spec_negative",
        "auth_enforced",
        "spec_conformance",
        "queue_lifecycle",
        "stream_events",
        "image_properties",
        "queue_status_codes",
        "queue_cancel_running",
        "queue_start_deadline",
        "queue_not_offered",
        "queue_mask_format",
    }


@pytest.mark.parametrize(
    "provider",
    [
        # The queue providers' Schemathesis passes take seconds: slow (the same gateway
        # breakage on the images providers stays in the everyday loop).
        pytest.param("seacloud", marks=pytest.mark.slow),
        pytest.param("odirouter", marks=pytest.mark.slow),
        "openai",
        # agcloud speaks openai's dialect (its default emulator's pass stays everyday there);
        # its gateway that takes every key stays everyday in VARIANTS' accepts_every_key_agcloud.
        pytest.param("agcloud", marks=pytest.mark.slow),
        "aa",
    ],
)
def test_a_provider_that_accepts_every_key_fails_and_the_default_emulator_passes(
    serve: Callable[[Any], RunningServer], provider: str
) -> None:
    """The default emulator (no keys configured) refuses only a key containing ``invalid``, so
    it passes with any other key; a gateway that takes every key fails ``auth_enforced`` (and
    Schemathesis' replay with invalid credentials, see ``VARIANTS``)."""

    def run(server: RunningServer) -> Report:
        return run_contract(
            provider,
            target_of(server, provider),
            api_key="sk-any-key-works",
            checks=["spec_negative", "auth_enforced"],
            examples=EXAMPLES,
            derandomize=True,
            timeout=10.0,
        )

    default = run(serve(fast_app()))
    assert default.ok, _failures(default)
    assert {o.check for o in default.outcomes} == {"spec_negative", "auth_enforced"}
    broken = run(serve(accepts_every_key(fast_app())))
    assert "auth_enforced" in broken.failed_checks(), broken.outcomes
    (failure,) = broken.by_check("auth_enforced")
    assert "a request with a key the provider never issued was served" in failure.detail
    assert "<redacted>" in failure.request
