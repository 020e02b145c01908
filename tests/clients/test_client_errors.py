"""Retries and the exception tree, each class raised for a real cause."""

from __future__ import annotations

import httpx
import pytest

from clients import (
    AsyncAAClient,
    AsyncImagesClient,
    AsyncQueueClient,
    AuthenticationError,
    ImgemuError,
    InsufficientBalanceError,
    InvalidRequestError,
    NotFoundError,
    PermissionDeniedError,
    ProviderError,
    QueueClient,
    RateLimitError,
    RetryPolicy,
    ServerError,
    TransportError,
    UsageError,
)
from emulator.settings import RateLimit
from tests.helpers import HOST, KEY, clock_of, fast_app, make_app
from tests.support.clients import Flaky, VirtualTime, client_options

pytestmark = pytest.mark.anyio
QUEUE = HOST + "/model"


def unavailable(headers: dict[str, str]) -> httpx.Response:
    return httpx.Response(503, json={"detail": "Service Unavailable"}, headers=headers)


async def test_429_from_the_rate_limit_is_retried_after_retry_after() -> None:
    app = make_app(rate_limit=RateLimit(1, 7))
    time = VirtualTime(app)
    async with AsyncQueueClient(base_url=QUEUE, **client_options(app, time)) as client:
        await client.submit("gpt_image_1", {"prompt": "one"})
        job = await client.submit("gpt_image_1", {"prompt": "two"})
    assert job.request_id.startswith("mmsu_")
    assert time.sleeps == [7.0]


async def test_429_after_the_retries_is_a_rate_limit_error() -> None:
    app = make_app(rate_limit=RateLimit(1, 30))
    retry = RetryPolicy(max_retries=0)
    async with AsyncQueueClient(base_url=QUEUE, **client_options(app, retry=retry)) as client:
        await client.submit("gpt_image_1", {"prompt": "one"})
        with pytest.raises(RateLimitError) as limited:
            await client.submit("gpt_image_1", {"prompt": "two"})
    error = limited.value
    assert (error.status, error.code, error.retry_after) == (429, "RATE_LIMIT_EXCEEDED", 30.0)
    assert error.request_id
    assert error.response is not None


async def test_a_wait_longer_than_allowed_is_not_retried() -> None:
    app = make_app(rate_limit=RateLimit(1, 600))
    time = VirtualTime(app)
    async with AsyncQueueClient(base_url=QUEUE, **client_options(app, time)) as client:
        await client.submit("gpt_image_1", {"prompt": "one"})
        with pytest.raises(RateLimitError):
            await client.submit("gpt_image_1", {"prompt": "two"})
    assert time.sleeps == []


async def test_503_is_retried_honouring_retry_after_and_retry_after_ms() -> None:
    app = make_app()
    time = VirtualTime(app)
    network = Flaky(
        httpx.ASGITransport(app=app),
        [lambda: unavailable({"Retry-After": "3"}), lambda: unavailable({"retry-after-ms": "250"})],
    )
    options = client_options(app, time, transport=network)
    async with AsyncQueueClient(base_url=QUEUE, **options) as client:
        job = await client.submit("gpt_image_1", {"prompt": "x"})
    assert job.request_id.startswith("mmsu_")
    assert time.sleeps == [3.0, 0.25]
    assert len(network.seen) == 3


async def test_5xx_without_retry_after_backs_off_then_raises_server_error() -> None:
    app = make_app()
    time = VirtualTime(app)
    network = Flaky(httpx.ASGITransport(app=app), [lambda: unavailable({})] * 3)
    retry = RetryPolicy(max_retries=2, backoff=1.0, jitter=0.0)
    options = client_options(app, time, transport=network, retry=retry)
    async with AsyncQueueClient(base_url=QUEUE, **options) as client:
        with pytest.raises(ServerError) as failed:
            await client.submit("gpt_image_1", {"prompt": "x"})
    assert (failed.value.status, failed.value.message) == (503, "Service Unavailable")
    assert time.sleeps == [1.0, 2.0]


async def test_x_should_retry_false_is_obeyed() -> None:
    app = make_app()
    network = Flaky(
        httpx.ASGITransport(app=app), [lambda: unavailable({"x-should-retry": "false"})]
    )
    async with AsyncQueueClient(base_url=QUEUE, **client_options(app, transport=network)) as c:
        with pytest.raises(ServerError):
            await c.submit("gpt_image_1", {"prompt": "x"})
    assert len(network.seen) == 1


def refuse() -> httpx.Response:
    raise httpx.ConnectError("connection refused")


def reset() -> httpx.Response:
    raise httpx.ReadError("connection reset")


async def test_a_refused_connection_is_retried_then_a_transport_error() -> None:
    app = make_app()
    time = VirtualTime(app)
    network = Flaky(httpx.ASGITransport(app=app), [refuse])
    async with AsyncQueueClient(
        base_url=QUEUE, **client_options(app, time, transport=network)
    ) as c:
        assert (await c.submit("gpt_image_1", {"prompt": "x"})).queue_position == 0
        network.failures = [refuse] * 3
        with pytest.raises(TransportError) as broken:
            await c.submit("gpt_image_1", {"prompt": "x"})
    assert isinstance(broken.value.__cause__, httpx.ConnectError)
    assert broken.value.request is not None


async def test_a_read_failure_is_not_resent() -> None:
    app = make_app()
    network = Flaky(httpx.ASGITransport(app=app), [reset])
    async with AsyncQueueClient(base_url=QUEUE, **client_options(app, transport=network)) as c:
        with pytest.raises(TransportError):
            await c.submit("gpt_image_1", {"prompt": "x"})
    assert len(network.seen) == 1


@pytest.mark.server
def test_nothing_listening_is_a_transport_error() -> None:
    from tests.helpers import free_port

    url = f"http://127.0.0.1:{free_port()}/model"
    client = QueueClient(base_url=url, api_key=KEY, retry=RetryPolicy(backoff=0.01))
    with client, pytest.raises(TransportError):
        client.submit("gpt_image_1", {"prompt": "x"})


async def test_a_wrong_key_is_an_authentication_error_in_every_dialect() -> None:
    keys = {p: ("right",) for p in ("seacloud", "openai", "aa")}
    app = fast_app(api_keys=keys)
    options = client_options(app, api_key="wrong")
    async with AsyncQueueClient(base_url=QUEUE, **options) as queue:
        with pytest.raises(AuthenticationError) as q:
            await queue.submit("gpt_image_1", {"prompt": "x"})
    assert (q.value.status, q.value.code, q.value.message) == (
        401,
        "UNAUTHORIZED",
        "Invalid API key",
    )
    async with AsyncImagesClient(base_url=HOST, **options) as images:
        with pytest.raises(AuthenticationError) as i:
            await images.generate("x")
    assert (i.value.code, i.value.request_id is not None) == ("invalid_api_key", True)
    async with AsyncAAClient(base_url=HOST, **options) as aa:
        with pytest.raises(AuthenticationError) as a:
            await aa.task("task_x")
    assert a.value.message == "Invalid API key."


async def test_an_empty_balance_is_insufficient_balance_in_every_dialect() -> None:
    app = fast_app(balances={KEY: 0.0})
    async with AsyncQueueClient(base_url=QUEUE, **client_options(app)) as queue:
        with pytest.raises(InsufficientBalanceError) as q:
            await queue.submit("gpt_image_1", {"prompt": "x"})
    assert (q.value.status, q.value.code) == (402, "40201")
    network = Flaky(httpx.ASGITransport(app=app), [])
    async with AsyncImagesClient(base_url=HOST, **client_options(app, transport=network)) as c:
        with pytest.raises(InsufficientBalanceError) as i:
            await c.generate("x")
    assert (i.value.status, i.value.code, len(network.seen)) == (429, "insufficient_quota", 1)
    async with AsyncAAClient(base_url=HOST, **client_options(app)) as aa:
        with pytest.raises(InsufficientBalanceError) as a:
            await aa.generate("x", images=["https://example.com/a.png"])
    assert (a.value.status, a.value.code) == (400, "insufficient_credit")


async def test_unknown_model_and_job_are_not_found() -> None:
    app = make_app()
    async with AsyncQueueClient(base_url=QUEUE, **client_options(app)) as client:
        with pytest.raises(NotFoundError) as model:
            await client.submit("gpt_image_9", {"prompt": "x"})
        assert model.value.message == "App not found: gpt_image_9"
        with pytest.raises(NotFoundError) as job:
            await client.cancel("gpt_image_1", "mmsu_01JD5X3K7M9Q2W4E6R8T0Y1U3W")
        assert job.value.code == "NOT_FOUND"


async def test_invalid_requests_are_invalid_request_errors() -> None:
    app = make_app(validation="sync")
    async with AsyncQueueClient(base_url=QUEUE, **client_options(app)) as client:
        with pytest.raises(InvalidRequestError) as invalid:
            await client.submit("gpt_image_1", {"prompt": "x", "n": 99})
    assert invalid.value.status == 422
    assert invalid.value.message.startswith("body.n: ")
    async with AsyncQueueClient(base_url=QUEUE, **client_options(app)) as client:
        with pytest.raises(InvalidRequestError) as webhook:
            await client.submit("gpt_image_1", {"prompt": "x", "webhook_url": "https://x"})
    assert (webhook.value.status, webhook.value.message) == (400, "webhook not supported")


async def test_an_expired_link_is_permission_denied() -> None:
    app = make_app(result_ttl=60)
    time = VirtualTime(app)
    async with AsyncQueueClient(base_url=QUEUE, **client_options(app, time)) as client:
        result = await client.run("gpt_image_1", {"prompt": "x", "quality": "low"})
        clock_of(app).advance(120)
        with pytest.raises(PermissionDeniedError) as denied:
            await client.download(result.outputs[0].url)
    assert denied.value.status == 403


def test_misuse_is_a_usage_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SEACLOUD_API_KEY", raising=False)
    with pytest.raises(UsageError, match="SEACLOUD_API_KEY"):
        QueueClient("seacloud")
    with pytest.raises(UsageError, match="provider must be one of seacloud, odirouter"):
        QueueClient("openai", api_key="k")
    monkeypatch.setenv("ODIROUTER_API_KEY", "from-env")
    client = QueueClient("odirouter")
    assert (client.provider, client.base_url) == ("odirouter", "https://odirouter.ai/model")
    client.close()


async def test_agcloud_has_no_generation_endpoint() -> None:
    async with AsyncImagesClient("agcloud", base_url=HOST, **client_options(fast_app())) as c:
        with pytest.raises(UsageError, match="agcloud has no generation endpoint"):
            await c.generate("x")


def test_every_error_is_an_imgemu_error() -> None:
    assert issubclass(UsageError, ValueError)
    for cls in (TransportError, ProviderError, RateLimitError, UsageError):
        assert issubclass(cls, ImgemuError)
