"""Runtime settings against real servers: ``GET``/``PATCH /_emulator/config`` show and change
the time scale, failure rate, blocked terms, slots and rate limits for the requests that follow,
checked as the settings are at start, in every process sharing the store."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from tests.helpers import RunningServer, fast_app, make_app
from tests.load.topology import CONTROL, start_replica
from tests.seeds import SEED_GPT_IMAGE_1
from tests.support.faults import IMAGES_BODY

pytestmark = pytest.mark.server

Serve = Callable[[Starlette], RunningServer]
QUEUE = {"Authorization": "Key k"}
BEARER = {"Authorization": "Bearer sk-test"}
SUBMIT = "/model/v1/queue/gpt_image_1"
START = {
    "time_scale": 1e-09,
    "failure_rate": 0.0,
    "blocked_terms": [],
    "slots": 16,
    "model_slots": {},
    "rate_limit": {"limit": 0, "window_seconds": 60.0},
    "openai_rpm": 0,
    "openai_ipm": 0,
    "agcloud_rpm": 0,
    "agcloud_ipm": 0,
    "queue_rpm": 0,
    "queue_concurrency": 0,
    "aa_rpm": 0,
    "queue_pending_status": 202,
    "queue_cancel_running": "finish",
    "queue_position_zero": ["seacloud"],
    "changed": [],
}


@pytest.fixture
def http(serve: Serve) -> Iterator[httpx.Client]:
    server = serve(fast_app())
    with httpx.Client(base_url=server.base_url, timeout=10) as client:
        yield client


def patch(http: httpx.Client, **changes: Any) -> dict[str, Any]:
    answer = http.patch("/_emulator/config", json=changes)
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


def test_the_configuration_is_shown_changed_and_set_back(http: httpx.Client) -> None:
    assert http.get("/_emulator/config").json() == START
    changed = patch(
        http,
        time_scale=0.5,
        blocked_terms="lighthouse,volcano",
        rate_limit={"limit": 5},
        model_slots={"gpt_image_2": 2},
    )
    assert changed == {
        **START,
        "time_scale": 0.5,
        "blocked_terms": ["lighthouse", "volcano"],
        "rate_limit": {"limit": 5, "window_seconds": 60.0},
        "model_slots": {"gpt_image_2": 2},
        "changed": ["blocked_terms", "model_slots", "rate_limit", "time_scale"],
    }
    assert http.get("/_emulator/config").json() == changed
    assert http.get("/_emulator/clock").json()["time_scale"] == 0.5
    assert http.get("/_emulator/capabilities").json()["time_scale"] == 0.5
    back = patch(http, time_scale=None, blocked_terms=None)
    assert back["time_scale"] == START["time_scale"]
    assert back["changed"] == ["model_slots", "rate_limit"]
    http.post("/_emulator/reset")
    assert http.get("/_emulator/config").json() == START


RUNTIME = (
    "time_scale, failure_rate, blocked_terms, slots, model_slots, rate_limit, openai_rpm, "
    "openai_ipm, agcloud_rpm, agcloud_ipm, queue_rpm, queue_concurrency, aa_rpm, "
    "queue_pending_status, queue_cancel_running, queue_position_zero"
)


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        ({"slots": 0}, "slots: must be greater than or equal to 1 (got 0)"),
        ({"failure_rate": 1.5}, "failure_rate: must be less than or equal to 1 (got 1.5)"),
        ({"time_scale": 0}, "time_scale: must be greater than 0 (got 0)"),
        ({"blocked_terms": ["ok", ""]}, "blocked_terms: terms must not be empty (got ['ok', ''])"),
        (
            {"rate_limit": {"limit": -1}},
            "rate_limit.limit: must be greater than or equal to 0 (got -1)",
        ),
        (
            {"model_slots": {"gpt_image_2": 0}},
            "model_slots.gpt_image_2: must be greater than or equal to 1 (got 0)",
        ),
        ({"seed": 3}, f"seed: cannot change while the emulator runs (these can: {RUNTIME})"),
        ({}, f"Send a JSON object of the settings to change: {RUNTIME}"),
        ([], f"Send a JSON object of the settings to change: {RUNTIME}"),
    ],
)
def test_a_change_is_checked_as_the_settings_are_at_start(
    http: httpx.Client, body: Any, detail: str
) -> None:
    answer = http.patch("/_emulator/config", json=body)
    assert (answer.status_code, answer.json()) == (400, {"detail": detail})
    assert http.get("/_emulator/config").json() == START  # nothing changed


def test_a_change_takes_effect_for_the_next_requests(http: httpx.Client) -> None:
    first = http.post(SUBMIT, json=SEED_GPT_IMAGE_1, headers=QUEUE).json()
    patch(http, failure_rate=1.0)
    second = http.post(SUBMIT, json=SEED_GPT_IMAGE_1, headers=QUEUE).json()
    statuses = [http.get(job["status_url"], headers=QUEUE).json() for job in (first, second)]
    assert [s.get("error_type") for s in statuses] == [None, "INFERENCE_FAILURE"]
    patch(http, failure_rate=0, blocked_terms=["apple"])
    blocked = http.post("/v1/images/generations", json=IMAGES_BODY, headers=BEARER)
    assert (blocked.status_code, blocked.json()["error"]["code"]) == (400, "moderation_blocked")
    patch(http, blocked_terms=[], rate_limit={"limit": 2, "window_seconds": 60})
    answers = [http.post(SUBMIT, json=SEED_GPT_IMAGE_1, headers=QUEUE) for _ in range(3)]
    assert [a.status_code for a in answers] == [200, 200, 429]
    assert answers[2].json()["error"]["code"] == "RATE_LIMIT_EXCEEDED"
    patch(http, rate_limit=None)
    assert http.post(SUBMIT, json=SEED_GPT_IMAGE_1, headers=QUEUE).status_code == 200


def test_fewer_slots_and_a_slower_time_scale_for_a_second_phase(serve: Serve) -> None:
    served = serve(make_app(latency_sigma=0))  # a virtual clock that stands still
    with httpx.Client(base_url=served.base_url, timeout=10, headers=QUEUE) as http:
        running = [http.post(SUBMIT, json=SEED_GPT_IMAGE_1).json() for _ in range(2)]
        patch(http, model_slots={"gpt_image_1": 1}, time_scale=2.0)
        waiting = http.post(SUBMIT, json=SEED_GPT_IMAGE_1).json()
        read = [http.get(job["status_url"]).json() for job in (*running, waiting)]
        assert [r["status"] for r in read] == ["IN_PROGRESS", "IN_PROGRESS", "IN_QUEUE"]
        assert read[2]["queue_position"] == 0
        http.post("/_emulator/clock", json={"advance": 10_000})
        times = [
            http.get(job["status_url"]).json()["metrics"]["inference_time"]
            for job in (running[0], waiting)
        ]
        assert times[1] == pytest.approx(2 * times[0])


def test_a_change_reaches_every_process_sharing_the_store(tmp_path: Path, redis_url: str) -> None:
    one = start_replica(tmp_path, "one", "--store", redis_url, "--time-scale", "1e-9")
    two = start_replica(
        tmp_path, "two", "--store", redis_url, "--time-scale", "1e-9", "--seed", "1"
    )
    try:
        with httpx.Client(timeout=10) as http:
            changed = http.patch(
                f"{one.url}/_emulator/config", json={"blocked_terms": ["apple"]}, headers=CONTROL
            )
            assert changed.status_code == 200
            # Once the change is answered, the other process has it for its next request.
            blocked = http.post(
                f"{two.url}/v1/images/generations", json=IMAGES_BODY, headers=BEARER
            )
            assert blocked.status_code == 400
            config = http.get(f"{two.url}/_emulator/config", headers=CONTROL).json()
            assert config["blocked_terms"] == ["apple"]
            http.post(f"{two.url}/_emulator/reset", headers=CONTROL)
            answer = http.post(f"{one.url}/v1/images/generations", json=IMAGES_BODY, headers=BEARER)
            assert answer.status_code == 200
    finally:
        one.stop()
        two.stop()
