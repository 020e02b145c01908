"""Verdicts on the client (``GET /_emulator/verdicts``, ``assert_client_behaved()``) against a
real server (``imgemu_server``): each rule fires on a client written to break it, with its
evidence, and stays silent on the reference clients and the official openai SDK meeting planned
429s and 503s; the filters, the floors and test ids keep clients apart."""

from __future__ import annotations

import io
import time
from typing import Any

import fal_client
import httpx
import pytest
from fal_client import client as fal_module
from openai import OpenAI
from PIL import Image

from clients import AAClient, ImagesClient, PollPolicy, QueueClient, RetryPolicy
from imgemu.testing import Emulator

pytestmark = pytest.mark.server

MODEL = "gpt_image_2"
PARAMS = {"prompt": "A red apple", "image_size": "square"}
GENERATE = {"model": "gpt-image-1.5", "prompt": "A red apple"}
AA_BODY = {"model": "gpt-image-1.5", "prompt": "A vase"}
VIRTUAL = pytest.mark.imgemu(clock="virtual")


def png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (64, 64), "navy").save(out, "PNG")
    return out.getvalue()


def names(findings: list[dict[str, Any]]) -> list[str]:
    return [finding["name"] for finding in findings]


def submit(http: httpx.Client) -> str:
    response = http.post(f"/v1/queue/{MODEL}", json=PARAMS)
    assert response.status_code == 200, response.text
    request_id: str = response.json()["request_id"]
    return request_id


def status(http: httpx.Client, request_id: str) -> str:
    response = http.get(f"/v1/queue/{MODEL}/requests/{request_id}/status")
    assert response.status_code in (200, 202), response.text
    state: str = response.json()["status"]
    return state


# -- each rule, broken on purpose ---------------------------------------------------------------


def test_a_retry_before_retry_after_ran_out_is_found(imgemu_server: Emulator) -> None:
    imgemu_server.faults.add(
        match={"provider": "openai"},
        action={"kind": "error", "status": 429, "retry_after": 2},
        times=1,
    )
    http = imgemu_server.client("openai")
    assert http.post("/images/generations", json=GENERATE).status_code == 429
    assert http.post("/images/generations", json=GENERATE).status_code == 200

    (finding,) = imgemu_server.verdicts()
    assert finding["name"] == "retried_before_retry_after"
    assert finding["provider"] == "openai"
    assert finding["test_id"] == imgemu_server.test_id
    assert [e["status"] for e in finding["evidence"]] == [429, 200]
    assert finding["evidence"][0]["retry_after"] == 2.0
    assert "after a 429 that asked it to wait 2.000 s" in finding["message"]
    with pytest.raises(AssertionError) as failed:
        imgemu_server.assert_client_behaved()
    report = str(failed.value)
    assert report.startswith("the client did not behave: 1 finding(s)")
    assert "- retried_before_retry_after (openai" in report
    assert "POST /v1/images/generations 429 rate_limit_exceeded retry_after=2s" in report
    imgemu_server.assert_client_behaved(ignore=["retried_before_retry_after"])


def test_a_5xx_retried_at_once_is_found(imgemu_server: Emulator) -> None:
    imgemu_server.faults.add(
        match={"provider": "openai", "operation": "images.generate"},
        action={"kind": "error", "status": 503},
        times=1,
    )
    http = imgemu_server.client("openai")
    refused = http.post("/images/generations", json=GENERATE)
    assert refused.status_code == 503
    assert "retry-after" not in refused.headers
    assert http.post("/images/generations", json=GENERATE).status_code == 200

    (finding,) = imgemu_server.verdicts()
    assert finding["name"] == "retried_without_backoff"
    assert [e["status"] for e in finding["evidence"]] == [503, 200]
    assert "after a 503, sooner than the 0.250 s a backoff waits at least" in finding["message"]
    # A floor of 0 forgives it.
    assert imgemu_server.verdicts(backoff_floor=0) == []


def test_a_dropped_connection_retried_at_once_is_found(imgemu_server: Emulator) -> None:
    imgemu_server.faults.add(match={"provider": "openai"}, action={"kind": "drop"}, times=1)
    http = imgemu_server.client("openai")
    with pytest.raises(httpx.HTTPError):
        http.post("/images/generations", json=GENERATE)
    assert http.post("/images/generations", json=GENERATE).status_code == 200

    (finding,) = imgemu_server.verdicts()
    assert finding["name"] == "retried_without_backoff"
    assert "after a dropped connection" in finding["message"]


@VIRTUAL
def test_polling_faster_than_the_floor_and_giving_up_are_found(imgemu_server: Emulator) -> None:
    http = imgemu_server.client("seacloud")
    request_id = submit(http)
    states = {status(http, request_id) for _ in range(4)}
    assert states == {"IN_PROGRESS"}  # a free slot took it; the virtual clock stands still

    found = imgemu_server.verdicts()
    assert names(found) == ["polled_too_fast", "abandoned_job"]
    fast, abandoned = found
    assert fast["job"] == abandoned["job"] == request_id
    assert [e["operation"] for e in fast["evidence"]] == ["status"] * 4
    assert all(e["state"] == "IN_PROGRESS" for e in fast["evidence"])
    assert f"read job {request_id} 3 time(s) sooner than 0.500 s" in fast["message"]
    assert [e["operation"] for e in abandoned["evidence"]] == ["submit", "status"]
    assert abandoned["evidence"][0]["job"] == request_id
    assert (
        "never seen to end and never cancelled; last read answered IN_PROGRESS"
        in (abandoned["message"])
    )
    # A lower floor forgives the polls; cancelling forgives the abandonment.
    assert names(imgemu_server.verdicts(poll_floor=0.0001)) == ["abandoned_job"]
    cancel = http.put(f"/v1/queue/{MODEL}/requests/{request_id}/cancel")
    assert cancel.status_code in (200, 202), cancel.text
    assert names(imgemu_server.verdicts()) == ["polled_too_fast"]


@VIRTUAL
def test_a_resubmit_instead_of_polling_is_found(imgemu_server: Emulator) -> None:
    http = imgemu_server.client("seacloud")
    first = submit(http)
    assert status(http, first) == "IN_PROGRESS"
    time.sleep(0.55)
    second = submit(http)  # "it timed out": the same request again
    imgemu_server.clock.advance(3600)
    assert status(http, second) == "COMPLETED"
    assert http.get(f"/v1/queue/{MODEL}/requests/{second}/response").status_code == 200

    (finding,) = imgemu_server.verdicts()
    assert finding["name"] == "resubmitted_instead_of_polling"
    assert finding["job"] == first
    assert [(e["operation"], e["job"]) for e in finding["evidence"]] == [
        ("submit", first),
        ("status", first),
        ("submit", second),
    ]
    assert f"while its job {first} was still waiting, last seen IN_PROGRESS" in finding["message"]


@VIRTUAL
def test_two_jobs_of_one_request_both_followed_are_fine(imgemu_server: Emulator) -> None:
    http = imgemu_server.client("seacloud")
    jobs = [submit(http), submit(http)]  # two variations of one prompt, on purpose
    imgemu_server.clock.advance(3600)
    for request_id in jobs:
        assert status(http, request_id) == "COMPLETED"
        assert http.get(f"/v1/queue/{MODEL}/requests/{request_id}/response").status_code == 200
    imgemu_server.assert_client_behaved()


@VIRTUAL
def test_a_completed_result_never_fetched_is_found(imgemu_server: Emulator) -> None:
    http = imgemu_server.client("odirouter")
    request_id = submit(http)
    imgemu_server.clock.advance(3600)
    assert status(http, request_id) == "COMPLETED"

    (finding,) = imgemu_server.verdicts()
    assert finding["name"] == "result_never_fetched"
    assert finding["provider"] == "odirouter"
    assert [e["operation"] for e in finding["evidence"]] == ["submit", "status"]
    assert (
        f"job {request_id} was seen COMPLETED but its result was never read" == (finding["message"])
    )


@VIRTUAL
def test_a_failed_jobs_result_read_is_a_fetch(imgemu_server: Emulator) -> None:
    imgemu_server.faults.add(
        match={"provider": "seacloud", "operation": "submit"},
        action={"kind": "outcome", "error_type": "INFERENCE_FAILURE"},
        times=1,
    )
    http = imgemu_server.client("seacloud")
    request_id = submit(http)
    imgemu_server.clock.advance(3600)
    assert status(http, request_id) == "COMPLETED"
    failed = http.get(f"/v1/queue/{MODEL}/requests/{request_id}/response")
    assert failed.status_code >= 400
    assert failed.json()["error_type"] == "INFERENCE_FAILURE"
    imgemu_server.assert_client_behaved()


@VIRTUAL
def test_an_abandoned_task_of_the_envelope_provider_is_found(imgemu_server: Emulator) -> None:
    http = imgemu_server.client("aa")
    uploaded = http.post("/api/v1/files", files={"file": ("in.png", png(), "image/png")})
    file_id = uploaded.json()["data"]["file_id"]
    body = {**AA_BODY, "images": [{"file_id": file_id}], "async": True}
    created = http.post("/api/v1/image/generation", json=body)
    assert created.status_code == 200, created.text
    task_id = created.json()["data"]["task_id"]
    read = http.get(f"/api/v1/image/generation/{task_id}")
    assert read.json()["data"]["task_status"] == "pending"

    (finding,) = imgemu_server.verdicts()
    assert finding["name"] == "abandoned_job"
    assert finding["provider"] == "aa"
    assert finding["job"] == task_id
    assert [e["state"] for e in finding["evidence"]] == ["pending", "pending"]

    imgemu_server.clock.advance(3600)
    time.sleep(0.55)  # a read sooner would be a poll too fast
    assert http.get(f"/api/v1/image/generation/{task_id}").json()["data"]["task_status"] == (
        "succeeded"
    )
    imgemu_server.assert_client_behaved()  # the task's read carries its result


# -- well-behaved clients -----------------------------------------------------------------------


def test_the_official_sdk_meeting_planned_429s_and_503s_behaves(imgemu_server: Emulator) -> None:
    for status_code in (429, 503):
        imgemu_server.faults.add(
            match={"provider": "openai", "operation": "images.generate"},
            action={"kind": "error", "status": status_code, "retry_after": 0.3},
            times=2,
        )
        with OpenAI(
            base_url=imgemu_server.url("openai"),
            api_key="sk-test",
            max_retries=2,
            default_headers=imgemu_server.headers,
        ) as sdk:
            assert sdk.images.generate(**GENERATE).data
        imgemu_server.faults.clear()
    assert len(imgemu_server.journal.find(status=429)) == 2
    assert len(imgemu_server.journal.find(status=503)) == 2
    imgemu_server.assert_client_behaved()


def test_the_sdk_without_retry_after_backs_off(imgemu_server: Emulator) -> None:
    imgemu_server.faults.add(
        match={"provider": "openai"}, action={"kind": "error", "status": 500}, times=1
    )
    with OpenAI(base_url=imgemu_server.url("openai"), api_key="sk-test", max_retries=1) as sdk:
        assert sdk.images.generate(**GENERATE).data
    imgemu_server.assert_client_behaved()


@pytest.mark.imgemu(time_scale=0.005)
def test_the_reference_clients_behave(imgemu_server: Emulator) -> None:
    imgemu_server.faults.add(
        match={"provider": "seacloud", "operation": "submit"},
        action={"kind": "error", "status": 429, "retry_after": 1},
        times=1,
    )
    imgemu_server.faults.add(
        match={"provider": "openai"}, action={"kind": "error", "status": 503}, times=1
    )
    headers = imgemu_server.headers
    with QueueClient(
        "seacloud",
        base_url=imgemu_server.url("seacloud"),
        api_key="k",
        headers=headers,
    ) as queue:
        result = queue.run(MODEL, PARAMS, policy=PollPolicy(timeout=60))
        assert result.images
    with ImagesClient(
        "openai",
        base_url=imgemu_server.url("openai"),
        api_key="sk-test",
        headers=headers,
        retry=RetryPolicy(max_retries=2),
    ) as images:
        assert images.generate(GENERATE["prompt"], model=GENERATE["model"]).images
    with AAClient(base_url=imgemu_server.url("aa"), api_key="sk-aa", headers=headers) as aa:
        assert aa.run(AA_BODY["prompt"], images=[png()], model=AA_BODY["model"]).urls
    assert len(imgemu_server.journal.find(status=429)) == 1
    assert len(imgemu_server.journal.find(status=503)) == 1
    imgemu_server.assert_client_behaved()


# -- scoping and the route ----------------------------------------------------------------------


def test_test_ids_and_keys_keep_clients_apart(imgemu_server: Emulator) -> None:
    imgemu_server.faults.add(
        match={"provider": "openai"},
        action={"kind": "error", "status": 429, "retry_after": 5},
        times=1,
    )
    bad = imgemu_server.client("openai", headers={"X-Imgemu-Test-Id": "the-bad-one"})
    assert bad.post("/images/generations", json=GENERATE).status_code == 429
    assert bad.post("/images/generations", json=GENERATE).status_code == 200
    # Another test id sending the same request is another client.
    good = imgemu_server.client("openai")
    assert good.post("/images/generations", json=GENERATE).status_code == 200

    assert names(imgemu_server.verdicts(test_id="the-bad-one")) == ["retried_before_retry_after"]
    assert imgemu_server.verdicts(test_id=imgemu_server.test_id) == []
    assert names(imgemu_server.verdicts(key=imgemu_server.api_key("openai"))) == [
        "retried_before_retry_after"
    ]
    assert imgemu_server.verdicts(key="sk-another") == []
    assert imgemu_server.verdicts(provider="seacloud") == []


def test_the_route_answers_its_shape_and_refuses_bad_queries(imgemu_server: Emulator) -> None:
    http = imgemu_server.client()
    body = http.get("/_emulator/verdicts").json()
    assert body == {
        "findings": [],
        "checked": 0,
        "rules": body["rules"],
        "poll_floor": 0.5,
        "backoff_floor": 0.25,
    }
    assert set(body["rules"]) == {
        "retried_before_retry_after",
        "retried_without_backoff",
        "polled_too_fast",
        "abandoned_job",
        "resubmitted_instead_of_polling",
        "result_never_fetched",
    }
    for query, detail in (
        ({"status": "429"}, "unknown filter 'status': one of provider, key, test_id, since"),
        ({"poll_floor": "fast"}, "poll_floor must be a number of seconds, 0-3600"),
        ({"backoff_floor": "-1"}, "backoff_floor must be a number of seconds, 0-3600"),
        ({"since": "soon"}, "since must be a number of seconds (emulator clock)"),
    ):
        refused = http.get("/_emulator/verdicts", params=query)
        assert refused.status_code == 400
        assert refused.json()["detail"].startswith(detail)


@pytest.mark.imgemu(journal_size=0)
def test_without_a_journal_the_verdicts_say_so(imgemu_server: Emulator) -> None:
    refused = imgemu_server.client().get("/_emulator/verdicts")
    assert refused.status_code == 409
    assert refused.json() == {"detail": "The journal is off; start with --journal-size N"}
    with pytest.raises(RuntimeError, match="journal_size=1000"):
        imgemu_server.assert_client_behaved()


# -- fal's own client ---------------------------------------------------------------------------


@pytest.mark.imgemu(time_scale=0.01)
def test_fal_client_polls_faster_than_fal_js_unless_told(
    imgemu_server: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """fal-client (Python) polls every 0.1 s; fal's JavaScript client, whose 0.5 s the floor
    follows, five times slower. Told to poll at 0.5 s it gets no finding."""
    queue = imgemu_server.url("seacloud") + "/v1/queue/"
    monkeypatch.setattr(fal_module, "QUEUE_URL_FORMAT", queue)
    client = fal_client.SyncClient(key="fal-key", default_timeout=60)
    try:
        client._client.headers.update(imgemu_server.headers)
        assert client.subscribe(MODEL, arguments=PARAMS)["outputs"]
        (finding,) = imgemu_server.verdicts()
        assert finding["name"] == "polled_too_fast"
        assert imgemu_server.verdicts(poll_floor=0.1) == []  # its own pace

        imgemu_server.journal.clear()
        handle = client.submit(MODEL, arguments=PARAMS)
        assert handle.get(interval=0.5)["outputs"]
        imgemu_server.assert_client_behaved()
    finally:
        client._client.close()
