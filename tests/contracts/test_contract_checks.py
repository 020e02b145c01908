"""Deliberately broken emulators, each caught by its named check."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from contracts import run_contract
from tests.helpers import RunningServer, fast_app
from tests.support.contracts import (
    KEY,
    PROVIDERS,
    Reshape,
    contract_app,
    status_goes_back,
    target_of,
    wrong_image_size,
)


def test_a_status_that_goes_back_is_caught_by_queue_lifecycle(
    serve: Callable[[Any], RunningServer],
) -> None:
    server = serve(status_goes_back(contract_app()))
    report = run_contract(
        "seacloud", target_of(server, "seacloud"), api_key=KEY, checks=["queue_lifecycle"]
    )
    assert report.failed_checks() == {"queue_lifecycle"}
    (failure,) = report.failures()
    assert failure.operation == "GET /v1/queue/gpt_image_1_5/requests/{request_id}/status"
    assert "IN_PROGRESS" in failure.detail
    assert failure.request.startswith("GET ")
    assert "/status" in failure.request
    assert "<redacted>" in failure.request
    assert KEY not in failure.request
    assert failure.response.startswith("200")
    assert "IN_PROGRESS" in failure.response


def test_a_wrong_image_size_is_caught_by_image_properties(
    serve: Callable[[Any], RunningServer],
) -> None:
    server = serve(wrong_image_size(contract_app()))
    report = run_contract(
        "openai", server.base_url, api_key=KEY, checks=["image_properties", "stream_events"]
    )
    assert report.failed_checks() == {"image_properties"}
    (failure,) = report.failures()
    assert failure.operation == "POST /v1/images/generations"
    assert "size 512x512, asked 1024x1024" in failure.detail
    assert '"model":"gpt-image-1-mini"' in failure.request


def _deadline_app() -> Any:
    """One slot and jobs of about two seconds: a job behind another passes a 0.5 s deadline."""
    return fast_app(api_keys={p: (KEY,) for p in PROVIDERS}, slots=1, time_scale=0.2)


def _deadline_report(server: RunningServer) -> Any:
    return run_contract(
        "seacloud",
        target_of(server, "seacloud"),
        api_key=KEY,
        checks=["queue_start_deadline"],
        timeout=10.0,
    )


def test_a_passed_start_deadline_is_judged_by_queue_start_deadline(
    serve: Callable[[Any], RunningServer],
) -> None:
    report = _deadline_report(serve(_deadline_app()))
    assert report.ok, report.outcomes
    judged = {o.operation for o in report.outcomes}
    assert "GET /v1/queue/gpt_image_1_5/requests/{request_id}/response" in judged


def test_a_504_that_does_not_say_whose_deadline_is_caught(
    serve: Callable[[Any], RunningServer],
) -> None:
    def rewrite(scope: Any, status: int, headers: Any, body: bytes) -> Any:
        kept = [(k, v) for k, v in headers if k.lower() != b"x-fal-request-timeout-type"]
        return status, kept, body

    server = serve(
        Reshape(_deadline_app(), lambda s: str(s["path"]).endswith("/response"), rewrite)
    )
    report = _deadline_report(server)
    assert report.failed_checks() == {"queue_start_deadline"}
    (failure,) = report.failures()
    assert "the result of a timed-out job: 504" in failure.detail
