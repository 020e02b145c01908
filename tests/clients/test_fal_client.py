"""fal's own queue client (PyPI ``fal-client``) against the default emulator's queue providers.

fal-client builds its submit URL from a host fixed at import (``QUEUE_URL_FORMAT``), which the
tests point at the emulator; it follows the status, response and cancel URLs the submit answers.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import fal_client
import pytest
from fal_client import client as fal_module

from tests.helpers import RunningServer, make_app

Serve = Callable[[Any], RunningServer]
ARGUMENTS = {"prompt": "A red apple", "quality": "low"}  # gpt-image-1 low: 15 s at scale 1


@pytest.fixture
def opened() -> Iterator[list[fal_client.SyncClient]]:
    """The fal clients a test made, whose HTTP connections are closed after it."""
    clients: list[fal_client.SyncClient] = []
    yield clients
    for client in clients:
        client._client.close()


def _client(
    serve: Serve,
    monkeypatch: pytest.MonkeyPatch,
    opened: list[fal_client.SyncClient],
    prefix: str = "/model",
    **settings: Any,
) -> fal_client.SyncClient:
    values: dict[str, Any] = {"clock": "real", "clock_start": None, "time_scale": 0.02}
    server = serve(make_app(**{**values, **settings}))
    monkeypatch.setattr(fal_module, "QUEUE_URL_FORMAT", f"{server.base_url}{prefix}/v1/queue/")
    client = fal_client.SyncClient(key="fal-test-key")
    opened.append(client)
    return client


@pytest.mark.parametrize("prefix", ["/model", "/seacloud/model"])
def test_submit_poll_and_result_with_the_default_settings(
    serve: Serve,
    monkeypatch: pytest.MonkeyPatch,
    opened: list[fal_client.SyncClient],
    prefix: str,
) -> None:
    client = _client(serve, monkeypatch, opened, prefix)
    handle = client.submit("gpt_image_1", arguments=ARGUMENTS)
    assert handle.request_id.startswith("mmsu_")
    first = handle.status(with_logs=True)  # 202 while pending: fal-client takes any 2xx
    assert isinstance(first, fal_client.InProgress)
    assert first.logs is not None
    seen = [type(status).__name__ for status in handle.iter_events(with_logs=True, interval=0.05)]
    assert seen[-1] == "Completed"
    done = handle.status()
    assert isinstance(done, fal_client.Completed)
    assert done.error is None
    assert done.metrics["inference_time"] > 0
    result = handle.get()
    assert result["request_id"] == handle.request_id
    (output,) = result["outputs"]
    assert (output["width"], output["height"]) == (1024, 1024)


def test_a_queued_job_reports_its_position(
    serve: Serve, monkeypatch: pytest.MonkeyPatch, opened: list[fal_client.SyncClient]
) -> None:
    client = _client(serve, monkeypatch, opened, slots=1, time_scale=0.2)
    client.submit("gpt_image_1", arguments=ARGUMENTS)
    waiting = client.submit("gpt_image_1", arguments=ARGUMENTS)
    status = waiting.status()
    assert isinstance(status, fal_client.Queued)
    assert status.position == 0  # SeaCloud's page: always 0
    waiting.cancel()  # 202: no error
    canceled = waiting.status()
    assert isinstance(canceled, fal_client.Completed)
    assert canceled.error_type == "CANCELED"


def test_a_running_job_canceled_finishes_by_default(
    serve: Serve,
    monkeypatch: pytest.MonkeyPatch,
    opened: list[fal_client.SyncClient],
) -> None:
    client = _client(serve, monkeypatch, opened, time_scale=0.05)
    handle = client.submit("gpt_image_1", arguments=ARGUMENTS)
    assert isinstance(handle.status(), fal_client.InProgress)
    handle.cancel()
    assert handle.get()["outputs"]  # the job ran to its end


def test_a_start_timeout_that_passes_is_a_504_fal_client_does_not_retry(
    serve: Serve,
    monkeypatch: pytest.MonkeyPatch,
    opened: list[fal_client.SyncClient],
) -> None:
    client = _client(serve, monkeypatch, opened, slots=1, time_scale=0.2)  # a job takes 3 s
    client.submit("gpt_image_1", arguments=ARGUMENTS)
    late = client.submit("gpt_image_1", arguments=ARGUMENTS, start_timeout=1.5)
    assert isinstance(late.status(), fal_client.Queued)
    began = time.monotonic()
    with pytest.raises(fal_client.client.FalClientHTTPError) as raised:
        late.get()
    assert time.monotonic() - began < 3  # at the deadline, with no retries
    error = raised.value
    assert error.status_code == 504
    assert error.error_type == "request_timeout"
    assert error.message == "Request timed out"
    assert error.response_headers["x-fal-request-timeout-type"] == "user"
    assert error.response_headers["x-fal-request-id"] == late.request_id
    status = late.status()
    assert isinstance(status, fal_client.Completed)
    assert (status.error, status.error_type) == ("Request timed out", "request_timeout")
