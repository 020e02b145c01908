"""Fault plans in the domain: what makes one valid, which operations it can take, what it
matches, and the seeded draw both stores share."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from emulator.domain.faults import (
    MAX_DELAY,
    ErrorAction,
    Facts,
    PlanError,
    SlowQueueAction,
    StreamCutAction,
    by_operation,
    from_stored,
    matches,
    parse_plan,
)
from emulator.domain.records import ErrorType, StoredFault, fault_applies, fault_draw
from emulator.settings import fault_documents

DOCUMENTS = fault_documents()
ERROR_429 = {"kind": "error", "status": 429}


def plan(**fields: Any) -> Any:
    return parse_plan({"action": ERROR_429, **fields}, DOCUMENTS)


def refusal(data: Any) -> str:
    with pytest.raises(PlanError) as caught:
        parse_plan(data, DOCUMENTS)
    return str(caught.value)


# -- the operations a plan can take ---------------------------------------------------------------


def test_an_error_applies_only_where_its_status_is_documented() -> None:
    # seacloud documents a 429 for submit alone; openai for both of its operations.
    found = parse_plan({"match": {"provider": "seacloud"}, "action": ERROR_429}, DOCUMENTS)
    assert found.operations == {("seacloud", "submit")}
    found = parse_plan({"match": {"provider": "openai"}, "action": ERROR_429}, DOCUMENTS)
    assert found.operations == {("openai", "images.generate"), ("openai", "images.edit")}
    everywhere = parse_plan({"action": {"kind": "error", "status": 404}}, DOCUMENTS)
    assert ("aa", "aa.task") in everywhere.operations
    assert ("openai", "images.generate") not in everywhere.operations


def test_an_undocumented_status_is_refused_naming_what_is_documented() -> None:
    message = refusal(
        {
            "match": {"provider": "seacloud", "operation": "status"},
            "action": {"kind": "error", "status": 503},
        }
    )
    assert message == (
        "action.status: 503 is not an answer the matched operations document "
        "(seacloud status: 401, 404)"
    )


def test_stream_cut_takes_only_operations_that_stream() -> None:
    found = parse_plan({"action": {"kind": "stream_cut", "after_events": 1}}, DOCUMENTS)
    assert found.operations == {
        ("openai", "images.generate"),
        ("openai", "images.edit"),
        ("agcloud", "images.edit"),
        ("aa", "aa.generate"),
    }
    for provider in ("seacloud",):
        message = refusal({"match": {"provider": provider}, "action": {"kind": "stream_cut"}})
        assert message.startswith("action.kind: stream_cut cuts an event stream")


def test_outcome_and_slow_queue_take_operations_that_make_a_generation() -> None:
    outcome = parse_plan(
        {"action": {"kind": "outcome", "error_type": "INFERENCE_TIMEOUT"}}, DOCUMENTS
    )
    assert {kind for _, kind in outcome.operations} == {
        "submit",
        "images.generate",
        "images.edit",
        "aa.generate",
    }
    slots = parse_plan({"action": {"kind": "slow_queue", "slots": 1}}, DOCUMENTS)
    assert {kind for _, kind in slots.operations} == {"submit"}
    assert isinstance(slots.action, SlowQueueAction)
    assert refusal(
        {"match": {"operation": "status"}, "action": {"kind": "outcome", "error_type": "CANCELED"}}
    ).startswith("action.kind: outcome applies to the operations that make a generation")
    assert (
        refusal({"match": {"provider": "openai"}, "action": {"kind": "slow_queue", "slots": 2}})
        == "action.slots: slots are a queue pool's, and the plan matches no queue submit"
    )


def test_a_model_narrows_the_operations() -> None:
    queue = parse_plan({"match": {"model": "gpt_image_2_edit"}, "action": ERROR_429}, DOCUMENTS)
    assert queue.operations == {("seacloud", "submit"), ("odirouter", "submit")}
    images = parse_plan({"match": {"model": "gpt-image-1.5"}, "action": ERROR_429}, DOCUMENTS)
    assert ("openai", "images.generate") in images.operations
    assert not any(provider in ("seacloud", "odirouter") for provider, _ in images.operations)


# -- what is refused ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ([], "plan: must be an object"),
        ({}, "action: required (an object with a kind)"),
        (
            {"action": ERROR_429, "id": "plan_1"},
            "plan: unknown field 'id' (the fields are match, action, times, after, probability)",
        ),
        (
            {"action": {"kind": "explode"}},
            "action.kind: must be one of error, delay, drop, truncate, stream_cut, outcome, "
            "slow_queue (got 'explode')",
        ),
        ({"action": {"kind": "error"}}, "action.status: required for an error"),
        (
            {"action": {"kind": "error", "status": 200}},
            "action.status: must be an error status, 400 to 599 (got 200)",
        ),
        (
            {"action": {"kind": "error", "status": True}},
            "action.status: must be an error status, 400 to 599 (got True)",
        ),
        (
            {"action": {"kind": "error", "status": 500, "retry_after": 1}},
            "action.retry_after: only a 429 or a 503 says when to retry (status is 500)",
        ),
        (
            {"action": {"kind": "error", "status": 429, "retry_after": -1}},
            "action.retry_after: must be a number of seconds >= 0 (got -1)",
        ),
        (
            {"action": {"kind": "error", "status": 429, "seconds": 1}},
            "action: unknown field 'seconds' (the fields are kind, status, retry_after)",
        ),
        ({"action": {"kind": "delay"}}, "action.seconds: required for a delay"),
        (
            {"action": {"kind": "delay", "seconds": 3601}},
            "action.seconds: must be a number of seconds >= 0 and <= 3600 (got 3601)",
        ),
        (
            {"action": {"kind": "truncate", "bytes": -1}},
            "action.bytes: must be an integer >= 0 (got -1)",
        ),
        (
            {"action": {"kind": "stream_cut", "after_events": 1.5}},
            "action.after_events: must be an integer >= 0 (got 1.5)",
        ),
        (
            {"action": {"kind": "outcome", "error_type": "OOPS"}},
            "action.error_type: must be one of INFERENCE_FAILURE, INFERENCE_TIMEOUT, "
            "REQUEST_INVALID, CONTENT_BLOCKED, CANCELED, INTERNAL_SERVER_ERROR (got 'OOPS')",
        ),
        (
            {"action": {"kind": "slow_queue"}},
            "action: a slow_queue needs slots, service_factor or both",
        ),
        (
            {"action": {"kind": "slow_queue", "slots": 0}},
            "action.slots: must be an integer >= 1 (got 0)",
        ),
        (
            {"action": {"kind": "slow_queue", "service_factor": 0}},
            "action.service_factor: must be a number > 0 (got 0)",
        ),
        (
            {"action": ERROR_429, "match": {"provider": "acme"}},
            "match.provider: unknown provider 'acme' (one of seacloud, odirouter, openai, "
            "agcloud, aa)",
        ),
        (
            {"action": ERROR_429, "match": {"provider": "aa", "operation": "submit"}},
            "match.operation: 'submit' is not an operation of aa (one of aa.generate, aa.task, "
            "aa.upload)",
        ),
        (
            {"action": ERROR_429, "match": {"model": "dall-e-3"}},
            "match.model: unknown model 'dall-e-3'",
        ),
        ({"action": ERROR_429, "match": {"path": ""}}, "match.path: must be a non-empty string"),
        (
            {"action": ERROR_429, "match": {"colour": "red"}},
            "match: unknown field 'colour' (the fields are provider, operation, path, model, "
            "key, test_id)",
        ),
        ({"action": ERROR_429, "times": 0}, "times: must be an integer >= 1 (got 0)"),
        ({"action": ERROR_429, "times": -2}, "times: must be an integer >= 1 (got -2)"),
        ({"action": ERROR_429, "after": -1}, "after: must be an integer >= 0 (got -1)"),
        (
            {"action": ERROR_429, "probability": 1.5},
            "probability: must be a number from 0 to 1 (got 1.5)",
        ),
        (
            {"action": ERROR_429, "probability": "half"},
            "probability: must be a number from 0 to 1 (got 'half')",
        ),
    ],
)
def test_what_is_wrong_is_said_in_one_line(data: Any, message: str) -> None:
    assert refusal(data) == message


@given(st.integers(-5, 5))
def test_times_is_at_least_one_or_null(times: int) -> None:
    if times >= 1:
        assert plan(times=times).times == times
    else:
        assert refusal({"action": ERROR_429, "times": times}).startswith("times: must be")
    assert plan(times=None).times is None


@given(st.integers(-5, 5))
def test_after_is_a_count_from_zero(after: int) -> None:
    if after >= 0:
        assert plan(after=after).after == after
    else:
        assert refusal({"action": ERROR_429, "after": after}).startswith("after: must be")


@given(st.floats(-1, 2, allow_nan=False) | st.sampled_from([0, 1, 0.0, 1.0, -0.0]))
def test_probability_is_a_share_from_zero_to_one(probability: float) -> None:
    if 0 <= probability <= 1:
        assert plan(probability=probability).probability == probability
    else:
        assert refusal({"action": ERROR_429, "probability": probability}).startswith(
            "probability: must be"
        )


@given(st.integers(300, 700))
def test_an_error_status_is_one_a_provider_documents(status: int) -> None:
    documented = {
        code for document in DOCUMENTS.values() for op in document.operations.values()
        for code in op.statuses if code >= 400
    }  # fmt: skip
    data = {"action": {"kind": "error", "status": status}}
    if status in documented:
        assert isinstance(parse_plan(data, DOCUMENTS).action, ErrorAction)
    else:
        assert refusal(data).startswith("action.status:")


@given(st.floats(-10, 4000, allow_nan=False))
def test_a_delay_is_zero_to_an_hour(seconds: float) -> None:
    data = {"action": {"kind": "delay", "seconds": seconds}}
    if 0 <= seconds <= MAX_DELAY:
        assert parse_plan(data, DOCUMENTS).action == type(parse_plan(data, DOCUMENTS).action)(
            seconds
        )
    else:
        assert refusal(data).startswith("action.seconds:")


# -- matching -------------------------------------------------------------------------------------


def test_a_match_compares_each_field_it_gives() -> None:
    found = plan(match={"path": "/v1/images/*", "key": "sk-1", "test_id": "t1"}).match
    facts = Facts(path="/v1/images/generations", key="sk-1", test_id="t1", model="gpt-image-2")
    assert matches(found, facts)
    assert not matches(found, Facts(path="/v1/chat", key="sk-1", test_id="t1"))
    assert not matches(found, Facts(path="/v1/images/edits", key="sk-2", test_id="t1"))
    assert not matches(found, Facts(path="/v1/images/edits", key="sk-1", test_id=None))
    assert matches(plan().match, Facts(path="/anything"))


def test_a_path_glob_crosses_slashes_as_fnmatch_does() -> None:
    found = plan(match={"path": "/model/*/status"}).match
    assert matches(found, Facts(path="/model/v1/queue/gpt_image_1/requests/r1/status"))
    assert not matches(found, Facts(path="/model/v1/queue/gpt_image_1/requests/r1/response"))
    assert not matches(plan(match={"path": "/Model/*"}).match, Facts(path="/model/v1"))


def test_by_operation_keeps_the_order_plans_were_made_and_sets_stream_cuts_apart() -> None:
    first = parse_plan({"match": {"provider": "openai"}, "action": ERROR_429}, DOCUMENTS, "p1")
    cut = parse_plan({"action": {"kind": "stream_cut"}}, DOCUMENTS, "p2")
    model = parse_plan(
        {"match": {"model": "gpt-image-2"}, "action": {"kind": "drop"}}, DOCUMENTS, "p3"
    )
    queue = parse_plan({"match": {"provider": "seacloud"}, "action": ERROR_429}, DOCUMENTS, "p4")
    index = by_operation([first, cut, model, queue])
    generate = index[("openai", "images.generate")]
    assert [p.plan_id for p in generate.first] == ["p1", "p3"]
    assert [p.plan_id for p in generate.streamed] == ["p2"]
    assert generate.needs_model
    assert not index[("seacloud", "submit")].needs_model
    assert ("seacloud", "status") not in index
    facts = Facts(path="/v1/images/generations", model="gpt-image-1")
    assert generate.candidates(facts) == ["p1"]
    assert generate.candidates(facts, streamed=True) == ["p2"]


def test_a_plan_goes_through_the_store_and_back_unchanged() -> None:
    made = parse_plan(
        {
            "match": {"provider": "openai", "path": "/v1/*", "test_id": "t"},
            "action": {"kind": "error", "status": 503, "retry_after": 0.5},
            "times": 3,
            "after": 2,
            "probability": 0.25,
        },
        DOCUMENTS,
    )
    stored = made.stored()
    assert json.loads(stored.body) == {
        "match": {"provider": "openai", "path": "/v1/*", "test_id": "t"},
        "action": {"kind": "error", "status": 503, "retry_after": 0.5},
    }
    back = from_stored(StoredFault("plan_7", stored.body, 2, 3, 0.25, seen=5, applied=1), DOCUMENTS)
    assert back.view(5, 1) == {
        "id": "plan_7",
        "match": {"provider": "openai", "path": "/v1/*", "test_id": "t"},
        "action": {"kind": "error", "status": 503, "retry_after": 0.5},
        "times": 3,
        "after": 2,
        "probability": 0.25,
        "seen": 5,
        "applied": 1,
        "spent": False,
    }
    cut = parse_plan({"action": {"kind": "stream_cut", "after_events": 2}}, DOCUMENTS)
    assert isinstance(cut.action, StreamCutAction)
    outcome = parse_plan({"action": {"kind": "outcome", "error_type": "CANCELED"}}, DOCUMENTS)
    assert json.loads(outcome.stored().body)["action"] == {
        "kind": "outcome",
        "error_type": ErrorType.CANCELED.value,
    }


# -- the seeded draw ------------------------------------------------------------------------------


def test_the_draw_is_sha1_of_seed_plan_and_count() -> None:
    digest = hashlib.sha1(b"7:fault:plan_3:12").hexdigest()
    assert fault_draw(7, "plan_3", 12) == int(digest[:13], 16) / 2**52
    assert 0 <= fault_draw(0, "plan_1", 1) < 1
    assert fault_draw(1, "plan_1", 1) != fault_draw(2, "plan_1", 1)


@given(
    after=st.integers(0, 5),
    probability=st.sampled_from([0.0, 0.3, 1.0]),
    seen=st.integers(1, 20),
    seed=st.integers(-5, 5),
)
def test_a_plan_applies_past_after_by_its_draw(
    after: int, probability: float, seen: int, seed: int
) -> None:
    fault = StoredFault("plan_1", "{}", after, None, probability)
    applies = fault_applies(fault, seen, seed)
    if seen <= after or probability == 0:
        assert not applies
    elif probability == 1:
        assert applies
    else:
        assert applies == (fault_draw(seed, "plan_1", seen - after) < probability)
