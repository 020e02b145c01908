"""QueueClient / AsyncQueueClient against the emulator: lifecycle, cancel, timeouts, servers."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from clients import (
    AsyncQueueClient,
    JobCancelledError,
    JobFailedError,
    JobNotReadyError,
    JobTimeoutError,
    PollPolicy,
    Progress,
    QueueClient,
)
from tests.helpers import HOST, KEY, RunningServer, clock_of, decode, make_app
from tests.support.clients import VirtualTime, client_options

Serve = Callable[[Starlette], RunningServer]
pytestmark = pytest.mark.anyio
POLICY = PollPolicy(interval=2.0, backoff=1.5, max_interval=10.0, jitter=0.0, timeout=600)


def queue_client(app: Starlette, provider: str = "seacloud", **kw: Any) -> AsyncQueueClient:
    """An async client on ``app`` in-process, sleeping on its virtual clock."""
    prefix = "/model" if provider == "seacloud" else f"/{provider}/model"
    options = client_options(app, VirtualTime(app), **kw)
    return AsyncQueueClient(provider, base_url=HOST + prefix, **options)


async def test_run_to_completed_with_images_at_the_requested_size() -> None:
    app = make_app()
    seen: list[Progress] = []
    async with queue_client(app) as client:
        result = await client.run(
            "gpt_image_1",
            {"prompt": "a red apple", "size": "1024x1536", "n": 2, "output_format": "png"},
            policy=PollPolicy(interval=5, jitter=0, timeout=600, logs=True),
            download=True,
            on_status=seen.append,
        )
    assert len(result.outputs) == 2
    for output, data in zip(result.outputs, result.images, strict=True):
        assert (output.width, output.height, output.content_type) == (1024, 1536, "image/png")
        image = decode(data)
        assert (image.format, image.size) == ("PNG", (1024, 1536))
    assert result.metadata["prompt"] == "a red apple"
    states = [p.state for p in seen]
    assert states[0] == "IN_PROGRESS"
    assert states[-1] == "COMPLETED"
    assert [p.polls for p in seen] == list(range(1, len(seen) + 1))
    assert all(b.elapsed > a.elapsed for a, b in itertools.pairwise(seen))
    assert seen[-1].logs  # log messages were asked for


async def test_waits_back_off_exponentially_up_to_the_cap() -> None:
    app = make_app()
    time = VirtualTime(app)
    async with AsyncQueueClient(base_url=HOST + "/model", **client_options(app, time)) as client:
        await client.run("gpt_image_2", {"prompt": "x", "quality": "high"}, policy=POLICY)
    assert time.sleeps[:4] == [2.0, 3.0, 4.5, 6.75]
    assert max(time.sleeps) == 10.0


async def test_queued_jobs_report_their_position() -> None:
    app = make_app(slots=1, latency_sigma=0.0)
    seen: list[Progress] = []
    async with queue_client(app) as client:
        await client.submit("gpt_image_1", {"prompt": "first", "quality": "low"})
        await client.run(
            "gpt_image_1",
            {"prompt": "second", "quality": "low"},
            policy=POLICY,
            on_status=seen.append,
        )
    assert (seen[0].state, seen[0].queue_position) == ("IN_QUEUE", 0)
    assert "IN_PROGRESS" in [p.state for p in seen]


async def test_submit_status_result_cancel_one_by_one() -> None:
    app = make_app(queue_cancel_running="cancel")  # a running job canceled ends CANCELED
    async with queue_client(app, "odirouter") as client:
        job = await client.submit("gpt_image_1", {"prompt": "an apple"})
        assert job.request_id.startswith("mmsu_")
        assert job.status_url.startswith(f"{HOST}/odirouter/model/v1/queue/gpt_image_1/")
        status = await client.status("gpt_image_1", job.request_id)
        assert (status.state, status.done, status.logs) == ("IN_PROGRESS", False, None)
        with pytest.raises(JobNotReadyError) as not_ready:
            await client.result("gpt_image_1", job.request_id)
        assert (not_ready.value.state, not_ready.value.job_id) == ("IN_PROGRESS", job.request_id)
        assert await client.cancel("gpt_image_1", job.request_id) is True
        clock_of(app).advance(1)
        status = await client.status("gpt_image_1", job.request_id, logs=True)
        assert (status.done, status.failed, status.error_type) == (True, True, "CANCELED")
        assert status.logs is not None
        with pytest.raises(JobCancelledError) as cancelled:
            await client.result("gpt_image_1", job.request_id)
        assert (cancelled.value.error_type, cancelled.value.status) == ("CANCELED", 400)
        assert await client.cancel("gpt_image_1", job.request_id) is False


async def test_run_past_its_timeout_cancels_the_job() -> None:
    app = make_app(queue_cancel_running="cancel")  # a running job canceled ends CANCELED
    async with queue_client(app) as client:
        with pytest.raises(JobTimeoutError) as timeout:
            await client.run(
                "gpt_image_2",
                {"prompt": "slow", "quality": "high"},
                policy=PollPolicy(interval=1, jitter=0, timeout=10),
            )
        error = timeout.value
        assert (error.cancelled, error.state, error.elapsed) == (True, "IN_PROGRESS", 10)
        clock_of(app).advance(1)
        status = await client.status("gpt_image_2", error.job_id)
    assert (status.state, status.error_type) == ("COMPLETED", "CANCELED")


async def test_a_failed_job_raises_its_error_type() -> None:
    app = make_app(blocked_terms=("forbidden",))
    async with queue_client(app) as client:
        with pytest.raises(JobFailedError) as failed:
            await client.run("gpt_image_1", {"prompt": "a forbidden apple"}, policy=POLICY)
    assert (failed.value.error_type, failed.value.status) == ("CONTENT_BLOCKED", 422)
    assert not isinstance(failed.value, JobCancelledError)


async def test_an_inference_failure_is_not_retried_as_a_server_error() -> None:
    app = make_app(steering=True)
    headers = {"X-Imgemu-Outcome": "INFERENCE_FAILURE"}
    async with queue_client(app, headers=headers) as client:
        with pytest.raises(JobFailedError) as failed:
            await client.run("gpt_image_1", {"prompt": "x"}, policy=POLICY)
    assert (failed.value.error_type, failed.value.status) == ("INFERENCE_FAILURE", 500)


@pytest.mark.server
def test_sync_client_over_a_real_server(serve: Serve) -> None:
    app = make_app(queue_cancel_running="cancel")  # a running job canceled ends CANCELED
    server = serve(app)
    time = VirtualTime(app)
    seen: list[Progress] = []
    with QueueClient(
        "seacloud",
        base_url=server.base_url + "/seacloud/model",
        api_key=KEY,
        clock=time.now,
        sleep=time.sleep,
    ) as client:
        result = client.run(
            "gpt_image_1_edit",
            {"prompt": "greener", "images": ["https://example.com/in.png"], "size": "1536x1024"},
            policy=POLICY,
            download=True,
            on_status=seen.append,
        )
        assert decode(result.images[0]).size == (1536, 1024)
        assert seen[-1].state == "COMPLETED"
        with pytest.raises(JobTimeoutError) as timeout:
            client.run("gpt_image_2", {"prompt": "slow"}, policy=PollPolicy(timeout=5, jitter=0))
        time.clock.advance(1)
        status = client.status("gpt_image_2", timeout.value.job_id)
        assert status.error_type == "CANCELED"


@pytest.mark.server
def test_sync_client_with_the_key_scheme_on_the_bare_path(serve: Serve) -> None:
    app = make_app()
    server = serve(app)
    requests: list[httpx.Request] = []
    transport = httpx.HTTPTransport()

    class Recording(httpx.BaseTransport):
        def handle_request(self, request: httpx.Request) -> httpx.Response:
            requests.append(request)
            return transport.handle_request(request)

        def close(self) -> None:
            transport.close()

    with QueueClient(base_url=server.base_url + "/model", api_key=KEY, transport=Recording()) as c:
        job = c.submit("gpt_image_1", {"prompt": "x"})
        assert c.status("gpt_image_1", job.request_id).state == "IN_PROGRESS"
        assert (c.provider, c.base_url) == ("seacloud", server.base_url + "/model")
    assert requests[0].headers["authorization"] == f"Key {KEY}"
