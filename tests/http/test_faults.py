"""Fault plans against real servers: every action on every protocol, the official openai SDK's
retries meeting planned 429s and 503s, ``times``/``after``/``probability`` against a plain
model, seeded repeatability, plans from the config file, and plans shared by two processes on
one Redis."""

from __future__ import annotations

import signal
import socket
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from openai import OpenAI
from openai.types import ImageEditPartialImageEvent, ImageGenPartialImageEvent
from starlette.applications import Starlette

from emulator.domain.records import fault_draw
from emulator.http.middleware.faults import ConnectionDropped
from emulator.settings import Settings, SettingsError
from tests.helpers import (
    RunningServer,
    asgi_client,
    events,
    examples,
    fast_app,
    make_app,
    png_bytes,
)
from tests.load.topology import CONTROL, start_replica
from tests.seeds import SEED_GPT_IMAGE_1
from tests.support.faults import AA_BODY, IMAGES_BODY, add_plan, plans, requests_counted

pytestmark = pytest.mark.server

Serve = Callable[[Starlette], RunningServer]
QUEUE = {"Authorization": "Key k"}
BEARER = {"Authorization": "Bearer sk-test"}
SUBMIT = "/model/v1/queue/gpt_image_1"
GENERATE = "/v1/images/generations"
AA = "/api/v1/image/generation"


@pytest.fixture
def server(serve: Serve) -> RunningServer:
    return serve(fast_app())


@pytest.fixture
def http(server: RunningServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.base_url, timeout=10) as client:
        yield client


_OPENED: list[OpenAI] = []


@pytest.fixture(autouse=True)
def _close_sdk_clients() -> Iterator[None]:
    yield
    while _OPENED:
        _OPENED.pop().close()


def sdk(server: RunningServer, max_retries: int = 0) -> OpenAI:
    client = OpenAI(
        base_url=server.base_url + "/v1",
        api_key="sk-test",
        max_retries=max_retries,
        _strict_response_validation=True,
    )
    _OPENED.append(client)
    return client


def submit(http: httpx.Client, **kw: Any) -> httpx.Response:
    return http.post(SUBMIT, json=SEED_GPT_IMAGE_1, headers={**QUEUE, **kw.pop("headers", {})})


def raw_get(base_url: str, path: str, headers: dict[str, str]) -> tuple[dict[str, str], bytes]:
    """One GET over a bare socket, read to the end: the head's fields and the body as sent."""
    host, port = base_url.removeprefix("http://").split(":")
    lines = [f"GET {path} HTTP/1.1", f"Host: {host}", *(f"{k}: {v}" for k, v in headers.items())]
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    fields = dict(
        line.split(": ", 1) for line in head.decode("latin-1").split("\r\n")[1:] if ": " in line
    )
    return {k.lower(): v for k, v in fields.items()}, body


# -- the queue: submit and status -----------------------------------------------------------------


def test_a_planned_429_on_submit_speaks_the_queue_gateways_words(
    server: RunningServer, http: httpx.Client
) -> None:
    made = add_plan(
        server.base_url,
        match={"provider": "seacloud", "operation": "submit"},
        action={"kind": "error", "status": 429, "retry_after": 2.5},
        times=1,
    )
    assert made["id"] == "plan_1"
    refused = submit(http)
    assert refused.status_code == 429
    assert refused.headers["retry-after"] == "3"
    body = refused.json()
    assert body["error"] == {
        "code": "RATE_LIMIT_EXCEEDED",
        "message": "Rate limit exceeded, please try again later",
    }
    assert len(body["request_id"]) == 36
    assert submit(http).status_code == 200
    (listed,) = plans(server.base_url)
    assert (listed["seen"], listed["applied"], listed["spent"]) == (1, 1, True)


def test_planned_errors_on_status_reads(server: RunningServer, http: httpx.Client) -> None:
    status_url = submit(http).json()["status_url"]
    add_plan(
        server.base_url,
        match={"provider": "seacloud", "operation": "status"},
        action={"kind": "error", "status": 404},
        times=1,
    )
    add_plan(
        server.base_url,
        match={"operation": "status"},
        action={"kind": "error", "status": 401},
        times=1,
    )
    missing = http.get(status_url, headers=QUEUE)
    assert (missing.status_code, missing.json()) == (404, {"detail": "Request not found"})
    refused = http.get(status_url, headers=QUEUE)
    assert refused.status_code == 401
    assert refused.json()["error"] == {"code": "UNAUTHORIZED", "message": "Invalid API key"}
    assert http.get(status_url, headers=QUEUE).status_code == 200


def test_a_delay_holds_a_status_read(server: RunningServer, http: httpx.Client) -> None:
    status_url = submit(http).json()["status_url"]
    add_plan(server.base_url, match={"path": "*/status"}, action={"kind": "delay", "seconds": 0.4})
    started = time.monotonic()
    answer = http.get(status_url, headers=QUEUE)
    assert answer.status_code == 200
    assert time.monotonic() - started >= 0.4


def test_a_drop_closes_the_connection_before_the_submit_is_served(
    server: RunningServer, http: httpx.Client
) -> None:
    add_plan(
        server.base_url,
        match={"provider": "seacloud", "operation": "submit"},
        action={"kind": "drop"},
        times=1,
    )
    with pytest.raises(httpx.RemoteProtocolError, match="without sending a response"):
        submit(http)
    assert http.get("/_emulator/jobs").json()["total"] == 0
    assert submit(http).status_code == 200


def test_a_truncated_status_body_stops_short_of_its_length(
    server: RunningServer, http: httpx.Client
) -> None:
    status_url = submit(http).json()["status_url"]
    add_plan(
        server.base_url,
        match={"operation": "status"},
        action={"kind": "truncate", "bytes": 10},
        times=2,
    )
    path = status_url.removeprefix(server.base_url)
    head, body = raw_get(server.base_url, path, QUEUE)
    assert int(head["content-length"]) > 10
    assert body == b'{"status":'
    with pytest.raises(httpx.RemoteProtocolError):
        http.get(status_url, headers=QUEUE)


def test_an_outcome_ends_the_job_with_its_error_type(
    server: RunningServer, http: httpx.Client
) -> None:
    add_plan(
        server.base_url,
        match={"provider": "seacloud"},
        action={"kind": "outcome", "error_type": "INFERENCE_TIMEOUT"},
        times=1,
    )
    job = submit(http).json()
    final = _completed(http, job["status_url"])
    assert (final["error_type"], final["error"]) == (
        "INFERENCE_TIMEOUT",
        "Task execution timed out",
    )
    result = http.get(job["response_url"], headers=QUEUE)
    assert (result.status_code, result.json()["error_type"]) == (500, "INFERENCE_TIMEOUT")
    assert "error_type" not in _completed(http, submit(http).json()["status_url"])


def _completed(http: httpx.Client, status_url: str) -> dict[str, Any]:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        body: dict[str, Any] = http.get(status_url, headers=QUEUE).json()
        if body["status"] == "COMPLETED":
            return body
        time.sleep(0.02)
    raise AssertionError("the job did not complete")


def test_a_slow_queue_shrinks_the_pool_and_lengthens_the_service(serve: Serve) -> None:
    # A virtual clock that stands still; positions counted (SeaCloud's page fixes them at 0).
    served = serve(make_app(latency_sigma=0, queue_position_zero=()))
    with httpx.Client(base_url=served.base_url, timeout=10) as http:
        plain = submit(http).json()
        add_plan(
            served.base_url,
            match={"provider": "seacloud", "model": "gpt_image_1"},
            action={"kind": "slow_queue", "slots": 1, "service_factor": 3},
            times=2,
        )
        slow = [submit(http).json() for _ in range(2)]
        statuses = [http.get(j["status_url"], headers=QUEUE).json() for j in (plain, *slow)]
        # One slot: the first slow job waits for the job already running, the second for both.
        assert [s["status"] for s in statuses] == ["IN_PROGRESS", "IN_QUEUE", "IN_QUEUE"]
        assert [s.get("queue_position") for s in statuses[1:]] == [0, 1]
        http.post("/_emulator/clock", json={"advance": 10_000})
        times = [
            http.get(j["status_url"], headers=QUEUE).json()["metrics"]["inference_time"]
            for j in (plain, *slow)
        ]
        assert times[1] == pytest.approx(3 * times[0]) == pytest.approx(times[2])


def test_a_stream_cut_is_refused_where_nothing_streams(server: RunningServer) -> None:
    answer = httpx.post(
        f"{server.base_url}/_emulator/faults",
        json={"match": {"provider": "seacloud"}, "action": {"kind": "stream_cut"}},
    )
    assert answer.status_code == 400
    assert answer.json()["detail"].startswith("action.kind: stream_cut cuts an event stream")


def test_a_stream_cut_ends_a_stream_of_the_aa_provider(
    server: RunningServer, http: httpx.Client
) -> None:
    add_plan(
        server.base_url,
        match={"provider": "aa"},
        action={"kind": "stream_cut", "after_events": 1},
        times=1,
    )
    body = {**AA_BODY, "stream": True, "partial_images": "2"}
    cut = http.post(AA, json=body, headers=BEARER)
    assert [name for name, _ in events(cut.text)] == ["image_edit.partial_image"]
    whole = http.post(AA, json=body, headers=BEARER)
    assert [name for name, _ in events(whole.text)][-1] == "image_edit.completed"


# -- OpenAI, through the official SDK and its own retries -----------------------------------------


def test_the_sdk_retries_two_planned_429s_and_then_succeeds(server: RunningServer) -> None:
    add_plan(
        server.base_url,
        match={"provider": "openai", "operation": "images.generate"},
        action={"kind": "error", "status": 429, "retry_after": 0.01},
        times=2,
    )
    result = sdk(server, max_retries=2).images.generate(**IMAGES_BODY)  # type: ignore[arg-type]
    assert result.data is not None
    assert len(result.data) == 1
    assert requests_counted(server.base_url, "openai", "images.generate") == {429: 2, 200: 1}


def test_the_sdk_gives_up_on_planned_503s_after_its_retries(server: RunningServer) -> None:
    add_plan(
        server.base_url,
        match={"provider": "openai"},
        action={"kind": "error", "status": 503, "retry_after": 0.01},
        times=3,
    )
    with pytest.raises(openai.InternalServerError) as caught:
        sdk(server, max_retries=2).images.generate(**IMAGES_BODY)  # type: ignore[arg-type]
    assert caught.value.status_code == 503
    assert caught.value.body == {
        "message": "The engine is currently overloaded, please try again later.",
        "type": "server_error",
        "param": None,
        "code": None,
    }
    assert caught.value.response.headers["retry-after-ms"] == "10"
    assert caught.value.request_id is not None
    assert requests_counted(server.base_url, "openai", "images.generate") == {503: 3}
    # The plan is spent: the next call goes through.
    assert sdk(server).images.generate(**IMAGES_BODY).data  # type: ignore[arg-type]


def test_the_sdk_retries_a_dropped_connection(server: RunningServer) -> None:
    add_plan(server.base_url, match={"provider": "openai"}, action={"kind": "drop"}, times=1)
    with pytest.raises(openai.APIConnectionError):
        sdk(server).images.generate(**IMAGES_BODY)  # type: ignore[arg-type]
    add_plan(server.base_url, match={"provider": "openai"}, action={"kind": "drop"}, times=1)
    assert sdk(server, max_retries=1).images.generate(**IMAGES_BODY).data  # type: ignore[arg-type]
    assert [p["applied"] for p in plans(server.base_url)] == [1, 1]
    assert requests_counted(server.base_url, "openai", "images.generate").get(200) == 1


def test_an_edit_waits_out_a_delay_and_answers_a_planned_400(server: RunningServer) -> None:
    client = sdk(server)
    image = png_bytes((64, 64))
    add_plan(
        server.base_url,
        match={"operation": "images.edit"},
        action={"kind": "delay", "seconds": 0.3},
        times=1,
    )
    started = time.monotonic()
    edited = client.images.edit(image=image, prompt="a hat", model="gpt-image-1", quality="low")
    assert edited.data
    assert time.monotonic() - started >= 0.3
    add_plan(
        server.base_url,
        match={"provider": "openai", "operation": "images.edit"},
        action={"kind": "error", "status": 400},
        times=1,
    )
    with pytest.raises(openai.BadRequestError) as caught:
        client.images.edit(image=image, prompt="a hat", model="gpt-image-1", quality="low")
    assert caught.value.body == {
        "message": "Bad Request.",
        "type": "invalid_request_error",
        "param": None,
        "code": None,
    }


def test_a_truncated_generation_is_an_incomplete_body(
    server: RunningServer, http: httpx.Client
) -> None:
    add_plan(server.base_url, match={"path": GENERATE}, action={"kind": "truncate"}, times=1)
    with pytest.raises(httpx.RemoteProtocolError, match=r"incomplete|complete message body"):
        http.post(GENERATE, json=IMAGES_BODY, headers=BEARER)
    assert http.post(GENERATE, json=IMAGES_BODY, headers=BEARER).status_code == 200


def test_a_generation_stream_ends_without_its_completed_event(server: RunningServer) -> None:
    add_plan(
        server.base_url,
        match={"provider": "openai"},
        action={"kind": "stream_cut", "after_events": 1},
        times=2,
    )
    client = sdk(server)
    # A plain call is no stream: the stream-cut plan does not take it.
    assert client.images.generate(**IMAGES_BODY).data  # type: ignore[arg-type]
    stream = client.images.generate(**IMAGES_BODY, stream=True, partial_images=2)  # type: ignore[call-overload]
    assert [type(event) for event in stream] == [ImageGenPartialImageEvent]
    edit = client.images.edit(
        image=png_bytes((64, 64)), prompt="a hat", model="gpt-image-1", stream=True,
        partial_images=2, quality="low",
    )  # fmt: skip
    assert [type(event) for event in edit] == [ImageEditPartialImageEvent]
    (plan,) = plans(server.base_url)
    assert (plan["seen"], plan["applied"]) == (2, 2)
    whole = client.images.generate(**IMAGES_BODY, stream=True, partial_images=1)  # type: ignore[call-overload]
    assert len(list(whole)) == 2


def test_an_outcome_fails_a_generation(server: RunningServer) -> None:
    add_plan(
        server.base_url,
        match={"provider": "openai", "operation": "images.generate"},
        action={"kind": "outcome", "error_type": "INFERENCE_TIMEOUT"},
        times=1,
    )
    with pytest.raises(openai.InternalServerError) as caught:
        sdk(server).images.generate(**IMAGES_BODY)  # type: ignore[arg-type]
    assert caught.value.body == {
        "message": "Request timed out.",
        "type": "server_error",
        "param": None,
        "code": "server_error",
    }


def test_a_slow_queue_lengthens_a_generation(serve: Serve) -> None:
    served = serve(make_app(clock="real", clock_start=None, time_scale=0.005, latency_sigma=0))
    client = sdk(served)
    started = time.monotonic()
    client.images.generate(**IMAGES_BODY)  # type: ignore[arg-type]
    plain = time.monotonic() - started
    add_plan(served.base_url, action={"kind": "slow_queue", "service_factor": 8}, times=1)
    started = time.monotonic()
    client.images.generate(**IMAGES_BODY)  # type: ignore[arg-type]
    assert time.monotonic() - started > 2 * plain


# -- AGCloud --------------------------------------------------------------------------------------


def test_agcloud_edits_meet_a_503_a_model_match_and_a_stream_cut(
    server: RunningServer, http: httpx.Client
) -> None:
    image = ("image", ("in.png", png_bytes((64, 64)), "image/png"))

    def edit(model: str, **fields: str) -> httpx.Response:
        data = {"prompt": "a hat", "model": model, "quality": "low", **fields}
        return http.post("/v1/image/edits", data=data, files=[image], headers=BEARER)

    add_plan(
        server.base_url,
        match={"provider": "agcloud", "model": "gpt-image-1.5"},
        action={"kind": "error", "status": 503},
    )
    refused = edit("gpt-image-1.5")
    assert refused.status_code == 503
    assert refused.json()["error"]["message"] == (
        "The engine is currently overloaded, please try again later."
    )
    assert refused.headers["x-request-id"].startswith("req_")
    assert edit("gpt-image-1").status_code == 200  # another model: the plan does not match
    http.delete("/_emulator/faults")
    add_plan(
        server.base_url,
        match={"provider": "agcloud"},
        action={"kind": "stream_cut", "after_events": 2},
    )
    cut = edit("gpt-image-1", stream="true", partial_images="3")
    assert [name for name, _ in events(cut.text)] == ["image_edit.partial_image"] * 2


# -- 典名词元: generate, task, upload ------------------------------------------------------------


def test_aa_planned_errors_in_the_envelope(server: RunningServer, http: httpx.Client) -> None:
    add_plan(
        server.base_url,
        match={"provider": "aa", "operation": "aa.generate"},
        action={"kind": "error", "status": 429},
        times=1,
    )
    add_plan(
        server.base_url, match={"operation": "aa.task"}, action={"kind": "error", "status": 404}
    )
    add_plan(
        server.base_url, match={"operation": "aa.upload"}, action={"kind": "error", "status": 500}
    )
    limited = http.post(AA, json=AA_BODY, headers=BEARER)
    assert limited.status_code == 429
    assert limited.headers["retry-after"] == "1"
    body = limited.json()
    assert (body["code"], body["message"], body["data"]) == (
        429,
        "Rate limit exceeded, please try again later.",
        None,
    )
    assert body["request_id"] == limited.headers["x-request-id"]
    task = http.post(AA, json={**AA_BODY, "async": True}, headers=BEARER).json()["data"]
    missing = http.get(f"{AA}/{task['task_id']}", headers=BEARER)
    assert (missing.status_code, missing.json()["message"]) == (404, "Not found.")
    files = {"file": ("a.png", png_bytes((8, 8)), "image/png")}
    failed = http.post("/api/v1/files", files=files, headers=BEARER)
    assert (failed.status_code, failed.json()["message"]) == (500, "Internal server error.")


def test_aa_delay_drop_and_truncate(server: RunningServer, http: httpx.Client) -> None:
    task = http.post(AA, json={**AA_BODY, "async": True}, headers=BEARER).json()["data"]
    add_plan(
        server.base_url, match={"operation": "aa.task"}, action={"kind": "delay", "seconds": 0.3}
    )
    started = time.monotonic()
    assert http.get(f"{AA}/{task['task_id']}", headers=BEARER).status_code == 200
    assert time.monotonic() - started >= 0.3
    add_plan(server.base_url, match={"operation": "aa.upload"}, action={"kind": "drop"}, times=1)
    files = {"file": ("a.png", png_bytes((8, 8)), "image/png")}
    with pytest.raises(httpx.RemoteProtocolError):
        http.post("/api/v1/files", files=files, headers=BEARER)
    add_plan(server.base_url, match={"path": AA}, action={"kind": "truncate"}, times=1)
    with pytest.raises(httpx.RemoteProtocolError):
        http.post(AA, json=AA_BODY, headers=BEARER)


def test_aa_outcome_and_slow_queue(serve: Serve) -> None:
    served = serve(make_app(latency_sigma=0))  # a virtual clock
    with httpx.Client(base_url=served.base_url, timeout=10, headers=BEARER) as http:
        add_plan(
            served.base_url,
            match={"provider": "aa"},
            action={"kind": "outcome", "error_type": "INFERENCE_TIMEOUT"},
            times=1,
        )
        failing = http.post(AA, json={**AA_BODY, "async": True}).json()["data"]
        plain = http.post(AA, json={**AA_BODY, "async": True}).json()["data"]
        add_plan(
            served.base_url,
            match={"provider": "aa"},
            action={"kind": "slow_queue", "service_factor": 4},
            times=1,
        )
        slow = http.post(AA, json={**AA_BODY, "async": True}).json()["data"]
        http.post("/_emulator/clock", json={"advance": 10_000})
        read = {
            name: http.get(f"{AA}/{task['task_id']}").json()
            for name, task in (("failing", failing), ("plain", plain), ("slow", slow))
        }
    assert read["failing"]["data"]["task_status"] == "failed"
    assert read["failing"]["message"] == "Image generation failed: the task timed out."
    seconds = read["plain"]["data"]["usage"]["seconds"]
    assert read["slow"]["data"]["usage"]["seconds"] == pytest.approx(4 * seconds, rel=1e-3)


# -- what a plan matches --------------------------------------------------------------------------


def test_a_plan_matches_a_key_a_test_id_and_a_path(
    server: RunningServer, http: httpx.Client
) -> None:
    add_plan(
        server.base_url,
        match={"key": "sk-victim", "test_id": "test-1", "path": "/v1/images/*"},
        action={"kind": "error", "status": 500},
    )
    victim = {"Authorization": "Bearer sk-victim"}
    assert http.post(GENERATE, json=IMAGES_BODY, headers=victim).status_code == 200
    tagged = {**victim, "X-Imgemu-Test-Id": "test-1"}
    assert http.post(GENERATE, json=IMAGES_BODY, headers=tagged).status_code == 500
    other = {**BEARER, "X-Imgemu-Test-Id": "test-1"}
    assert http.post(GENERATE, json=IMAGES_BODY, headers=other).status_code == 200


def test_a_json_bodys_model_and_the_documents_default(
    server: RunningServer, http: httpx.Client
) -> None:
    add_plan(
        server.base_url,
        match={"provider": "openai", "model": "gpt-image-1.5"},
        action={"kind": "error", "status": 429},
    )
    assert http.post(GENERATE, json=IMAGES_BODY, headers=BEARER).status_code == 200
    other = {**IMAGES_BODY, "model": "gpt-image-1.5"}
    limited = http.post(GENERATE, json=other, headers=BEARER)
    assert limited.status_code == 429
    assert "retry-after" not in limited.headers  # the plan gave no retry_after
    assert limited.json()["error"]["code"] == "rate_limit_exceeded"


# -- times, after, probability; a seeded run repeats ----------------------------------------------


class Counted:
    """A plan as the test counts it (the rule in words): the first ``after`` matching requests
    pass, then each is faulted with ``probability`` until ``times`` were; then it is spent."""

    def __init__(self, plan_id: str, model: str | None, after: int, times: int | None, p: float):
        self.plan_id, self.model, self.after, self.times, self.p = plan_id, model, after, times, p
        self.seen = self.applied = 0

    def takes(self, model: str) -> bool:
        live = self.times is None or self.applied < self.times
        return live and (self.model is None or self.model == model)

    def faults(self, seed: int) -> bool:
        self.seen += 1
        n = self.seen - self.after
        hit = n > 0 and (self.p == 1 or (self.p > 0 and fault_draw(seed, self.plan_id, n) < self.p))
        self.applied += hit
        return hit


plan_terms = st.tuples(
    st.sampled_from([None, "gpt_image_1", "gpt_image_2"]),
    st.integers(0, 3),
    st.none() | st.integers(1, 3),
    st.sampled_from([0.0, 0.5, 1.0]),
)


@settings(
    max_examples=examples(0.3),
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    terms=st.lists(plan_terms, min_size=1, max_size=3),
    requests=st.lists(st.sampled_from(["gpt_image_1", "gpt_image_2"]), max_size=12),
)
def test_times_after_and_probability_as_the_plain_model_counts_them(
    server: RunningServer,
    terms: list[tuple[str | None, int, int | None, float]],
    requests: list[str],
) -> None:
    base = server.base_url
    httpx.post(f"{base}/_emulator/reset")
    model = []
    for status, (model_id, after, times, p) in zip((429, 402, 400), terms, strict=False):
        match = {"provider": "seacloud", "operation": "submit"}
        if model_id:
            match["model"] = model_id
        made = add_plan(
            base, match=match, action={"kind": "error", "status": status},
            after=after, times=times, probability=p,
        )  # fmt: skip
        model.append((status, Counted(made["id"], model_id, after, times, p)))
    with httpx.Client(base_url=base, headers=QUEUE, timeout=10) as http:
        for model_id in requests:
            expected = 200
            for status, counted in model:
                if counted.takes(model_id):
                    expected = status if counted.faults(0) else 200
                    break
            answer = http.post(f"/model/v1/queue/{model_id}", json=SEED_GPT_IMAGE_1)
            assert answer.status_code == expected, (model_id, answer.text)
    assert [(p["seen"], p["applied"]) for p in plans(base)] == [
        (c.seen, c.applied) for _, c in model
    ]


def _faulted(base_url: str, count: int) -> list[int]:
    add_plan(
        base_url,
        match={"provider": "seacloud", "operation": "submit"},
        action={"kind": "error", "status": 429},
        probability=0.5,
    )
    with httpx.Client(base_url=base_url, headers=QUEUE, timeout=10) as http:
        return [http.post(SUBMIT, json=SEED_GPT_IMAGE_1).status_code for _ in range(count)]


def test_a_seeded_probability_repeats_run_after_run(serve: Serve) -> None:
    runs = [_faulted(serve(fast_app(seed=seed)).base_url, 40) for seed in (5, 5, 6)]
    assert runs[0] == runs[1]
    assert runs[0] != runs[2]
    assert 8 < runs[0].count(429) < 32
    assert runs[0] == [429 if fault_draw(5, "plan_1", n) < 0.5 else 200 for n in range(1, 41)]


# -- the control plane ----------------------------------------------------------------------------


def test_plans_are_listed_deleted_and_forgotten_at_reset(
    server: RunningServer, http: httpx.Client
) -> None:
    one = add_plan(server.base_url, action={"kind": "drop"}, match={"test_id": "a"})
    add_plan(server.base_url, action={"kind": "drop"}, match={"test_id": "b"})
    add_plan(server.base_url, action={"kind": "drop"}, match={"test_id": "b"})
    assert [p["id"] for p in plans(server.base_url)] == ["plan_1", "plan_2", "plan_3"]
    only_b = http.get("/_emulator/faults", params={"test_id": "b"}).json()["faults"]
    assert [p["id"] for p in only_b] == ["plan_2", "plan_3"]
    assert http.delete("/_emulator/faults", params={"test_id": "b"}).json() == {"deleted": 2}
    assert http.delete(f"/_emulator/faults/{one['id']}").json() == {"deleted": 1}
    gone = http.delete("/_emulator/faults/plan_1")
    assert (gone.status_code, gone.json()) == (404, {"detail": "No fault plan 'plan_1'"})
    add_plan(server.base_url, action={"kind": "drop"})
    assert http.post("/_emulator/reset").status_code == 200
    assert plans(server.base_url) == []
    assert submit(http).status_code == 200
    bad = http.post("/_emulator/faults", json={"action": {"kind": "error", "status": 418}})
    assert bad.status_code == 400
    assert bad.json()["detail"].startswith("action.status: 418 is not an answer")
    assert http.post("/_emulator/faults", content=b"[").status_code == 400


def test_plans_from_the_settings_apply_from_the_start_and_again_after_a_reset(
    serve: Serve,
) -> None:
    plan = {
        "match": {"provider": "seacloud", "operation": "submit"},
        "action": {"kind": "error", "status": 402},
        "times": 1,
    }
    served = serve(fast_app(faults=[plan]))
    with httpx.Client(base_url=served.base_url, timeout=10) as http:
        (listed,) = plans(served.base_url)
        assert (listed["id"], listed["times"]) == ("plan_1", 1)
        assert submit(http).status_code == 402
        assert submit(http).status_code == 200
        http.post("/_emulator/reset")
        (again,) = plans(served.base_url)
        assert (again["id"], again["applied"]) == ("plan_1", 0)
        assert submit(http).status_code == 402


def test_the_config_files_delay_ends_at_once_when_the_server_stops(tmp_path: Path) -> None:
    config = tmp_path / "imgemu.toml"
    config.write_text(
        'log_requests = "off"\n\n[[faults]]\nmatch = { provider = "openai" }\n'
        'action = { kind = "delay", seconds = 60 }\n',
        encoding="utf-8",
    )
    served = start_replica(tmp_path, "delayed", "--config", str(config))
    try:
        assert plans(served.url)[0]["action"] == {"kind": "delay", "seconds": 60.0}
        with httpx.Client(base_url=served.url, timeout=30) as http, ThreadPoolExecutor(1) as pool:
            waiting = pool.submit(http.post, GENERATE, json=IMAGES_BODY, headers=BEARER)
            time.sleep(0.5)
            assert not waiting.done()
            started = time.monotonic()
            served.process.send_signal(signal.SIGTERM)
            answer = waiting.result(timeout=20)
        assert time.monotonic() - started < 10
        assert answer.status_code == 503
        assert answer.json()["error"]["message"] == (
            "The server is shutting down. Please retry your request."
        )
    finally:
        served.stop()


def test_a_bad_plan_in_the_settings_stops_the_start_naming_it() -> None:
    with pytest.raises(SettingsError) as caught:
        Settings(faults=[{"action": {"kind": "error", "status": 418}}])
    assert str(caught.value).startswith("faults: plan 0: action.status: 418 is not an answer")


# -- two processes, one Redis ---------------------------------------------------------------------


def test_plans_are_shared_by_two_processes_on_one_redis(tmp_path: Path, redis_url: str) -> None:
    one = start_replica(tmp_path, "one", "--store", redis_url, "--time-scale", "1e-9")
    two = start_replica(
        tmp_path, "two", "--store", redis_url, "--time-scale", "1e-9", "--seed", "1"
    )
    try:
        add_plan(
            one.url,
            match={"provider": "seacloud", "operation": "submit"},
            action={"kind": "error", "status": 429},
            after=1,
            times=3,
        )
        statuses = []
        for index in range(8):
            target = (one, two)[index % 2].url
            answer = httpx.post(target + SUBMIT, json=SEED_GPT_IMAGE_1, headers=QUEUE)
            statuses.append(answer.status_code)
        # The first request, to the second process just after the first answered, is counted:
        # ``after`` lets it pass; the next three, whichever process serves them, are faulted.
        assert statuses == [200, 429, 429, 429, 200, 200, 200, 200]
        (plan,) = plans(two.url)
        assert (plan["seen"], plan["applied"], plan["spent"]) == (4, 3, True)
        gone = httpx.delete(f"{two.url}/_emulator/faults", headers=CONTROL)
        assert gone.json() == {"deleted": 1}
        assert plans(one.url) == []
    finally:
        one.stop()
        two.stop()


@pytest.mark.anyio
async def test_a_server_without_the_close_extension_ends_a_drop_itself() -> None:
    """In process (no ``CLOSE`` extension) a drop raises, and the server decides: uvicorn's
    own protocol answers 500, httpx's ASGI transport passes the error on."""
    app = fast_app()
    async with asgi_client(app, QUEUE) as client:
        await client.post(
            "/_emulator/faults",
            json={"match": {"operation": "submit"}, "action": {"kind": "drop"}, "times": 1},
        )
        with pytest.raises(ConnectionDropped, match="plan_1"):
            await client.post(SUBMIT, json=SEED_GPT_IMAGE_1)
        assert (await client.post(SUBMIT, json=SEED_GPT_IMAGE_1)).status_code == 200


@pytest.mark.slow  # the everyday counterpart: two processes on one Redis, above
def test_plans_hold_across_the_workers_of_one_server(tmp_path: Path, redis_url: str) -> None:
    served = start_replica(
        tmp_path, "workers", "--workers", "2", "--store", redis_url, "--time-scale", "1e-9"
    )
    try:
        add_plan(
            served.url,
            match={"provider": "seacloud", "operation": "submit"},
            action={"kind": "error", "status": 429},
            after=2,
            times=4,
        )

        def one(_: int) -> int:  # a new connection each time: the kernel spreads them
            answer = httpx.post(served.url + SUBMIT, json=SEED_GPT_IMAGE_1, headers=QUEUE)
            return answer.status_code

        with ThreadPoolExecutor(4) as pool:
            statuses = list(pool.map(one, range(16)))
        assert statuses.count(429) == 4
        assert statuses.count(200) == 12
        (plan,) = plans(served.url)
        assert (plan["seen"], plan["applied"], plan["spent"]) == (6, 4, True)
    finally:
        served.stop()
