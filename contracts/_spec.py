"""``spec_negative`` and ``spec_conformance``: Schemathesis over real HTTP, case by case.

Each operation gets its own Hypothesis run. A failure is recorded and the operation's run stops
without shrinking: shrinking would repeat calls a real provider bills.
"""

from __future__ import annotations

import time
from typing import Any

import httpx
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis.checks import (
    negative_data_rejection,
    positive_data_acceptance,
    response_schema_conformance,
)
from schemathesis.core.parameters import ParameterLocation
from schemathesis.core.result import Ok
from schemathesis.generation import GenerationMode
from schemathesis.generation.case import Case

from clients._tls import tls_context
from contracts._context import BudgetExceeded, Context, price
from contracts.report import Status
from emulator.domain.catalog import family_of

PAID_KINDS = {"submit", "images.generate", "images.edit", "aa.generate"}


def case_cost(case: Case[Any], kind: str, queue_model: str | None) -> float:
    """The documented price of a paid case, from its body; unknowns price high."""
    body = case.body if isinstance(case.body, dict) else {}
    model = queue_model if queue_model is not None else str(body.get("model", ""))
    family = family_of(model) or "gpt-image-1"  # an unknown model prices as the dearest per token
    size = str(body.get("size", ""))
    try:
        w, h = (int(x) for x in size.split("x"))
    except ValueError:
        w, h = (1536, 1024)
    w, h = max(64, min(w, 3840)), max(64, min(h, 3840))
    try:
        n = max(1, min(int(str(body.get("n", 1))), 10))
    except (TypeError, ValueError):
        n = 10
    return price(family, str(body.get("quality", "high")), (w, h), n)


# Under a spend cap a paid positive case keeps its other fields but costs the least: each of
# these values is valid for every model the documents list (AGCloud's -plus models refuse any
# quality, a documented 400).
CHEAPEST: dict[str, str | int] = {"quality": "low", "n": 1, "size": "1024x1024"}


def cheapen(case: Case[Any]) -> None:
    """Send a paid case at the cheapest quality, n and size (the defaults may cost more)."""
    if isinstance(case.body, dict):
        case.body.update(CHEAPEST)


def run_schemathesis(ctx: Context, *, negative: bool) -> None:
    """Every operation of the provider's document, negative or positive data."""
    schema = schemathesis.openapi.from_dict(dict(ctx.document))
    mode = GenerationMode.NEGATIVE if negative else GenerationMode.POSITIVE
    operations = []
    for result in schema.get_all_operations():
        if not isinstance(result, Ok):
            ctx.record("(document)", "failed", f"the document does not load: {result.err()}")
            return
        operations.append(result.ok())
    meta = [op.definition.raw.get("x-imgemu-operation", {}) for op in operations]
    # Free operations first, then the paid ones, so a small budget still covers the free ones.
    order = sorted(range(len(operations)), key=lambda i: meta[i].get("kind") in PAID_KINDS)
    statuses = {
        str(m.get("model")): op
        for op, m in zip(operations, meta, strict=True)
        if m.get("kind") == "status"
    }
    for i in order:
        _run_operation(ctx, operations[i], meta[i], mode, negative, statuses)
    if negative:
        for i in order:
            _probe_rules(ctx, operations[i])


def _run_operation(
    ctx: Context,
    operation: Any,
    meta: dict[str, Any],
    mode: GenerationMode,
    negative: bool,
    statuses: dict[str, Any],
) -> None:
    name = f"{operation.method.upper()} {operation.path}"
    kind = str(meta.get("kind", ""))
    paid = kind in PAID_KINDS and not negative
    queue_model = str(meta["model"]) if kind == "submit" else None
    state: dict[str, Any] = {"failure": None, "skipped": None, "calls": 0, "follow": None}

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=ctx.examples,
        deadline=None,
        database=None,
        derandomize=ctx.derandomize,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    def run(case: Case[Any]) -> None:
        if state["failure"] is not None or state["skipped"] is not None or state["follow"]:
            return
        if paid:
            if ctx.budget.limit is not None:
                cheapen(case)
            try:
                ctx.budget.pay(case_cost(case, kind, queue_model), name)
            except BudgetExceeded as exc:
                state["skipped"] = str(exc)
                return
        try:
            response = case.call(base_url=ctx.root, headers=ctx.auth, timeout=ctx.timeout)
        except ValueError:
            # Schemathesis could not serialise the case (a multipart ``Binary`` value in a
            # negative case): nothing was sent, so there is nothing to judge.
            return
        state["calls"] += 1
        excluded: list[Any] = [positive_data_acceptance]
        additional: list[Any] = []
        if kind == "submit":
            excluded.append(negative_data_rejection)
        # Schemathesis' headers are lists of values.
        content_type = " ".join(response.headers.get("content-type") or [])
        if "text/event-stream" in content_type:
            # OpenAPI 3.1 cannot type each event; ``stream_events`` checks them.
            excluded.append(response_schema_conformance)
        if case.media_type == "multipart/form-data":
            # On the wire every form part is text, so a field "changed" to a number is still valid.
            excluded.append(negative_data_rejection)
        try:
            case.validate_response(response, excluded_checks=excluded, additional_checks=additional)
            if ctx.profile.protocol == "aa":
                _envelope_code(response)
            if kind == "submit" and negative and _negative_body(case):
                _rejected_or_request_invalid(ctx, response)
        except BaseException as exc:
            if isinstance(exc, KeyboardInterrupt | SystemExit):
                raise
            state["failure"] = (
                str(exc) or type(exc).__name__,
                case.as_curl_command(headers={"Authorization": "<redacted>"}),
                f"{response.status_code}\n{dict(response.headers)}\n{response.text[:2000]}",
            )
            return
        if kind == "submit" and not negative and 200 <= response.status_code < 300:
            status_operation = statuses.get(str(meta.get("model")))
            if status_operation is not None:
                state["follow"] = _follow_status(ctx, status_operation, response)

    if negative and _nothing_to_negate(ctx.document, operation.definition.raw):
        return  # nothing of it can be made invalid: nothing to judge
    run()
    if state["follow"] is not None and state["failure"] is None:
        ctx.record(*state["follow"])
    if state["failure"] is not None:
        detail, request, answer = state["failure"]
        ctx.record(name, "failed", detail, request, answer)
    elif state["skipped"] is not None and state["calls"] == 0:
        ctx.record(name, "skipped", state["skipped"])
    else:
        ctx.record(name, "verified")


def _nothing_to_negate(document: Any, raw: dict[str, Any]) -> bool:
    """Whether no request to the operation breaks its document: no body, no credentials asked
    (``security: []``), and every parameter any string (the queue's status stream and sync
    call, documented as refused whatever is sent)."""
    if "requestBody" in raw or raw.get("security") != []:
        return False
    for parameter in raw.get("parameters") or ():
        ref = parameter.get("$ref", "")
        if ref.startswith("#/"):
            target = document
            for part in ref[2:].split("/"):
                target = target[part]
            parameter = target
        if parameter.get("schema") != {"type": "string"}:
            return False
    return True


def _negative_body(case: Case[Any]) -> bool:
    """Whether the case's body is the negative part (not only a header or a query value)."""
    meta = case.meta
    if meta is None:
        return False
    info = meta.components.get(ParameterLocation.BODY)
    return info is not None and info.mode.is_negative


def _rejected_or_request_invalid(ctx: Context, response: Any) -> None:
    """Negative data at a queue submit: refused there (4xx), or the job ends REQUEST_INVALID."""
    status = response.status_code
    if 400 <= status < 500:
        return
    assert 200 <= status < 300, f"negative data answered {status}"
    body = response.json()
    deadline = time.monotonic() + ctx.timeout
    with httpx.Client(headers=ctx.auth, timeout=ctx.timeout, verify=tls_context()) as http:
        while True:
            current = http.get(body["status_url"]).json()
            if current.get("status") == "COMPLETED":
                break
            assert time.monotonic() < deadline, "an invalid job did not finish in time"
            time.sleep(0.1)
        result = http.get(body["response_url"])
    error_type = (result.json() or {}).get("error_type") if result.content else None
    assert result.status_code == 422, (
        f"negative data accepted; the result answered {result.status_code}"
    )
    assert error_type == "REQUEST_INVALID", (
        f"negative data accepted and the job ended {result.status_code} {error_type}"
    )


def _envelope_code(response: Any) -> None:
    """An envelope's ``code`` is 0 on success and repeats the HTTP status on an error."""
    try:
        body = response.json()
    except ValueError:
        return
    if not isinstance(body, dict) or "code" not in body:
        return
    status = response.status_code
    expected = 0 if 200 <= status < 300 else status
    assert body["code"] == expected, (
        f"the envelope's code is {body['code']!r} on an HTTP {status} answer (expected {expected})"
    )


def _follow_status(
    ctx: Context, status_operation: Any, response: Any
) -> tuple[str, Status, str, str, str] | None:
    """An accepted submit's job, followed to its status operation: the status body keeps the
    document too (Schemathesis alone only sees unknown ids there). A breach is returned as the
    status operation's failed outcome."""
    request_id = (response.json() or {}).get("request_id")
    if not isinstance(request_id, str):
        return None
    name = f"{status_operation.method.upper()} {status_operation.path}"
    for logs in ("0", "1"):
        case = status_operation.Case(
            path_parameters={"request_id": request_id}, query={"logs": logs}
        )
        answer = case.call(base_url=ctx.root, headers=ctx.auth, timeout=ctx.timeout)
        try:
            case.validate_response(answer, excluded_checks=[positive_data_acceptance])
        except BaseException as exc:
            if isinstance(exc, KeyboardInterrupt | SystemExit):
                raise
            return (
                name,
                "failed",
                f"the status of an accepted job: {exc}",
                case.as_curl_command(headers={"Authorization": "<redacted>"}),
                f"{answer.status_code}\n{dict(answer.headers)}\n{answer.text[:2000]}",
            )
    return None


# Bodies that JSON Schema accepts and a semantic rule refuses, by the rule that refuses them.
_SIZE_RULES = {"model_size", "gpt_image_2_size"}
_BAD_SIZE = "1000x1000"  # not a multiple of 16, not a standard size


def _probe_rules(ctx: Context, operation: Any) -> None:
    """Schema-valid bodies that an ``x-imgemu-rules`` rule refuses are refused (the queue: at
    submit or ending ``REQUEST_INVALID``), with documented statuses and bodies."""
    rules = set(operation.definition.raw.get("x-imgemu-rules") or ())
    if not rules & _SIZE_RULES:
        return
    if "application/json" not in {b.media_type for b in operation.body}:
        return
    body: dict[str, Any] = {"prompt": "A red apple", "size": _BAD_SIZE, "quality": "low", "n": 1}
    if "model_size" in rules:
        body["model"] = "gpt-image-2"
    name = f"{operation.method.upper()} {operation.path}"
    case = operation.Case(body=body, media_type="application/json")
    response = case.call(base_url=ctx.root, headers=ctx.auth, timeout=ctx.timeout)
    try:
        case.validate_response(response, excluded_checks=[positive_data_acceptance])
        if ctx.profile.protocol == "aa":
            _envelope_code(response)
        status = response.status_code
        if 200 <= status < 300 and "status_url" in (response.json() or {}):
            _rejected_or_request_invalid(ctx, response)
        else:
            assert 400 <= status < 500, f"size {_BAD_SIZE} answered {status}"
    except BaseException as exc:
        if isinstance(exc, KeyboardInterrupt | SystemExit):
            raise
        ctx.record(
            name,
            "failed",
            f"a body the rules refuse ({sorted(rules & _SIZE_RULES)}): {exc}",
            case.as_curl_command(headers={"Authorization": "<redacted>"}),
            f"{response.status_code}\n{dict(response.headers)}\n{response.text[:2000]}",
        )
