"""Deliberately broken emulators, each caught by its named check."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from contracts import run_contract
from tests.helpers import RunningServer
from tests.support.contracts import KEY, contract_app, status_goes_back, target_of, wrong_image_size


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
