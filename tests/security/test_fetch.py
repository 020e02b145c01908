"""Fetching input images with ``fetch_remote=allowlist`` stays inside its walls.

A real origin (tests/support/origin.py) on a loopback port serves what a fetch must survive:
redirects off the list, too many redirects, other schemes, a 120 MB body (with and without
``Content-Length``), slow answers, compressed and missing bodies. Every refusal is the
provider's own "Could not download" answer; a request's references are fetched together; the
process fetches at most ``MAX_CONCURRENT_FETCHES`` at once over one client; a server that begins
to stop ends the fetches in progress with its 503.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from starlette.applications import Starlette

from emulator.domain.fetch import MAX_CONCURRENT_FETCHES, MAX_FETCH_BYTES, MAX_REDIRECTS, Fetcher
from tests.helpers import RunningServer, asgi_client, decode, examples, fast_app
from tests.support.origin import HUGE, MB, Tally, origin_app

pytestmark = [pytest.mark.anyio, pytest.mark.server]

PROVIDERS = ("openai", "aa", "seacloud", "odirouter")
KEY = {"Authorization": "Bearer sk-test"}


@dataclass
class Origin:
    base_url: str
    port: int
    tally: Tally

    def url(self, path: str) -> str:
        return f"{self.base_url}{path}"


@pytest.fixture
def origin(serve: Callable[[Starlette], RunningServer]) -> Origin:
    tally = Tally()
    running = serve(origin_app(tally))
    return Origin(running.base_url, int(running.base_url.rsplit(":", 1)[1]), tally)


def allowlisted(**overrides: Any) -> Starlette:
    """A fast emulator fetching from 127.0.0.1 only; queue submits validated at once."""
    values: dict[str, Any] = {
        "fetch_remote": "allowlist",
        "fetch_allowlist": ("127.0.0.1",),
        "validation": "sync",
    }
    values.update(overrides)
    return fast_app(**values)


@pytest.fixture
async def emulator() -> AsyncIterator[Starlette]:
    app = allowlisted()
    yield app
    await app.state.emulator.fetcher.aclose()  # what the lifespan does when a server stops


@pytest.fixture
async def client(emulator: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    async with asgi_client(emulator, KEY, timeout=60) as c:
        yield c


async def edit(
    client: httpx.AsyncClient, provider: str, images: list[str], mask: str | None = None
) -> httpx.Response:
    """An edit of ``images`` (URLs) through ``provider``'s JSON references."""
    if provider in ("seacloud", "odirouter"):
        prefix = "/model" if provider == "seacloud" else "/odirouter/model"
        body: dict[str, Any] = {"prompt": "x", "images": images}
        if mask is not None:
            body["mask"] = mask
        return await client.post(f"{prefix}/v1/queue/gpt_image_1_5_edit", json=body)
    body = {"model": "gpt-image-1.5", "prompt": "x", "images": [{"image_url": u} for u in images]}
    if mask is not None:
        body["mask"] = {"image_url": mask}
    path = "/v1/images/edits" if provider == "openai" else "/api/v1/image/generation"
    return await client.post(path, json=body)


def assert_not_downloaded(provider: str, response: httpx.Response, url: str) -> None:
    """``response`` is ``provider``'s refusal of ``images[0]``: "Could not download ..."."""
    text = f"Could not download the image at {url!r}."
    body = response.json()
    if provider == "openai":
        assert response.status_code == 400, response.text
        assert body == {
            "error": {
                "message": text,
                "type": "invalid_request_error",
                "param": "images[0]",
                "code": "invalid_value",
            }
        }
    elif provider == "aa":
        assert response.status_code == 400, response.text
        assert (body["code"], body["message"], body["data"]) == (400, f"images[0]: {text}", None)
    else:
        assert response.status_code == 422, response.text
        problem = {"loc": ["body", "images", 0], "msg": text, "type": "value_error"}
        assert body == {"detail": [problem]}


def assert_edited(provider: str, response: httpx.Response) -> None:
    """``response`` accepted the edit (the queue: a job; the others: images)."""
    assert response.status_code == 200, response.text
    body = response.json()
    if provider in ("seacloud", "odirouter"):
        assert body["queue_position"] == 0
    elif provider == "aa":
        assert (body["code"], body["data"]["task_status"]) == (0, "succeeded"), body
    else:
        assert len(body["data"]) == 1


# --- what is fetched ---------------------------------------------------------------------


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_an_allowlisted_image_is_fetched(
    client: httpx.AsyncClient, origin: Origin, provider: str
) -> None:
    response = await edit(client, provider, [origin.url("/good.png")])
    assert_edited(provider, response)
    assert origin.tally.hosts("/good.png") == [f"127.0.0.1:{origin.port}"]


async def test_the_fetched_image_is_the_input(client: httpx.AsyncClient, origin: Origin) -> None:
    response = await edit(client, "openai", [origin.url("/good.png")])
    assert response.status_code == 200, response.text
    image = decode(response.json()["data"][0]["b64_json"])
    assert image.size == (1536, 1024)  # size auto follows the 96x64 input


async def test_hosts_off_the_list_are_placeholders_never_fetched(
    client: httpx.AsyncClient, origin: Origin
) -> None:
    url = f"http://localhost:{origin.port}/good.png"  # the same origin, by a name not listed
    response = await edit(client, "openai", [url])
    assert response.status_code == 200, response.text
    assert origin.tally.requests == []


# --- redirects ---------------------------------------------------------------------------


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_a_redirect_to_a_host_off_the_list_is_refused(
    client: httpx.AsyncClient, origin: Origin, provider: str
) -> None:
    outside = f"http://localhost:{origin.port}/good.png"
    url = origin.url(f"/redirect?to={outside}")
    assert_not_downloaded(provider, await edit(client, provider, [url]), url)
    assert origin.tally.hosts("/redirect") == [f"127.0.0.1:{origin.port}"]
    assert origin.tally.hosts("/good.png") == []  # the hop off the list was never taken


async def test_redirects_on_the_list_are_followed_up_to_the_bound(
    client: httpx.AsyncClient, origin: Origin
) -> None:
    assert MAX_REDIRECTS == 5
    followed = origin.url(f"/hop/{MAX_REDIRECTS}")
    assert_edited("openai", await edit(client, "openai", [followed]))
    origin.tally.requests.clear()
    too_many = origin.url(f"/hop/{MAX_REDIRECTS + 1}")
    assert_not_downloaded("openai", await edit(client, "openai", [too_many]), too_many)
    assert len(origin.tally.requests) == MAX_REDIRECTS + 1  # the last hop was never asked


@pytest.mark.parametrize("target", ["file:///etc/passwd", "ftp://127.0.0.1/good.png"])
async def test_a_redirect_to_another_scheme_is_refused(
    client: httpx.AsyncClient, origin: Origin, target: str
) -> None:
    # (A reference in such a scheme is refused before any fetch: not a data, http(s) or
    # base64 reference.)
    url = origin.url(f"/redirect?to={target}")
    assert_not_downloaded("openai", await edit(client, "openai", [url]), url)


@pytest.mark.parametrize("path", ["/gzip.png", "/missing.png"])
async def test_compressed_and_missing_answers_are_refused(
    client: httpx.AsyncClient, origin: Origin, path: str
) -> None:
    url = origin.url(path)
    assert_not_downloaded("aa", await edit(client, "aa", [url]), url)


# --- size ----------------------------------------------------------------------------------


@contextmanager
def peak_rss() -> Iterator[list[int]]:
    """The process's resident memory above its level at entry, at its highest meanwhile
    (sampled every 5 ms), in ``[0]`` once the block ends."""
    page = 4096
    statm = Path("/proc/self/statm")

    def rss() -> int:
        return int(statm.read_text().split()[1]) * page

    base = rss()
    peak = [0]
    done = threading.Event()

    def sample() -> None:
        while not done.wait(0.005):
            peak[0] = max(peak[0], rss() - base)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        yield peak
    finally:
        done.set()
        sampler.join()


async def test_a_declared_120_mb_answer_is_refused_before_its_body(
    client: httpx.AsyncClient, origin: Origin
) -> None:
    url = origin.url("/huge.png?declared=1")
    assert_not_downloaded("openai", await edit(client, "openai", [url]), url)
    # Whatever the sockets' buffers took before the connection closed; never the body.
    assert origin.tally.sent < 16 * MB, origin.tally.sent


async def test_an_undeclared_120_mb_answer_is_read_to_the_cap_and_no_further(
    client: httpx.AsyncClient, origin: Origin
) -> None:
    url = origin.url("/huge.png")
    with peak_rss() as peak:
        response = await edit(client, "openai", [url])
    assert_not_downloaded("openai", response, url)
    assert origin.tally.sent < MAX_FETCH_BYTES + 16 * MB < HUGE, origin.tally.sent
    # Held: at most the cap (50 MB), never the 120 MB answer (the origin runs in this process
    # too, but sends from one chunk at a time).
    assert peak[0] < MAX_FETCH_BYTES + 30 * MB, f"{peak[0] / MB:.0f} MB"


CAP = 200_000  # a small cap, for many examples


def test_the_byte_cap_is_exact_with_or_without_content_length(origin: Origin) -> None:
    # One loop and one fetcher for every example (a fetcher's client lives in one loop).
    with asyncio.Runner() as runner:
        fetcher = Fetcher(["127.0.0.1"], max_bytes=CAP)

        @settings(max_examples=examples(), deadline=None)
        @given(
            size=st.one_of(st.integers(CAP - 2, CAP + 2), st.integers(0, 3 * CAP)),
            declared=st.booleans(),
        )
        def check(size: int, declared: bool) -> None:
            url = origin.url(f"/bytes?size={size}&declared={int(declared)}")
            got = runner.run(fetcher.fetch(url))
            if size <= CAP:
                assert got is not None
                assert len(got) == size
            else:
                assert got is None

        try:
            check()
        finally:
            runner.run(fetcher.aclose())


# --- time ----------------------------------------------------------------------------------


async def test_a_fetch_ends_at_its_deadline(origin: Origin) -> None:
    app = allowlisted(fetch_timeout=0.5)
    url = origin.url("/slow.png?seconds=5")
    try:
        async with asgi_client(app, KEY, timeout=60) as client:
            started = time.monotonic()
            response = await edit(client, "seacloud", [url])
            took = time.monotonic() - started
    finally:
        await app.state.emulator.fetcher.aclose()
    assert_not_downloaded("seacloud", response, url)
    assert 0.4 < took < 2.0, took


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_the_references_of_one_request_are_fetched_together(
    client: httpx.AsyncClient, origin: Origin, provider: str
) -> None:
    # Four images and a mask, each a second away: about one second, not five.
    slow = [origin.url(f"/slow.png?seconds=1&n={n}") for n in range(4)]
    started = time.monotonic()
    response = await edit(client, provider, slow, mask=origin.url("/slow.png?seconds=1&n=4"))
    took = time.monotonic() - started
    assert response.status_code in (200, 400, 422), response.text  # the mask does not fit: fine
    assert origin.tally.most_active == 5
    assert took < 2.5, f"{took:.1f}s: the fetches went one after another"


async def test_the_process_fetches_a_bounded_number_at_once(
    client: httpx.AsyncClient, origin: Origin
) -> None:
    assert MAX_CONCURRENT_FETCHES == 16
    # Five requests of four references each: twenty fetches, sixteen at a time.
    batches = [
        [origin.url(f"/slow.png?seconds=0.5&r={r}&n={n}") for n in range(4)] for r in range(5)
    ]
    started = time.monotonic()
    answers = await asyncio.gather(*(edit(client, "openai", urls) for urls in batches))
    took = time.monotonic() - started
    assert all(a.status_code == 200 for a in answers), [a.text for a in answers]
    assert origin.tally.most_active == MAX_CONCURRENT_FETCHES
    assert 0.9 < took < 3.0, took  # two rounds of half a second


async def test_fetches_share_one_client_and_its_connections(
    client: httpx.AsyncClient, origin: Origin
) -> None:
    for _ in range(3):
        assert_edited("openai", await edit(client, "openai", [origin.url("/good.png")]))
    assert len(set(origin.tally.ports)) == 1, origin.tally.ports  # one kept-alive connection


# --- stopping ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("provider", "status", "words"),
    [
        ("openai", 503, "The server is shutting down. Please retry your request."),
        ("aa", 503, "Service is shutting down, please retry."),
        ("seacloud", 503, "Service is shutting down, please retry"),
    ],
)
async def test_a_server_that_stops_ends_the_fetches_in_progress(
    emulator: Starlette,
    client: httpx.AsyncClient,
    origin: Origin,
    provider: str,
    status: int,
    words: str,
) -> None:
    url = origin.url("/slow.png?seconds=30")
    call = asyncio.ensure_future(edit(client, provider, [url]))
    for _ in range(500):  # until the fetch waits at the origin
        if origin.tally.active:
            break
        await asyncio.sleep(0.01)
    started = time.monotonic()
    emulator.state.drain.begin()
    response = await call
    assert time.monotonic() - started < 1.0
    assert response.status_code == status, response.text
    assert words in response.text
    # and a request that comes afterwards fetches nothing
    again = await edit(client, provider, [origin.url("/good.png")])
    assert again.status_code == status
    assert origin.tally.hosts("/good.png") == []
