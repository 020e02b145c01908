"""The queue and stream machines of ``contracts._lifecycle``: the real emulator passes them over
sockets, fast and slow, and two broken variants built around it are caught by name."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from starlette.applications import Starlette

from contracts import run_contract
from contracts._common import judge_stream
from contracts.report import Report
from tests.helpers import RunningServer, make_app
from tests.support.contracts import (
    KEY,
    PROVIDERS,
    Rewrite,
    contract_app,
    result_before_completion,
    status_goes_back,
    target_of,
)

Serve = Callable[[Any], RunningServer]
STATUS = "GET /v1/queue/gpt_image_1_5/requests/{request_id}/status"
CANCEL = "PUT /v1/queue/gpt_image_1_5/requests/{request_id}/cancel"


def slow_app() -> Starlette:
    """One slot and service times of a few tenths of a second: jobs wait, then run a while."""
    keys = {p: (KEY,) for p in PROVIDERS}
    return make_app(clock="real", clock_start=None, time_scale=0.02, slots=1, api_keys=keys)


def run(server: RunningServer, provider: str, check: str, **kw: Any) -> Report:
    return run_contract(
        provider, target_of(server, provider), api_key=KEY, checks=[check], derandomize=True, **kw
    )


def failures(report: Report) -> list[tuple[str, str, str]]:
    return [(o.check, o.operation, o.detail) for o in report.failures()]


# --- the real emulator passes ------------------------------------------------------------------


@pytest.mark.parametrize("provider", ["seacloud", "odirouter"])
def test_a_fast_queue_passes_the_queue_machine(serve: Serve, provider: str) -> None:
    report = run(serve(contract_app()), provider, "queue_lifecycle")
    assert report.ok, failures(report)
    assert {o.status for o in report.outcomes} <= {"verified", "assumed"}
    assert len(report.outcomes) == 4  # submit, status, result, cancel
    assert report.spent_usd > 0


def test_a_slow_queue_passes_the_queue_machine(serve: Serve) -> None:
    report = run(serve(slow_app()), "seacloud", "queue_lifecycle")
    assert report.ok, failures(report)


def test_the_queue_machine_under_a_tiny_budget_runs_only_free_calls(serve: Serve) -> None:
    report = run(serve(contract_app()), "seacloud", "queue_lifecycle", max_spend_usd=0.0001)
    assert report.ok, failures(report)
    assert report.spent_usd == 0
    (skipped,) = (o for o in report.outcomes if o.status == "skipped")
    assert skipped.detail.startswith("skipped: budget")


# agcloud: the same machine on the same Images handlers as openai's (everyday), and part of
# agcloud's whole run in test_contract_runner.py::test_the_emulator_passes_every_check: slow.
@pytest.mark.parametrize("provider", ["openai", pytest.param("agcloud", marks=pytest.mark.slow)])
def test_the_emulator_passes_the_stream_machine(serve: Serve, provider: str) -> None:
    report = run(serve(contract_app()), provider, "stream_lifecycle")
    assert report.ok, failures(report)
    assert [o.status for o in report.outcomes] in (["verified"], ["assumed"])


def test_a_tiny_budget_skips_the_stream_machine(serve: Serve) -> None:
    report = run(serve(contract_app()), "openai", "stream_lifecycle", max_spend_usd=0.0001)
    assert [(o.status, o.detail[:15]) for o in report.outcomes] == [("skipped", "skipped: budget")]


# --- broken variants are caught ----------------------------------------------------------------


def back_to_queue(app: Any) -> Rewrite:
    """A queue whose jobs, once shown ``IN_PROGRESS``, report ``IN_QUEUE`` on every later read."""
    running: set[str] = set()

    def rewrite(body: bytes) -> bytes:
        data = json.loads(body)
        rid = data.get("request_id")
        if rid in running:
            data["status"], data["queue_position"] = "IN_QUEUE", 0
            for key in ("metrics", "error", "error_type"):
                data.pop(key, None)
            return json.dumps(data).encode()
        if data.get("status") == "IN_PROGRESS":
            running.add(rid)
        return body

    return Rewrite(app, lambda s: str(s["path"]).endswith("/status"), rewrite)


def cancel_always_accepted(app: Any) -> Rewrite:
    """A queue whose cancel of a completed job answers 202 CANCELLATION_REQUESTED."""

    def rewrite(body: bytes) -> bytes:
        if json.loads(body) == {"status": "ALREADY_COMPLETED"}:
            return json.dumps({"status": "CANCELLATION_REQUESTED"}).encode()
        return body

    async def app_202(scope: Any, receive: Any, send: Any) -> None:
        async def send_202(message: Any) -> None:
            if message["type"] == "http.response.start" and message["status"] == 400:
                message = {**message, "status": 202}
            await send(message)

        await app(scope, receive, send_202)

    return Rewrite(app_202, lambda s: str(s["path"]).endswith("/cancel"), rewrite)


def test_a_status_that_goes_back_to_in_queue_is_caught(serve: Serve) -> None:
    report = run(serve(back_to_queue(slow_app())), "seacloud", "queue_lifecycle")
    assert report.failed_checks() == {"queue_lifecycle"}
    (failure,) = report.failures()
    assert failure.operation == STATUS
    assert "went back from IN_PROGRESS to IN_QUEUE" in failure.detail
    assert failure.request.startswith("GET ")
    assert "/status" in failure.request
    assert failure.response.startswith("202")  # the status of a job not COMPLETED
    assert "IN_QUEUE" in failure.response


def test_a_completed_job_that_goes_back_is_caught(serve: Serve) -> None:
    report = run(serve(status_goes_back(contract_app())), "seacloud", "queue_lifecycle")
    assert report.failed_checks() == {"queue_lifecycle"}
    (failure,) = report.failures()
    assert failure.operation == STATUS
    assert "from COMPLETED to IN_PROGRESS" in failure.detail
    assert "IN_PROGRESS" in failure.response


def test_a_cancel_accepted_after_completion_is_caught(serve: Serve) -> None:
    report = run(serve(cancel_always_accepted(contract_app())), "seacloud", "queue_lifecycle")
    assert report.failed_checks() == {"queue_lifecycle"}
    (failure,) = report.failures()
    assert failure.operation == CANCEL
    assert "cancel accepted (202) after the job was seen COMPLETED" in failure.detail
    assert failure.request.startswith("PUT ")
    assert failure.response.startswith("202")


# --- a result served right after an IN_PROGRESS status: a race, not a breach ---------------


def status_lags_once(app: Any, lagged: list[str]) -> Rewrite:
    """Each finished job's first status read still says ``IN_PROGRESS``; every later read is
    true. To a client this is a job that finished between a status read and the next call."""

    def rewrite(body: bytes) -> bytes:
        data = json.loads(body)
        rid = data.get("request_id")
        if data.get("status") != "COMPLETED" or rid in lagged:
            return body
        lagged.append(rid)
        for key in ("metrics", "error", "error_type"):
            data.pop(key, None)
        return json.dumps({**data, "status": "IN_PROGRESS"}).encode()

    return Rewrite(app, lambda s: str(s["path"]).endswith("/status"), rewrite)


@pytest.mark.parametrize("check", ["image_properties", "queue_lifecycle"])
def test_a_result_served_after_a_stale_in_progress_passes(serve: Serve, check: str) -> None:
    lagged: list[str] = []
    report = run(serve(status_lags_once(contract_app(), lagged)), "seacloud", check)
    assert report.ok, failures(report)
    assert lagged  # the race was run: some status read said IN_PROGRESS before a result


@pytest.mark.parametrize("time_scale", [1e-4, pytest.param(1e-3, marks=pytest.mark.slow)])
def test_a_fast_queue_races_the_status_reads_and_passes(serve: Serve, time_scale: float) -> None:
    """Jobs that finish within a round trip or two: a status read says IN_PROGRESS and the next
    call gets the result."""
    keys = {p: (KEY,) for p in PROVIDERS}
    app = make_app(clock="real", clock_start=None, time_scale=time_scale, api_keys=keys)
    server = serve(app)
    for _ in range(3):
        report = run(server, "odirouter", "image_properties")
        assert report.ok, failures(report)
    report = run(server, "seacloud", "queue_lifecycle")
    assert report.ok, failures(report)


def test_a_result_before_completion_is_still_caught_by_image_properties(serve: Serve) -> None:
    report = run(serve(result_before_completion(contract_app())), "seacloud", "image_properties")
    assert report.failed_checks() == {"image_properties"}
    (failure,) = report.failures()
    assert failure.operation == "GET /v1/queue/gpt_image_1_5/requests/{request_id}/response"
    assert "a result was served while the job was IN_PROGRESS" in failure.detail
    assert "a status read after it still says IN_PROGRESS" in failure.detail


def test_judge_stream_names_each_breach() -> None:
    op = "POST /v1/images/generations"
    usage = {"usage": {"total_tokens": 1}}

    def partial(i: int) -> tuple[str, dict[str, Any]]:
        return "image_generation.partial_image", {
            "type": "image_generation.partial_image",
            "partial_image_index": i,
        }

    done = ("image_generation.completed", {"type": "image_generation.completed", **usage})
    judge_stream(op, [partial(0), partial(1), done, partial(0), done], 2, 2)
    breaches = {
        "partial indexes [0, 1, 2]": ([partial(0), partial(1), partial(2), done], 1, 2),
        "partial indexes [1]": ([partial(1), done], 1, 2),
        "1 completed events for n=2": ([partial(0), done], 2, 1),
        "after the last completed": ([done, partial(0)], 1, 1),
        "usage on a partial": (
            [("image_generation.partial_image", {**partial(0)[1], **usage})],
            1,
            1,
        ),
        "carries type": ([("image_generation.completed", {"type": "x", **usage})], 1, 0),
        "without usage": ([("image_generation.completed", done[1] | {"usage": None})], 1, 0),
    }
    for expected, (events, n, k) in breaches.items():
        with pytest.raises(AssertionError, match=expected.replace("[", r"\[")):
            judge_stream(op, events, n, k)
