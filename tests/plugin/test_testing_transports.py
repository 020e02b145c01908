"""The in-process emulator (``imgemu.testing.in_process``): its sync and async transports
carry the project's sync and async clients, answers stream as they are written, the client's
read timeout holds, a dropped or cut answer is the error a real socket gives, one app serves
both transports at once, and the runner runs the app's lifespan and raises its errors."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from clients import (
    AAClient,
    AsyncAAClient,
    AsyncImagesClient,
    AsyncQueueClient,
    ImageCompleted,
    ImagesClient,
    PartialImage,
    PollPolicy,
    QueueClient,
    RetryPolicy,
)
from imgemu.testing import AppRunner, AsyncTransport, InProcessEmulator, SyncTransport, in_process
from imgemu.testing import serve as serve_emulator
from tests.helpers import decode, png_bytes

FAST = PollPolicy(interval=0.005, backoff=1.0)
GENERATE = {
    "model": "gpt-image-1",
    "prompt": "A red apple",
    "quality": "low",
    "output_format": "jpeg",
}


@pytest.fixture(scope="module")
def emulator() -> Iterator[InProcessEmulator]:
    with in_process() as running:
        yield running


@pytest.fixture(autouse=True)
def _clean(emulator: InProcessEmulator) -> None:
    emulator.reset()


def test_the_sync_clients_in_process(emulator: InProcessEmulator) -> None:
    options: dict[str, Any] = {"api_key": "k", "transport": emulator.transport}
    with QueueClient("odirouter", base_url=emulator.url("odirouter"), **options) as queue:
        result = queue.run("gpt_image_2", {"prompt": "A red apple"}, policy=FAST, download=True)
        assert decode(result.images[0]).size == (1024, 1024)
    with ImagesClient("openai", base_url=emulator.url("openai"), **options) as images:
        edited = images.edit("Make it green", png_bytes((640, 480)), size="1536x1024")
        assert decode(edited.images[0]).size == (1536, 1024)
        events = list(images.stream_generate("A red apple", partial_images=2))
        assert [type(e) for e in events] == [PartialImage, PartialImage, ImageCompleted]
    with AAClient(base_url=emulator.url("aa"), **options) as aa:
        file_id = aa.upload(png_bytes((512, 512)))
        task = aa.run("On a table", file_ids=[file_id], policy=FAST, download=True)
        assert task.status == "succeeded"
        assert decode(task.images[0]).format == "PNG"


@pytest.mark.anyio
async def test_the_async_clients_in_process(emulator: InProcessEmulator) -> None:
    options: dict[str, Any] = {"api_key": "k", "transport": emulator.async_transport}
    async with AsyncQueueClient("seacloud", base_url=emulator.url("seacloud"), **options) as q:
        result = await q.run("gpt_image_1", {"prompt": "A red apple"}, policy=FAST, download=True)
        assert decode(result.images[0]).format == "PNG"
    async with AsyncImagesClient("agcloud", base_url=emulator.url("agcloud"), **options) as c:
        edited = await c.edit("Make it green", png_bytes((640, 480)), model="gpt-image-2")
        assert decode(edited.images[0]).format == "PNG"
        events = [e async for e in c.stream_edit("Green", png_bytes((64, 64)), partial_images=1)]
        assert [type(e) for e in events] == [PartialImage, ImageCompleted]
    async with AsyncAAClient(base_url=emulator.url("aa"), **options) as aa:
        task = await aa.run("On a table", images=[png_bytes((512, 512))], policy=FAST)
        assert task.status == "succeeded"


def test_both_transports_at_once_on_one_app(emulator: InProcessEmulator) -> None:
    answers: list[int] = []

    def sync_side() -> None:
        with emulator.client("openai") as http:
            answers.extend(
                http.post("/images/generations", json=GENERATE).status_code for _ in range(5)
            )

    async def async_side() -> list[int]:
        async with emulator.async_client("openai") as http:
            calls = [http.post("/images/generations", json=GENERATE) for _ in range(10)]
            return [r.status_code for r in await asyncio.gather(*calls)]

    thread = threading.Thread(target=sync_side)
    thread.start()
    statuses = asyncio.run(async_side())
    thread.join(30)
    assert answers + statuses == [200] * 15


@pytest.mark.anyio
async def test_an_event_stream_arrives_as_it_is_written() -> None:
    with in_process(clock="virtual", time_scale=1) as emulator:
        async with emulator.async_client("openai") as http:
            body = {**GENERATE, "stream": True, "partial_images": 2}
            request = http.build_request("POST", "/images/generations", json=body)
            # The virtual clock stands still: the generation waits, but the head has come.
            async with asyncio.timeout(10):
                response = await http.send(request, stream=True)
            assert response.status_code == 200
            assert response.headers["content-type"].startswith("text/event-stream")
            emulator.clock.advance(3600)
            text = (await response.aread()).decode()
    assert text.count("event: image_generation.partial_image") == 2
    assert text.count("event: image_generation.completed") == 1


def test_the_read_timeout_holds(emulator: InProcessEmulator) -> None:
    emulator.faults.add(action={"kind": "delay", "seconds": 30}, match={"provider": "openai"})
    started = time.monotonic()
    with emulator.client("openai", timeout=0.2) as http, pytest.raises(httpx.ReadTimeout):
        http.post("/images/generations", json=GENERATE)

    async def call() -> None:
        async with emulator.async_client("openai", timeout=0.2) as http:
            await http.post("/images/generations", json=GENERATE)

    with pytest.raises(httpx.ReadTimeout):
        asyncio.run(call())
    assert time.monotonic() - started < 5
    assert emulator.faults.list()[0]["applied"] == 2


@pytest.mark.server
def test_a_dropped_or_cut_answer_fails_as_over_a_socket(emulator: InProcessEmulator) -> None:
    """The same exception, in the same words, in-process and from a real server."""
    actions = [{"kind": "drop"}, {"kind": "truncate", "bytes": 10}]
    said: dict[str, list[str]] = {"app": [], "server": []}
    with serve_emulator() as server:
        for name, target in (("app", emulator), ("server", server)):
            for action in actions:
                target.faults.add(action=action, match={"provider": "openai"}, times=1)
                with target.client("openai") as http:
                    with pytest.raises(httpx.RemoteProtocolError) as got:
                        http.post("/images/generations", json=GENERATE)
                    said[name].append(str(got.value))
                    assert http.post("/images/generations", json=GENERATE).status_code == 200
    assert said["app"] == said["server"]
    assert said["app"][0] == "Server disconnected without sending a response."
    assert said["app"][1].startswith(
        "peer closed connection without sending complete message body (received 10 bytes, "
    )


def test_the_async_transport_drops_likewise(emulator: InProcessEmulator) -> None:
    emulator.faults.add(action={"kind": "drop"}, match={"provider": "openai"}, times=1)

    async def call() -> None:
        async with emulator.async_client("openai") as http:
            await http.post("/images/generations", json=GENERATE)

    with pytest.raises(httpx.RemoteProtocolError, match="without sending a response"):
        asyncio.run(call())


def test_the_sdk_over_the_sync_transport(emulator: InProcessEmulator) -> None:
    from openai import OpenAI

    with httpx.Client(transport=emulator.transport) as http:
        client = OpenAI(
            base_url=emulator.url("openai"),
            api_key="k",
            http_client=http,
            _strict_response_validation=True,
        )
        result = client.images.generate(
            model="gpt-image-1", prompt="A red apple", n=2, output_format="jpeg"
        )
    assert len(result.data) == 2


def test_closing_a_client_leaves_the_app_running(emulator: InProcessEmulator) -> None:
    for _ in range(2):
        with ImagesClient(
            "openai",
            base_url=emulator.url("openai"),
            api_key="k",
            transport=emulator.transport,
            retry=RetryPolicy(max_retries=0),
        ) as c:
            assert c.generate("A red apple").images


# -- the runner, on small apps of the test's own


class Recorder:
    """An ASGI app that records its lifespan and answers ``/`` in two parts, ``/boom`` with
    an exception."""

    def __init__(self, fail_startup: bool = False) -> None:
        self.events: list[str] = []
        self.fail_startup = fail_startup

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    if self.fail_startup:
                        await send({"type": "lifespan.startup.failed", "message": "no store"})
                        return
                    self.events.append("startup")
                    await send({"type": "lifespan.startup.complete"})
                else:
                    self.events.append("shutdown")
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["path"] == "/boom":
            raise ValueError("the app failed")
        await receive()
        await send({"type": "http.response.start", "status": 201, "headers": [(b"x-a", b"1")]})
        await send({"type": "http.response.body", "body": b"one,", "more_body": True})
        await send({"type": "http.response.body", "body": b"two"})


def test_the_runner_runs_the_lifespan_and_raises_the_apps_errors() -> None:
    app = Recorder()
    runner = AppRunner(app)
    runner.start()
    try:
        assert app.events == ["startup"]
        with httpx.Client(transport=SyncTransport(runner), base_url="http://t") as http:
            answer = http.get("/")
            assert (answer.status_code, answer.headers["x-a"], answer.text) == (201, "1", "one,two")
            with pytest.raises(ValueError, match="the app failed"):
                http.get("/boom")

        async def call() -> str:
            async with httpx.AsyncClient(
                transport=AsyncTransport(runner), base_url="http://t"
            ) as http:
                return (await http.get("/")).text

        assert asyncio.run(call()) == "one,two"
    finally:
        runner.stop()
    assert app.events == ["startup", "shutdown"]


def test_a_failed_startup_is_raised() -> None:
    runner = AppRunner(Recorder(fail_startup=True))
    with pytest.raises(RuntimeError, match="the app did not start: no store"):
        runner.start()
    runner.stop()
