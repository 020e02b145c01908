"""The queue's fal-style rules over a real server: the status code while pending, the job's id in
``x-fal-request-id``, the start deadline ``X-Fal-Request-Timeout``, what a cancel does to a
running job, SeaCloud's fixed ``queue_position``, the status stream and sync call the providers
do not offer, the mask's format, and fal's infrastructure error types."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from emulator.domain.errors import PlannedError
from emulator.domain.pricing import image_cost_usd
from emulator.http.queue import render
from tests.helpers import KEY, RunningServer, data_url, make_app, mask_bytes, png_bytes

Serve = Callable[[Any], RunningServer]
AUTH = {"Authorization": f"Bearer {KEY}"}  # both queue providers take the bearer form
BODY = {"prompt": "A red apple", "quality": "low"}  # gpt-image-1 low 1024x1024: 15 s
SUBMIT = "/model/v1/queue/gpt_image_1"
ODI_SUBMIT = "/odirouter/model/v1/queue/gpt_image_1"


@pytest.fixture
def open_server(serve: Serve) -> Iterator[Callable[..., httpx.Client]]:
    """``open_server(**settings)``: a client on a served virtual-clock emulator."""
    clients: list[httpx.Client] = []

    def start(**settings: Any) -> httpx.Client:
        server = serve(make_app(latency_sigma=0.0, **settings))
        client = httpx.Client(base_url=server.base_url, headers=AUTH, timeout=10)
        clients.append(client)
        return client

    yield start
    for client in clients:
        client.close()


def advance(client: httpx.Client, seconds: float) -> None:
    answer = client.post("/_emulator/clock", json={"advance": seconds})
    assert answer.status_code == 200, answer.text


def submit(client: httpx.Client, path: str = SUBMIT, **headers: str) -> httpx.Response:
    answer = client.post(path, json=BODY, headers=headers)
    assert answer.status_code == 200, answer.text
    return answer


# --- the status code while pending, and x-fal-request-id -------------------------------------


def test_status_answers_202_while_pending_and_200_once_completed(
    open_server: Callable[..., httpx.Client],
) -> None:
    client = open_server(slots=1)
    first = submit(client).json()
    second = submit(client).json()
    queued = client.get(second["status_url"])
    assert queued.status_code == 202
    assert queued.json()["status"] == "IN_QUEUE"
    assert queued.headers["x-fal-request-id"] == second["request_id"]
    running = client.get(first["status_url"])
    assert (running.status_code, running.json()["status"]) == (202, "IN_PROGRESS")
    advance(client, 20)
    done = client.get(first["status_url"])
    assert (done.status_code, done.json()["status"]) == (200, "COMPLETED")
    assert "error" not in done.json()
    assert done.headers["x-fal-request-id"] == first["request_id"]


def test_the_pending_status_code_is_a_setting(open_server: Callable[..., httpx.Client]) -> None:
    client = open_server(queue_pending_status=200)
    job = submit(client).json()
    running = client.get(job["status_url"])
    assert (running.status_code, running.json()["status"]) == (200, "IN_PROGRESS")
    changed = client.patch("/_emulator/config", json={"queue_pending_status": 202})
    assert changed.status_code == 200, changed.text
    assert changed.json()["queue_pending_status"] == 202
    assert client.get(job["status_url"]).status_code == 202
    refused = client.patch("/_emulator/config", json={"queue_pending_status": 201})
    assert refused.status_code == 400
    assert "queue_pending_status" in refused.text


def test_every_answer_about_a_job_names_it(open_server: Callable[..., httpx.Client]) -> None:
    client = open_server()
    answer = submit(client)
    job = answer.json()
    rid = job["request_id"]
    assert answer.headers["x-fal-request-id"] == rid
    assert answer.headers["content-type"] == "application/json"
    not_ready = client.get(job["response_url"])
    assert (not_ready.status_code, not_ready.headers["x-fal-request-id"]) == (202, rid)
    advance(client, 20)
    result = client.get(job["response_url"])
    assert (result.status_code, result.headers["x-fal-request-id"]) == (200, rid)
    again = client.put(job["cancel_url"])
    assert (again.status_code, again.json()) == (400, {"status": "ALREADY_COMPLETED"})
    assert again.headers["x-fal-request-id"] == rid
    unknown = client.get(SUBMIT + "/requests/mmsu_00000000000000000000000000/status")
    assert unknown.status_code == 404
    assert "x-fal-request-id" not in unknown.headers


# --- cancel of a running job ----------------------------------------------------------------


def test_a_running_job_canceled_runs_to_its_end_by_default(
    open_server: Callable[..., httpx.Client],
) -> None:
    client = open_server()
    job = submit(client).json()
    advance(client, 1)
    assert client.get(job["status_url"]).json()["status"] == "IN_PROGRESS"
    cancel = client.put(job["cancel_url"])
    assert (cancel.status_code, cancel.json()) == (202, {"status": "CANCELLATION_REQUESTED"})
    assert cancel.headers["x-fal-request-id"] == job["request_id"]
    assert client.get(job["status_url"]).json()["status"] == "IN_PROGRESS"
    advance(client, 20)
    done = client.get(job["status_url"]).json()
    assert done["status"] == "COMPLETED"
    assert "error_type" not in done
    assert client.get(job["response_url"]).status_code == 200


def test_a_running_job_canceled_ends_canceled_with_the_setting(
    open_server: Callable[..., httpx.Client],
) -> None:
    client = open_server(queue_cancel_running="cancel")
    job = submit(client).json()
    advance(client, 1)
    assert client.put(job["cancel_url"]).status_code == 202
    done = client.get(job["status_url"])
    assert done.status_code == 200
    assert (done.json()["status"], done.json()["error_type"]) == ("COMPLETED", "CANCELED")
    result = client.get(job["response_url"])
    assert result.status_code == 400
    assert result.json() == {"detail": "Request was canceled", "error_type": "CANCELED"}


def test_a_queued_job_canceled_never_starts_whatever_the_setting(
    open_server: Callable[..., httpx.Client],
) -> None:
    client = open_server(slots=1)
    submit(client)
    queued = submit(client).json()
    assert client.put(queued["cancel_url"]).status_code == 202
    status = client.get(queued["status_url"]).json()
    assert (status["status"], status["error_type"]) == ("COMPLETED", "CANCELED")


# --- queue_position per provider -------------------------------------------------------------


def test_seacloud_reports_queue_position_0_and_odirouter_counts(
    open_server: Callable[..., httpx.Client],
) -> None:
    client = open_server(slots=1)
    sea = [submit(client).json() for _ in range(3)]
    odi = [submit(client, ODI_SUBMIT).json() for _ in range(3)]
    assert [job["queue_position"] for job in sea] == [0, 0, 0]
    assert [job["queue_position"] for job in odi] == [0, 0, 1]
    assert client.get(sea[2]["status_url"]).json()["queue_position"] == 0
    assert client.get(odi[2]["status_url"]).json()["queue_position"] == 1
    changed = client.patch("/_emulator/config", json={"queue_position_zero": []})
    assert changed.json()["queue_position_zero"] == []
    queued = client.get(sea[2]["status_url"]).json()
    assert (queued["status"], queued["queue_position"]) == ("IN_QUEUE", 1)


# --- X-Fal-Request-Timeout: a deadline to start ---------------------------------------------


@pytest.mark.parametrize("store", ["memory", "redis"])
def test_a_job_past_its_start_deadline_ends_with_504(
    open_server: Callable[..., httpx.Client], request: pytest.FixtureRequest, store: str
) -> None:
    where = request.getfixturevalue("redis_url") if store == "redis" else "memory"
    client = open_server(slots=1, default_balance_usd=1.0, store=where)
    first = submit(client).json()
    late = submit(client, **{"X-Fal-Request-Timeout": "5"}).json()
    waiting = client.get(late["status_url"])
    assert (waiting.status_code, waiting.json()["status"]) == (202, "IN_QUEUE")
    advance(client, 5)
    ended = client.get(late["status_url"])
    assert ended.status_code == 200
    body = ended.json()
    assert (body["status"], body["error_type"], body["error"]) == (
        "COMPLETED",
        "request_timeout",
        "Request timed out",
    )
    result = client.get(late["response_url"])
    assert result.status_code == 504
    assert result.json() == {"detail": "Request timed out", "error_type": "request_timeout"}
    assert result.headers["x-fal-error-type"] == "request_timeout"
    assert result.headers["x-fal-request-timeout-type"] == "user"
    assert result.headers["x-fal-request-id"] == late["request_id"]
    # The timed-out job never took its slot, and cost nothing: only the first was charged.
    following = submit(client).json()
    advance(client, 10)  # 15 s after the first started: it ends, the next one starts at once
    assert client.get(first["status_url"]).json()["status"] == "COMPLETED"
    assert client.get(following["status_url"]).json()["status"] == "IN_PROGRESS"
    balance = client.get(f"/_emulator/balances/{KEY}").json()
    cost = image_cost_usd("gpt-image-1", "low", 1024, 1024)
    assert balance["usd"] == pytest.approx(1.0 - 2 * cost)


def test_a_job_that_starts_in_time_is_not_timed_out(
    open_server: Callable[..., httpx.Client],
) -> None:
    client = open_server()
    job = submit(client, **{"X-Fal-Request-Timeout": "2"}).json()
    advance(client, 30)
    done = client.get(job["status_url"]).json()
    assert done["status"] == "COMPLETED"
    assert "error_type" not in done
    assert client.get(job["response_url"]).status_code == 200


@pytest.mark.parametrize("value", ["soon", "0.1", "0", "-3", "nan", "inf", ""])
def test_a_malformed_start_deadline_is_a_bad_request(
    open_server: Callable[..., httpx.Client], value: str
) -> None:
    client = open_server()
    answer = client.post(SUBMIT, json=BODY, headers={"X-Fal-Request-Timeout": value})
    assert answer.status_code == 400
    assert answer.json() == {
        "detail": f"Invalid X-Fal-Request-Timeout {value!r}: it must be a number of seconds "
        "greater than 0.1",
        "error_type": "bad_request",
    }
    assert answer.headers["x-fal-error-type"] == "bad_request"


# --- what the providers do not offer ----------------------------------------------------------


@pytest.mark.parametrize("prefix", ["/model", "/seacloud/model", "/odirouter/model"])
def test_the_status_stream_and_the_sync_call_are_not_offered(
    open_server: Callable[..., httpx.Client], prefix: str
) -> None:
    client = open_server()
    job = submit(client, prefix + "/v1/queue/gpt_image_1").json()
    stream = client.get(job["status_url"] + "/stream")
    assert (stream.status_code, stream.json()) == (400, {"detail": "SSE streaming not supported"})
    sync = client.post(prefix + "/v1/queue/gpt_image_1/sync", json=BODY)
    assert (sync.status_code, sync.json()) == (404, {"detail": "Not Found"})
    keyless = httpx.post(str(client.base_url) + prefix + "/v1/queue/gpt_image_1/sync")
    assert (keyless.status_code, keyless.json()) == (404, {"detail": "Not Found"})


# --- the mask's format -------------------------------------------------------------------------


def test_a_mask_in_another_format_than_the_image_is_request_invalid(
    open_server: Callable[..., httpx.Client],
) -> None:
    client = open_server()
    image = data_url(png_bytes((64, 64)))
    webp_mask = data_url(_webp(mask_bytes((64, 64))), "image/webp")
    body = {**BODY, "images": [image], "mask": webp_mask}
    job = client.post("/model/v1/queue/gpt_image_1_edit", json=body).json()
    advance(client, 5)
    status = client.get(job["status_url"]).json()
    assert status["error_type"] == "REQUEST_INVALID"
    assert status["error"] == "mask: The mask must have the edited image's format (PNG), got WEBP."
    same = {**body, "mask": data_url(mask_bytes((64, 64)))}
    fine = client.post("/model/v1/queue/gpt_image_1_edit", json=same).json()
    advance(client, 60)
    assert "error_type" not in client.get(fine["status_url"]).json()


def test_sync_validation_names_the_mask_format(open_server: Callable[..., httpx.Client]) -> None:
    client = open_server(validation="sync")
    image = data_url(png_bytes((64, 64)))
    body = {**BODY, "images": [image], "mask": data_url(_webp(mask_bytes((64, 64))), "image/webp")}
    answer = client.post("/model/v1/queue/gpt_image_1_edit", json=body)
    assert answer.status_code == 422
    assert answer.json()["detail"][0]["loc"] == ["body", "mask"]


def _webp(png: bytes) -> bytes:
    import io

    from PIL import Image

    out = io.BytesIO()
    Image.open(io.BytesIO(png)).save(out, "WEBP", lossless=True)
    return out.getvalue()


# --- fal's infrastructure error types on planned errors -------------------------------------


def test_a_planned_gateway_timeout_carries_fals_error_type(
    open_server: Callable[..., httpx.Client],
) -> None:
    client = open_server()
    job = submit(client).json()
    plan = {
        "match": {"provider": "seacloud", "operation": "result"},
        "action": {"kind": "error", "status": 504},
    }
    assert client.post("/_emulator/faults", json=plan).status_code == 201
    answer = client.get(job["response_url"])
    assert answer.status_code == 504
    assert answer.json() == {"detail": "Gateway Timeout", "error_type": "request_timeout"}
    assert answer.headers["x-fal-error-type"] == "request_timeout"
    assert "x-fal-request-timeout-type" not in answer.headers  # not the caller's deadline


@pytest.mark.parametrize(
    ("status", "detail", "error_type"),
    [
        (500, "Internal server error", "internal_error"),
        (502, "Bad Gateway", "runner_incomplete_response"),
        (503, "Service Unavailable", "runner_scheduling_failure"),
        (504, "Gateway Timeout", "request_timeout"),
    ],
)
def test_planned_infrastructure_errors_name_their_type(
    status: int, detail: str, error_type: str
) -> None:
    answer = render.error_response(PlannedError(status), provider="seacloud", operation="submit")
    assert answer.status_code == status
    assert json.loads(answer.body) == {"detail": detail, "error_type": error_type}
    assert answer.headers["x-fal-error-type"] == error_type
