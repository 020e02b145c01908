"""Fault plans: which requests a plan takes, what it does to them, and what makes one valid.

A plan is ``{"match": {...}, "action": {...}, "times": N, "after": K, "probability": P}``
(``POST /_emulator/faults``, or the ``faults`` list of the config file):

- ``match`` (every field optional): ``provider``, ``operation`` (an operation kind of the
  provider's document: ``submit``, ``status``, ``images.generate``, ``aa.task``...), ``path``
  (a glob over the request's path, ``fnmatch``: ``*`` matches ``/`` too), ``model``, ``key``
  (the API key) and ``test_id`` (the ``X-Imgemu-Test-Id`` header);
- ``action``: what happens to a request the plan applies to, by ``kind`` (``KINDS``);
- ``times``: how many requests it applies to before it is spent (absent or null: never spent);
  ``after``: how many matching requests it lets pass first; ``probability``: the share of the
  rest it applies to, drawn from the emulator's seed and the plan's own count of requests
  (``records.fault_draw``), so a run repeats.

A plan is checked against the providers' documents when it is made: an error's status must be
one the matched operations document, a ``stream_cut`` needs an operation that streams, an
``outcome`` or a ``slow_queue`` an operation that makes a generation. It then applies only to
the operations where it can (``FaultPlan.operations``): a plan for a 429 on every seacloud
operation faults its submits, the one operation documenting a 429. A request is taken by the
first live plan (in the order plans were made) that matches it; the store counts it
(``Store.take_fault``), so ``after`` and ``times`` hold across processes.

What is wrong with a plan is said in imgemu's own words (``PlanError``), as the control plane
speaks: no provider's dialect is involved.
"""

from __future__ import annotations

import fnmatch
import json
import math
import re
from collections.abc import Iterable, Mapping
from typing import Any, ClassVar

from emulator.domain.catalog import IMAGE_MODELS, QUEUE_MODELS
from emulator.domain.records import OUTCOMES, ErrorType, StoredFault, record
from emulator.spec import Document, Operation

KINDS = ("error", "delay", "drop", "truncate", "stream_cut", "outcome", "slow_queue")
MATCH_FIELDS = ("provider", "operation", "path", "model", "key", "test_id")
PLAN_FIELDS = ("match", "action", "times", "after", "probability")
# The operations that make a generation: an outcome or a slower service is theirs.
GENERATING = frozenset({"submit", "images.generate", "images.edit", "aa.generate"})
# The statuses whose answers say when to retry.
RETRY_STATUSES = frozenset({429, 503})
# The longest delay a plan may ask for, in seconds.
MAX_DELAY = 3600.0


class PlanError(ValueError):
    """A plan the emulator cannot take; the message names the field and what is wrong."""


# -- the plan -------------------------------------------------------------------------------------


@record
class Match:
    """The requests a plan may take, beyond its operations: each field given must equal the
    request's (``path`` as a glob)."""

    provider: str | None = None
    operation: str | None = None
    path: str | None = None
    model: str | None = None
    key: str | None = None
    test_id: str | None = None
    path_pattern: re.Pattern[str] | None = None  # ``path`` compiled

    def view(self) -> dict[str, str]:
        return {name: value for name in MATCH_FIELDS if (value := getattr(self, name))}


@record
class Facts:
    """What a plan's ``match`` looks at in a request (its provider and operation choose the
    plans to look at: ``by_operation``)."""

    path: str
    key: str | None = None
    test_id: str | None = None
    model: str | None = None


def matches(match: Match, facts: Facts) -> bool:
    """Whether ``facts`` meet every field ``match`` gives, besides provider and operation."""
    return (
        (match.path_pattern is None or match.path_pattern.match(facts.path) is not None)
        and (match.model is None or match.model == facts.model)
        and (match.key is None or match.key == facts.key)
        and (match.test_id is None or match.test_id == facts.test_id)
    )


@record
class ErrorAction:
    """Answer ``status`` in the provider's dialect (``Retry-After`` from ``retry_after``)."""

    kind: ClassVar[str] = "error"
    status: int
    retry_after: float | None = None


@record
class DelayAction:
    """Hold the request ``seconds`` real seconds, then serve it."""

    kind: ClassVar[str] = "delay"
    seconds: float


@record
class DropAction:
    """Close the connection without an answer."""

    kind: ClassVar[str] = "drop"


@record
class TruncateAction:
    """Send the answer's first ``bytes`` bytes (default: half its body), then close."""

    kind: ClassVar[str] = "truncate"
    bytes: int | None = None


@record
class StreamCutAction:
    """End an event stream cleanly after ``after_events`` events (keep-alives not counted)."""

    kind: ClassVar[str] = "stream_cut"
    after_events: int = 0


@record
class OutcomeAction:
    """The job, task or generation ends with ``error_type`` (as ``X-Imgemu-Outcome`` asks)."""

    kind: ClassVar[str] = "outcome"
    error_type: ErrorType


@record
class SlowQueueAction:
    """The job runs in a pool of ``slots`` slots, or ``service_factor`` times as long."""

    kind: ClassVar[str] = "slow_queue"
    slots: int | None = None
    service_factor: float = 1.0


Action = (
    ErrorAction
    | DelayAction
    | DropAction
    | TruncateAction
    | StreamCutAction
    | OutcomeAction
    | SlowQueueAction
)


def action_view(action: Action) -> dict[str, Any]:
    """The action as the control plane shows it (and the store keeps it)."""
    view: dict[str, Any] = {"kind": action.kind}
    if isinstance(action, ErrorAction):
        view["status"] = action.status
        if action.retry_after is not None:
            view["retry_after"] = action.retry_after
    elif isinstance(action, DelayAction):
        view["seconds"] = action.seconds
    elif isinstance(action, TruncateAction):
        if action.bytes is not None:
            view["bytes"] = action.bytes
    elif isinstance(action, StreamCutAction):
        view["after_events"] = action.after_events
    elif isinstance(action, OutcomeAction):
        view["error_type"] = action.error_type.value
    elif isinstance(action, SlowQueueAction):
        if action.slots is not None:
            view["slots"] = action.slots
        view["service_factor"] = action.service_factor
    return view


@record
class FaultPlan:
    """A checked plan, and the operations (provider, kind) it can apply to."""

    plan_id: str
    match: Match
    action: Action
    times: int | None
    after: int
    probability: float
    operations: frozenset[tuple[str, str]]

    def stored(self) -> StoredFault:
        """The plan as the store keeps it (the store gives it its id)."""
        body = json.dumps({"match": self.match.view(), "action": action_view(self.action)})
        return StoredFault(self.plan_id, body, self.after, self.times, self.probability)

    def view(self, seen: int = 0, applied: int = 0) -> dict[str, Any]:
        """The plan as the control plane shows it, with its counts."""
        return {
            "id": self.plan_id,
            "match": self.match.view(),
            "action": action_view(self.action),
            "times": self.times,
            "after": self.after,
            "probability": self.probability,
            "seen": seen,
            "applied": applied,
            "spent": self.times is not None and applied >= self.times,
        }


# -- reading and checking a plan ------------------------------------------------------------------


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _choices(values: Iterable[str]) -> str:
    return ", ".join(values)


def _object(value: Any, where: str, fields: Iterable[str]) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise PlanError(f"{where}: must be an object")
    known = tuple(fields)
    for name in value:
        if name not in known:
            raise PlanError(f"{where}: unknown field {name!r} (the fields are {_choices(known)})")
    return value


def _text(value: Any, where: str) -> str:
    if not isinstance(value, str) or not value:
        raise PlanError(f"{where}: must be a non-empty string")
    return value


def _count(value: Any, where: str, least: int) -> int:
    if not _is_int(value) or value < least:
        raise PlanError(f"{where}: must be an integer >= {least} (got {value!r})")
    result: int = value
    return result


def _seconds(value: Any, where: str, most: float = math.inf) -> float:
    if not _is_number(value) or not 0 <= value <= most:
        limit = "" if most == math.inf else f" and <= {most:g}"
        raise PlanError(f"{where}: must be a number of seconds >= 0{limit} (got {value!r})")
    return float(value)


def _kinds(documents: Mapping[str, Document]) -> dict[str, dict[str, list[Operation]]]:
    """Each provider's operations by kind."""
    found: dict[str, dict[str, list[Operation]]] = {}
    for provider, document in documents.items():
        kinds = found.setdefault(provider, {})
        for (kind, _model), operation in document.operations.items():
            kinds.setdefault(kind, []).append(operation)
    return found


def _match(data: Any, documents: Mapping[str, Document]) -> Match:
    data = _object({} if data is None else data, "match", MATCH_FIELDS)
    kinds = _kinds(documents)
    provider = data.get("provider")
    if provider is not None and provider not in documents:
        raise PlanError(
            f"match.provider: unknown provider {provider!r} (one of {_choices(documents)})"
        )
    operation = data.get("operation")
    if operation is not None:
        every = {kind for found in kinds.values() for kind in found}
        known = sorted(kinds[provider]) if provider else sorted(every)
        if operation not in known:
            owner = f"an operation of {provider}" if provider else "an operation"
            raise PlanError(
                f"match.operation: {operation!r} is not {owner} (one of {_choices(known)})"
            )
    model = data.get("model")
    if model is not None and model not in QUEUE_MODELS and model not in IMAGE_MODELS:
        raise PlanError(f"match.model: unknown model {model!r}")
    path = data.get("path")
    pattern = re.compile(fnmatch.translate(_text(path, "match.path"))) if path is not None else None
    return Match(
        provider=provider,
        operation=operation,
        path=path,
        model=model,
        key=_text(data["key"], "match.key") if "key" in data else None,
        test_id=_text(data["test_id"], "match.test_id") if "test_id" in data else None,
        path_pattern=pattern,
    )


_ACTION_FIELDS: dict[str, tuple[str, ...]] = {
    "error": ("kind", "status", "retry_after"),
    "delay": ("kind", "seconds"),
    "drop": ("kind",),
    "truncate": ("kind", "bytes"),
    "stream_cut": ("kind", "after_events"),
    "outcome": ("kind", "error_type"),
    "slow_queue": ("kind", "slots", "service_factor"),
}


def _action(data: Any) -> Action:
    if not isinstance(data, dict):
        raise PlanError("action: must be an object with a kind")
    kind = data.get("kind")
    if kind not in _ACTION_FIELDS:
        raise PlanError(f"action.kind: must be one of {_choices(KINDS)} (got {kind!r})")
    _object(data, "action", _ACTION_FIELDS[kind])
    if kind == "error":
        if "status" not in data:
            raise PlanError("action.status: required for an error")
        status = data["status"]
        if not _is_int(status) or not 400 <= status <= 599:
            raise PlanError(f"action.status: must be an error status, 400 to 599 (got {status!r})")
        retry_after = data.get("retry_after")
        if retry_after is not None:
            if status not in RETRY_STATUSES:
                raise PlanError(
                    f"action.retry_after: only a 429 or a 503 says when to retry (status is "
                    f"{status})"
                )
            retry_after = _seconds(retry_after, "action.retry_after")
        return ErrorAction(status, retry_after)
    if kind == "delay":
        if "seconds" not in data:
            raise PlanError("action.seconds: required for a delay")
        return DelayAction(_seconds(data["seconds"], "action.seconds", MAX_DELAY))
    if kind == "drop":
        return DropAction()
    if kind == "truncate":
        cut = data.get("bytes")
        return TruncateAction(None if cut is None else _count(cut, "action.bytes", 0))
    if kind == "stream_cut":
        return StreamCutAction(_count(data.get("after_events", 0), "action.after_events", 0))
    if kind == "outcome":
        text = data.get("error_type")
        try:
            outcome = ErrorType(str(text))
            if outcome not in OUTCOMES:
                raise ValueError(outcome)
            return OutcomeAction(outcome)
        except ValueError:
            choices = _choices(e.value for e in OUTCOMES)
            raise PlanError(f"action.error_type: must be one of {choices} (got {text!r})") from None
    slots = data.get("slots")
    factor = data.get("service_factor", 1.0)
    if slots is None and "service_factor" not in data:
        raise PlanError("action: a slow_queue needs slots, service_factor or both")
    if not _is_number(factor) or factor <= 0:
        raise PlanError(f"action.service_factor: must be a number > 0 (got {factor!r})")
    return SlowQueueAction(
        None if slots is None else _count(slots, "action.slots", 1), float(factor)
    )


def _applies(action: Action, kind: str, operations: list[Operation]) -> bool:
    """Whether ``action`` can be done to a request of operation ``kind``."""
    if isinstance(action, ErrorAction):
        return any(action.status in op.statuses for op in operations)
    if isinstance(action, StreamCutAction):
        return any(op.streams for op in operations)
    if isinstance(action, OutcomeAction):
        return kind in GENERATING
    if isinstance(action, SlowQueueAction):
        return kind == "submit" if action.slots is not None else kind in GENERATING
    return True


def _why_none(action: Action, matched: dict[tuple[str, str], list[Operation]]) -> str:
    """Why no operation the plan matches can take its action."""
    if not matched:
        return "match: no operation of any provider matches it"
    if isinstance(action, ErrorAction):
        listed = "; ".join(
            f"{provider} {kind}: "
            + ", ".join(str(s) for s in sorted({s for op in ops for s in op.statuses if s >= 400}))
            for (provider, kind), ops in sorted(matched.items())
        )
        return (
            f"action.status: {action.status} is not an answer the matched operations document "
            f"({listed})"
        )
    if isinstance(action, StreamCutAction):
        return (
            "action.kind: stream_cut cuts an event stream, and none of the matched operations "
            "streams (the images operations of openai and agcloud do)"
        )
    if isinstance(action, SlowQueueAction) and action.slots is not None:
        return "action.slots: slots are a queue pool's, and the plan matches no queue submit"
    generating = _choices(sorted(GENERATING))
    return (
        f"action.kind: {action.kind} applies to the operations that make a generation "
        f"({generating}), and the plan matches none"
    )


def _operations(
    match: Match, action: Action, documents: Mapping[str, Document]
) -> frozenset[tuple[str, str]]:
    matched: dict[tuple[str, str], list[Operation]] = {}
    for provider, kinds in _kinds(documents).items():
        if match.provider is not None and provider != match.provider:
            continue
        for kind, operations in kinds.items():
            if match.operation is not None and kind != match.operation:
                continue
            if match.model is not None:
                # Queue documents bind an operation per model; the others take any image model.
                operations = [
                    op
                    for op in operations
                    if op.model == match.model or (op.model == "*" and match.model in IMAGE_MODELS)
                ]
            if operations:
                matched[(provider, kind)] = operations
    found = frozenset(slot for slot, ops in matched.items() if _applies(action, slot[1], ops))
    if not found:
        raise PlanError(_why_none(action, matched))
    return found


def parse_plan(data: Any, documents: Mapping[str, Document], plan_id: str = "") -> FaultPlan:
    """A plan from its JSON form, checked against the providers' documents; ``PlanError``
    says what is wrong."""
    data = _object(data, "plan", PLAN_FIELDS)
    if "action" not in data:
        raise PlanError("action: required (an object with a kind)")
    match = _match(data.get("match"), documents)
    action = _action(data["action"])
    times = data.get("times")
    if times is not None:
        times = _count(times, "times", 1)
    after = _count(data.get("after", 0), "after", 0)
    probability = data.get("probability", 1.0)
    if not _is_number(probability) or not 0 <= probability <= 1:
        raise PlanError(f"probability: must be a number from 0 to 1 (got {probability!r})")
    operations = _operations(match, action, documents)
    return FaultPlan(plan_id, match, action, times, after, float(probability), operations)


def from_stored(stored: StoredFault, documents: Mapping[str, Document]) -> FaultPlan:
    """A plan as the store kept it (checked when it was made)."""
    data = json.loads(stored.body)
    data.update(times=stored.times, after=stored.after, probability=stored.probability)
    return parse_plan(data, documents, stored.plan_id)


# -- which plans a request meets ------------------------------------------------------------------


@record
class OperationPlans:
    """The plans that may take a request of one operation, in the order they were made:
    those decided when it arrives (``first``) and the ``stream_cut`` plans, decided when its
    answer turns out to be a stream (``streamed``)."""

    first: tuple[FaultPlan, ...]
    streamed: tuple[FaultPlan, ...]
    needs_model: bool  # a plan matches on the model

    def candidates(self, facts: Facts, streamed: bool = False) -> list[str]:
        """The ids of the plans whose ``match`` meets ``facts``, in order."""
        plans = self.streamed if streamed else self.first
        return [plan.plan_id for plan in plans if matches(plan.match, facts)]


def by_operation(plans: Iterable[FaultPlan]) -> dict[tuple[str, str], OperationPlans]:
    """The plans each operation (provider, kind) may meet; operations that meet none are
    absent."""
    slots: dict[tuple[str, str], list[FaultPlan]] = {}
    for plan in plans:
        for slot in plan.operations:
            slots.setdefault(slot, []).append(plan)
    return {
        slot: OperationPlans(
            first=tuple(p for p in found if not isinstance(p.action, StreamCutAction)),
            streamed=tuple(p for p in found if isinstance(p.action, StreamCutAction)),
            needs_model=any(p.match.model is not None for p in found),
        )
        for slot, found in slots.items()
    }
