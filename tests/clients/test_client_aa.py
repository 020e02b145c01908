"""AAClient / AsyncAAClient (典名词元): generation, uploads, asynchronous tasks, failures."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from starlette.applications import Starlette

from clients import (
    AAClient,
    AsyncAAClient,
    JobFailedError,
    JobTimeoutError,
    PollPolicy,
    Progress,
)
from tests.helpers import HOST, KEY, RunningServer, decode, fast_app, make_app, png_bytes
from tests.support.clients import VirtualTime, client_options

Serve = Callable[[Starlette], RunningServer]
pytestmark = pytest.mark.anyio
POLICY = PollPolicy(interval=5, jitter=0, timeout=900)


async def test_generate_waits_and_downloads() -> None:
    async with AsyncAAClient(base_url=HOST, **client_options(fast_app())) as client:
        task = await client.generate("on a white table", images=[png_bytes((1024, 1024))], n=2)
        assert (task.status, task.done, len(task.urls)) == ("succeeded", True, 2)
        assert task.usage is not None
        assert task.usage.images == 2
        assert task.expired is not None
        assert task.request_id
        image = decode(await client.download(task.urls[0]))
    assert image.size == (1024, 1024)


async def test_a_stream_is_refused_with_a_clear_error() -> None:
    """典名词元 answers ``stream: true`` with events, which a task reader cannot take."""
    app = fast_app()
    async with AsyncAAClient(base_url=HOST, **client_options(app)) as client:
        with pytest.raises(ValueError, match="stream=True answers an event stream"):
            await client.generate("x", images=[png_bytes((64, 64))], stream=True)


async def test_an_uploaded_file_is_referenced_by_id() -> None:
    async with AsyncAAClient(base_url=HOST, **client_options(fast_app())) as client:
        file_id = await client.upload(png_bytes((1024, 1536)))
        assert file_id.startswith("file-")
        task = await client.generate("x", file_ids=[file_id], size="1024x1536")
        done = await client.wait(task, download=True)
    assert decode(done.images[0]).size == (1024, 1536)


async def test_run_polls_an_async_task_to_success() -> None:
    app = make_app()
    seen: list[Progress] = []
    async with AsyncAAClient(base_url=HOST, **client_options(app, VirtualTime(app))) as client:
        task = await client.run(
            "x",
            images=["https://example.com/in.png"],
            policy=POLICY,
            download=True,
            on_status=seen.append,
        )
    assert task.status == "succeeded"
    assert len(task.images) == 1
    assert seen[-1].state == "succeeded"
    assert "processing" in {p.state for p in seen}


async def test_a_failed_task_raises_job_failed() -> None:
    app = make_app(steering=True)
    headers = {"X-Imgemu-Outcome": "INFERENCE_FAILURE"}
    options = client_options(app, VirtualTime(app), headers=headers)
    async with AsyncAAClient(base_url=HOST, **options) as client:
        with pytest.raises(JobFailedError) as failed:
            await client.run("x", images=["https://example.com/in.png"], policy=POLICY)
    assert failed.value.error_type == "FAILED"
    assert failed.value.detail.startswith("Image generation failed")


async def test_a_task_past_the_timeout_is_a_job_timeout() -> None:
    app = make_app()
    async with AsyncAAClient(base_url=HOST, **client_options(app, VirtualTime(app))) as client:
        with pytest.raises(JobTimeoutError) as timeout:
            await client.run(
                "x", images=["https://example.com/in.png"], policy=PollPolicy(timeout=3, jitter=0)
            )
    assert (timeout.value.cancelled, timeout.value.state) == (False, "processing")


@pytest.mark.server
def test_sync_client_over_a_real_server(serve: Serve) -> None:
    server = serve(fast_app())
    with AAClient(base_url=server.base_url, api_key=KEY) as client:
        file_id = client.upload(png_bytes((1024, 1024)))
        task = client.run("x", file_ids=[file_id], download=True, policy=PollPolicy(interval=0.01))
        again = client.task(task.task_id)
    assert decode(task.images[0]).size == (1024, 1024)
    assert again.urls == task.urls
