"""``GET /metrics``: every metric after a scripted run, histograms against the request counts,
the gauges on the virtual clock, OpenMetrics when asked, a reset, and two emulators on one
Redis whose ``/metrics`` both report the sum of what each served."""

from __future__ import annotations

import base64
import math
import time
from collections.abc import AsyncIterator, Callable

import httpx
import pytest
from prometheus_client.openmetrics.parser import (
    text_string_to_metric_families as openmetrics_families,
)
from prometheus_client.parser import text_string_to_metric_families
from starlette.applications import Starlette

from emulator.app import create_app
from emulator.domain.metrics import BUCKETS
from emulator.domain.pricing import image_cost_usd
from emulator.settings import Settings
from tests.helpers import RunningServer, make_app, on_virtual_clock, png_bytes
from tests.seeds import SEED_GPT_IMAGE_1
from tests.support.aa import body as aa_body

QUEUE_KEY, OPENAI_KEY, AA_KEY = "k-queue", "sk-openai", "sk-aa"
QUEUE = "/model/v1/queue/gpt_image_1"
BALANCE = 100.0

# (sample name, sorted labels) -> value
Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def samples(text: str) -> Samples:
    """Every sample of a scrape, parsed as Prometheus text (no sample twice)."""
    found: Samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            key = (sample.name, tuple(sorted(sample.labels.items())))
            assert key not in found, key
            found[key] = sample.value
    return found


def series(found: Samples, name: str) -> dict[tuple[str, ...], float]:
    """The samples named ``name``, by their label values in label-name order."""
    return {
        tuple(value for _, value in labels): value
        for (sample, labels), value in found.items()
        if sample == name
    }


async def scrape(client: httpx.AsyncClient) -> Samples:
    response = await client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    return samples(response.text)


def client_of(app: Starlette) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://emulator.test", timeout=60
    )


@pytest.fixture
async def scripted() -> AsyncIterator[tuple[Starlette, httpx.AsyncClient]]:
    app = make_app(
        validation="sync",
        model_slots={"gpt_image_1": 1},
        balances={QUEUE_KEY: BALANCE, OPENAI_KEY: BALANCE, AA_KEY: BALANCE},
    )
    async with client_of(app) as client:
        yield app, client


def key(value: str) -> dict[str, str]:
    return {"Authorization": f"Key {value}" if value == QUEUE_KEY else f"Bearer {value}"}


async def spent(client: httpx.AsyncClient, api_key: str) -> float:
    usd = (await client.get(f"/_emulator/balances/{api_key}")).json()["usd"]
    return BALANCE - float(usd)


pytestmark = pytest.mark.anyio


async def test_every_metric_after_a_scripted_run(
    scripted: tuple[Starlette, httpx.AsyncClient],
) -> None:
    app, client = scripted
    queue = key(QUEUE_KEY)
    # The queue: two jobs on one slot, a refused key, a refused body, reads, a cancel.
    first = (await client.post(QUEUE, json=SEED_GPT_IMAGE_1, headers=queue)).json()
    second = (await client.post(QUEUE, json=SEED_GPT_IMAGE_1, headers=queue)).json()
    assert (await client.post(QUEUE, json=SEED_GPT_IMAGE_1)).status_code == 401
    bad = {**SEED_GPT_IMAGE_1, "quality": "ultra"}
    assert (await client.post(QUEUE, json=bad, headers=queue)).status_code == 422
    assert (await client.get(first["status_url"], headers=queue)).status_code == 202
    unknown = first["status_url"].replace(first["request_id"], "mmsu_unknown")
    assert (await client.get(unknown, headers=queue)).status_code == 404
    assert (await client.get(second["response_url"], headers=queue)).status_code == 202
    assert (await client.put(second["cancel_url"], headers=queue)).status_code == 202
    # OpenAI: one generation (an inline image), one refused key.
    openai = key(OPENAI_KEY)
    generated = await on_virtual_clock(
        app,
        client.post(
            "/v1/images/generations",
            json={"model": "gpt-image-1", "prompt": "a red apple", "size": "1024x1024"},
            headers=openai,
        ),
    )
    assert generated.status_code == 200
    inline = base64.b64decode(generated.json()["data"][0]["b64_json"])
    assert (await client.post("/v1/images/generations", json={})).status_code == 401
    # 典名词元: an upload, an asynchronous task, its query.
    aa = key(AA_KEY)
    upload = await client.post(
        "/api/v1/files", files={"file": ("in.png", png_bytes((64, 64)), "image/png")}, headers=aa
    )
    assert upload.status_code == 200
    task = await client.post(
        "/api/v1/image/generation",
        json=aa_body(**{"async": True}),
        headers=aa,
    )
    assert task.status_code == 200, task.text
    task_id = task.json()["data"]["task_id"]
    assert (await client.get(f"/api/v1/image/generation/{task_id}", headers=aa)).status_code == 200
    # The first job finishes; its file is downloaded (no key: a CDN link).
    job = (await client.get(f"/_emulator/jobs/{first['request_id']}")).json()
    await client.post("/_emulator/clock", json={"set": job["finished_at"]})
    result = await client.get(first["response_url"], headers=queue)
    assert result.status_code == 200
    download = await client.get(result.json()["outputs"][0]["url"])
    assert download.status_code == 200
    # Neither the control plane, the documents nor /metrics itself count as operations.
    await client.get("/_emulator/health")
    await client.get("/openapi/seacloud.json")
    await client.get("/metrics")

    found = await scrape(client)
    assert series(found, "imgemu_requests_total") == {
        ("submit", "seacloud", "200"): 2,
        ("submit", "seacloud", "401"): 1,
        ("submit", "seacloud", "422"): 1,
        ("status", "seacloud", "202"): 1,
        ("status", "seacloud", "404"): 1,
        ("result", "seacloud", "202"): 1,
        ("result", "seacloud", "200"): 1,
        ("cancel", "seacloud", "202"): 1,
        ("images.generate", "openai", "200"): 1,
        ("images.generate", "openai", "401"): 1,
        ("aa.upload", "aa", "200"): 1,
        ("aa.generate", "aa", "200"): 1,
        ("aa.task", "aa", "200"): 1,
    }
    assert series(found, "imgemu_jobs_submitted_total") == {("odirouter",): 0, ("seacloud",): 2}
    # The first job completed, the second was canceled: nothing waits or runs.
    assert series(found, "imgemu_jobs") == {
        ("seacloud", "IN_QUEUE"): 0,
        ("seacloud", "IN_PROGRESS"): 0,
        ("seacloud", "COMPLETED"): 2,
        ("odirouter", "IN_QUEUE"): 0,
        ("odirouter", "IN_PROGRESS"): 0,
        ("odirouter", "COMPLETED"): 0,
    }
    pool = ("gpt_image_1", "seacloud")
    assert series(found, "imgemu_queue_depth") == {pool: 0}
    assert series(found, "imgemu_pool_busy_slots") == {pool: 0}
    assert series(found, "imgemu_pool_slots") == {pool: 1}
    # What was charged is what the balances lost.
    charged = series(found, "imgemu_charged_usd_total")
    assert charged.keys() == {("aa",), ("agcloud",), ("odirouter",), ("openai",), ("seacloud",)}
    for provider, api_key in (("seacloud", QUEUE_KEY), ("openai", OPENAI_KEY), ("aa", AA_KEY)):
        assert charged[(provider,)] > 0
        assert charged[(provider,)] == pytest.approx(await spent(client, api_key))
    assert charged[("agcloud",)] == charged[("odirouter",)] == 0
    # Two images made (the inline one, the downloaded file), each served once.
    assert series(found, "imgemu_images_rendered_total") == {(): 2}
    assert series(found, "imgemu_images_served_total") == {("b64",): 1, ("file",): 1}
    assert series(found, "imgemu_images_served_bytes_total") == {
        ("b64",): len(inline),
        ("file",): len(download.content),
    }
    assert_histograms_match_the_requests(found)


def assert_histograms_match_the_requests(found: Samples) -> None:
    """Per operation: cumulative buckets at every bound, ``+Inf`` = count = its requests."""
    requests: dict[tuple[str, str], float] = {}
    for (operation, provider, _status), count in series(found, "imgemu_requests_total").items():
        requests[operation, provider] = requests.get((operation, provider), 0) + count
    buckets: dict[tuple[str, str], list[tuple[float, float]]] = {}
    for (bound, operation, provider), count in series(
        found, "imgemu_request_duration_seconds_bucket"
    ).items():
        buckets.setdefault((operation, provider), []).append((float(bound), count))
    counts = series(found, "imgemu_request_duration_seconds_count")
    sums = series(found, "imgemu_request_duration_seconds_sum")
    assert buckets.keys() == counts.keys() == sums.keys() == requests.keys()
    for operation, cumulative in buckets.items():
        cumulative.sort()
        assert [bound for bound, _ in cumulative] == list(BUCKETS)
        values = [count for _, count in cumulative]
        assert values == sorted(values), (operation, values)  # cumulative: never decreasing
        assert cumulative[-1] == (math.inf, counts[operation])
        assert counts[operation] == requests[operation]
        assert sums[operation] > 0


async def test_a_stream_serves_each_partial_and_final_image_inline() -> None:
    app = make_app(clock="real", clock_start=None, time_scale=1e-9)
    async with client_of(app) as client:
        streamed = await client.post(
            "/v1/images/generations",
            json={"model": "gpt-image-1", "prompt": "a pear", "stream": True, "partial_images": 2},
            headers=key(OPENAI_KEY),
        )
        assert streamed.status_code == 200
        images = [
            base64.b64decode(line.split('"b64_json":"', 1)[1].split('"', 1)[0])
            for line in streamed.text.splitlines()
            if '"b64_json"' in line
        ]
        assert len(images) == 3
        found = await scrape(client)
    assert series(found, "imgemu_images_rendered_total") == {(): 3}
    assert series(found, "imgemu_images_served_total")[("b64",)] == 3
    assert series(found, "imgemu_images_served_bytes_total")[("b64",)] == sum(map(len, images))


@pytest.fixture(params=["memory", "redis"])
def store_url(request: pytest.FixtureRequest) -> str:
    if request.param == "memory":
        return "memory"
    url: str = request.getfixturevalue("redis_url")
    return url


async def test_the_gauges_follow_the_virtual_clock(store_url: str) -> None:
    """Three jobs on two slots: states, depth and busy slots as the clock passes each start
    and finish, and as the status reads answer at each instant."""
    app = make_app(store=store_url, model_slots={"gpt_image_1": 2})
    async with client_of(app) as client:
        queue = key(QUEUE_KEY)
        jobs = [
            (await client.post(QUEUE, json=SEED_GPT_IMAGE_1, headers=queue)).json() for _ in "abc"
        ]
        records = [
            (await client.get(f"/_emulator/jobs/{job['request_id']}")).json() for job in jobs
        ]
        instants = sorted({r["started_at"] for r in records} | {r["finished_at"] for r in records})
        seen = []
        for instant in [None, *instants]:
            if instant is not None:
                await client.post("/_emulator/clock", json={"set": instant})
            statuses = [
                (await client.get(job["status_url"], headers=queue)).json()["status"]
                for job in jobs
            ]
            found = await scrape(client)
            jobs_now = series(found, "imgemu_jobs")
            state = {s: jobs_now[("seacloud", s)] for s in ("IN_QUEUE", "IN_PROGRESS", "COMPLETED")}
            assert state == {s: statuses.count(s) for s in state}, (instant, statuses)
            pool = ("gpt_image_1", "seacloud")
            assert series(found, "imgemu_queue_depth")[pool] == statuses.count("IN_QUEUE")
            assert series(found, "imgemu_pool_busy_slots")[pool] == statuses.count("IN_PROGRESS")
            assert series(found, "imgemu_pool_slots")[pool] == 2
            seen.append(tuple(statuses))
        # The run went through waiting, running and done: the gauges were seen to move.
        assert seen[0] == ("IN_PROGRESS", "IN_PROGRESS", "IN_QUEUE")
        assert seen[-1] == ("COMPLETED",) * 3
        # A canceled waiting job leaves the queue at once.
        more = [
            (await client.post(QUEUE, json=SEED_GPT_IMAGE_1, headers=queue)).json() for _ in "abc"
        ]
        assert (await client.put(more[2]["cancel_url"], headers=queue)).status_code == 202
        found = await scrape(client)
        assert series(found, "imgemu_jobs")[("seacloud", "IN_QUEUE")] == 0
        assert series(found, "imgemu_jobs")[("seacloud", "IN_PROGRESS")] == 2
        assert series(found, "imgemu_jobs")[("seacloud", "COMPLETED")] == 4
        await app.state.emulator.store.close()


async def test_openmetrics_when_asked() -> None:
    app = make_app()
    async with client_of(app) as client:
        await client.post(QUEUE, json=SEED_GPT_IMAGE_1, headers=key(QUEUE_KEY))
        response = await client.get(
            "/metrics", headers={"Accept": "application/openmetrics-text; version=1.0.0"}
        )
    assert response.headers["content-type"].startswith("application/openmetrics-text")
    assert response.text.endswith("# EOF\n")
    families = {family.name: family for family in openmetrics_families(response.text)}
    (sample,) = families["imgemu_requests"].samples
    assert sample.labels == {"provider": "seacloud", "operation": "submit", "status": "200"}
    assert sample.value == 1


async def test_a_reset_starts_the_metrics_again() -> None:
    app = make_app()
    async with client_of(app) as client:
        await client.post(QUEUE, json=SEED_GPT_IMAGE_1, headers=key(QUEUE_KEY))
        await client.get("/metrics")  # flushed to the store...
        await client.post(QUEUE, json=SEED_GPT_IMAGE_1, headers=key(QUEUE_KEY))  # ...and not
        assert (await client.post("/_emulator/reset")).status_code == 200
        found = await scrape(client)
        assert series(found, "imgemu_requests_total") == {}
        assert set(series(found, "imgemu_jobs").values()) == {0}
        assert series(found, "imgemu_pool_slots") == {}
        await client.post(QUEUE, json=SEED_GPT_IMAGE_1, headers=key(QUEUE_KEY))
        found = await scrape(client)
    assert series(found, "imgemu_requests_total") == {("submit", "seacloud", "200"): 1}


# -- several processes on one store ------------------------------------------------------------


def shared_app(url: str, seed: int) -> Starlette:
    """An emulator on the shared Redis (its own seed: the ids of two must not collide)."""
    settings = Settings(store=url, seed=seed, log_requests="off", time_scale=1.0)
    return create_app(settings)


def text_samples(base_url: str) -> Samples:
    response = httpx.get(base_url + "/metrics", timeout=10)
    assert response.status_code == 200
    return samples(response.text)


@pytest.mark.server
def test_each_emulator_on_one_redis_reports_the_sum_of_all(
    serve: Callable[[Starlette], RunningServer], redis_url: str
) -> None:
    one = serve(shared_app(redis_url, 0))
    two = serve(shared_app(redis_url, 1))
    auth = {"Authorization": f"Key {QUEUE_KEY}"}
    with httpx.Client(headers=auth, timeout=10) as client:
        # Through the first: three submits, a refused key, two status reads.
        submitted = [client.post(one.base_url + QUEUE, json=SEED_GPT_IMAGE_1).json() for _ in "abc"]
        assert client.post(one.base_url + QUEUE, headers={"Authorization": ""}).status_code == 401
        for job in submitted[:2]:
            assert client.get(job["status_url"]).status_code == 202  # not yet COMPLETED
        # Through the second: two submits, a status read of the first's job, an unknown one.
        path = submitted[0]["status_url"].split("/", 3)[3]
        for _ in "ab":
            assert client.post(two.base_url + QUEUE, json=SEED_GPT_IMAGE_1).status_code == 200
        assert client.get(f"{two.base_url}/{path}").status_code == 202
        unknown = path.replace(submitted[0]["request_id"], "mmsu_unknown")
        assert client.get(f"{two.base_url}/{unknown}").status_code == 404
    expected = {
        ("submit", "seacloud", "200"): 5,
        ("submit", "seacloud", "401"): 1,
        ("status", "seacloud", "202"): 3,
        ("status", "seacloud", "404"): 1,
    }
    # The second's counts reach the store by its own flush, within a second of counting them:
    # the first sees them without the second being scraped.
    deadline = time.monotonic() + 10
    while True:
        got = series(text_samples(one.base_url), "imgemu_requests_total")
        if got == expected or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert got == expected
    scraped = [text_samples(server.base_url) for server in (one, two)]
    assert [series(found, "imgemu_requests_total") for found in scraped] == [expected] * 2
    for found in scraped:
        assert series(found, "imgemu_jobs_submitted_total")[("seacloud",)] == 5
        jobs = series(found, "imgemu_jobs")
        assert sum(jobs[("seacloud", s)] for s in ("IN_QUEUE", "IN_PROGRESS", "COMPLETED")) == 5
        assert series(found, "imgemu_pool_busy_slots") == {("gpt_image_1", "seacloud"): 5}
        assert_histograms_match_the_requests(found)
        charged = series(found, "imgemu_charged_usd_total")[("seacloud",)]
        assert charged == pytest.approx(5 * image_cost_usd("gpt-image-1", "medium", 1024, 1024))
