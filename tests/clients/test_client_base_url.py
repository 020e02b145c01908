"""Base URLs: each provider's convention (``/v1``, ``/model``, the root), the form without the
suffix, ``OPENAI_BASE_URL``; every client against a real emulator server."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest
from starlette.applications import Starlette

from clients import (
    AAClient,
    AsyncAAClient,
    AsyncImagesClient,
    AsyncQueueClient,
    ImagesClient,
    QueueClient,
)
from clients._core import PROVIDERS, emulator_base_url, normalize_base_url
from tests.helpers import KEY, RunningServer, decode, fast_app, png_bytes

Serve = Callable[[Starlette], RunningServer]
pytestmark = [pytest.mark.server, pytest.mark.anyio]

# (provider, base URL relative to the server's root as the user writes it, what it resolves to)
FORMS = [
    ("openai", "/v1", "/v1"),
    ("openai", "", "/v1"),
    ("openai", "/v1/", "/v1"),
    ("agcloud", "/v1", "/v1"),
    ("agcloud", "", "/v1"),
    ("seacloud", "/seacloud/model", "/seacloud/model"),
    ("seacloud", "/seacloud", "/seacloud/model"),
    ("seacloud", "/model", "/model"),  # the bare path: seacloud owns it by default
    ("seacloud", "", "/model"),
    ("odirouter", "/odirouter/model", "/odirouter/model"),
    ("odirouter", "/odirouter/", "/odirouter/model"),
    ("aa", "", ""),
    ("aa", "/", ""),
]


def test_normalize_adds_the_suffix_once() -> None:
    assert normalize_base_url("openai", "https://api.openai.com") == "https://api.openai.com/v1"
    assert normalize_base_url("openai", "https://api.openai.com/v1/") == "https://api.openai.com/v1"
    assert normalize_base_url("odirouter", "http://h/odirouter") == "http://h/odirouter/model"
    assert normalize_base_url("aa", "https://api.aa.com.cn/") == "https://api.aa.com.cn"
    for name, provider in PROVIDERS.items():
        assert normalize_base_url(name, provider.base_url) == provider.base_url
        emulated = emulator_base_url(name, "http://127.0.0.1:9/")
        assert normalize_base_url(name, emulated) == emulated


@pytest.mark.parametrize(("provider", "written", "resolved"), FORMS)
def test_both_forms_reach_the_provider_sync(
    serve: Serve, provider: str, written: str, resolved: str
) -> None:
    server = serve(fast_app())
    base = server.base_url + written
    expected = server.base_url + resolved
    if provider in ("seacloud", "odirouter"):
        with QueueClient(provider, base_url=base, api_key=KEY) as queue:
            assert queue.base_url == expected
            result = queue.run("gpt_image_1", {"prompt": "an apple"}, download=True)
        assert result.outputs[0].url.startswith(server.base_url)
        assert decode(result.images[0]).size == (1024, 1024)
        jobs = httpx.get(server.base_url + "/_emulator/jobs").json()["jobs"]
        assert [job["provider"] for job in jobs] == [provider]
    elif provider == "aa":
        with AAClient(base_url=base, api_key=KEY) as aa:
            assert aa.base_url == expected
            task = aa.generate("on a table", images=[png_bytes((1024, 1024))])
        assert task.status == "succeeded"
    else:
        with ImagesClient(provider, base_url=base, api_key=KEY) as images:
            assert images.base_url == expected
            result_images = images.edit("greener", png_bytes((1024, 1024)), size="1024x1024")
            if provider == "openai":
                generated = images.generate("an apple", size="1024x1536", quality="low")
                assert decode(generated.images[0]).size == (1024, 1536)
        assert decode(result_images.images[0]).size == (1024, 1024)


# Both drivers resolve the base URL in one place (clients._core.Core): every form stays everyday
# in the sync test above; the async clients keep one form to resolve per class, the rest slow.
ASYNC_EVERYDAY = {("openai", ""), ("seacloud", "/seacloud"), ("aa", "/")}


@pytest.mark.parametrize(
    ("provider", "written", "resolved"),
    [
        form if form[:2] in ASYNC_EVERYDAY else pytest.param(*form, marks=pytest.mark.slow)
        for form in FORMS
    ],
)
async def test_both_forms_reach_the_provider_async(
    serve: Serve, provider: str, written: str, resolved: str
) -> None:
    server = serve(fast_app())
    base = server.base_url + written
    expected = server.base_url + resolved
    if provider in ("seacloud", "odirouter"):
        async with AsyncQueueClient(provider, base_url=base, api_key=KEY) as queue:
            assert queue.base_url == expected
            job = await queue.submit("gpt_image_1", {"prompt": "an apple"})
            status = await queue.status("gpt_image_1", job.request_id)
        assert status.request_id == job.request_id
    elif provider == "aa":
        async with AsyncAAClient(base_url=base, api_key=KEY) as aa:
            assert aa.base_url == expected
            task = await aa.generate("on a table", images=[png_bytes((1024, 1024))])
        assert task.status == "succeeded"
    else:
        async with AsyncImagesClient(provider, base_url=base, api_key=KEY) as images:
            assert images.base_url == expected
            result = await images.edit("greener", png_bytes((1024, 1024)), size="1536x1024")
        assert decode(result.images[0]).size == (1536, 1024)


@pytest.mark.parametrize("suffix", ["/v1", ""])
def test_openai_base_url_from_the_environment(
    serve: Serve, monkeypatch: pytest.MonkeyPatch, suffix: str
) -> None:
    server = serve(fast_app())
    monkeypatch.setenv("OPENAI_BASE_URL", server.base_url + suffix)
    with ImagesClient("openai", api_key=KEY) as images:
        assert images.base_url == server.base_url + "/v1"
        result = images.generate("an apple", size="1024x1024", quality="low")
    assert decode(result.images[0]).size == (1024, 1024)


async def test_openai_base_url_from_the_environment_async(
    serve: Serve, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = serve(fast_app())
    monkeypatch.setenv("OPENAI_BASE_URL", server.base_url + "/v1")
    async with AsyncImagesClient(api_key=KEY) as images:
        result = await images.generate("an apple", size="1024x1024", quality="low")
    assert decode(result.images[0]).size == (1024, 1024)


def test_an_explicit_base_url_wins_and_only_openai_reads_the_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9/v1")
    with ImagesClient("openai", base_url="http://other:8000", api_key=KEY) as images:
        assert images.base_url == "http://other:8000/v1"
    with ImagesClient("agcloud", api_key=KEY) as images:
        assert images.base_url == "https://aiandgpu.com/v1"
    monkeypatch.setenv("OPENAI_BASE_URL", "")
    with ImagesClient("openai", api_key=KEY) as images:
        assert images.base_url == "https://api.openai.com/v1"
    monkeypatch.delenv("OPENAI_BASE_URL")
    with ImagesClient("openai", api_key=KEY) as images:
        assert images.base_url == "https://api.openai.com/v1"
