"""Rate limits in each provider's own terms, against real servers.

OpenAI and AGCloud: requests and images per minute per key and model, the ``x-ratelimit-*``
headers on every answer to a key (success, stream, error), a 429 with OpenAI's body and
``retry-after``; the official SDK waiting out a 429 before its retry. The queue providers:
submissions per minute and unfinished jobs per key, refused with the gateway's 429. 典名词元: its
envelope. Two servers on one Redis count against the same windows.

The servers run on a virtual clock, moved through the control plane; with ``steering`` on, an
``X-Imgemu-Latency: 0`` header makes a generation take no time, so a call answers at once.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import openai
import pytest
from starlette.applications import Starlette

from emulator.domain.gateway import owner_of
from tests.helpers import RunningServer, make_app, png_bytes
from tests.support.aa import body as aa_body
from tests.support.images import PROMPT

pytestmark = pytest.mark.server

Serve = Callable[[Starlette], RunningServer]
KEY = "sk-limits"
ORG = f"org-{owner_of(KEY)}"
NOW = {"X-Imgemu-Latency": "0"}  # the generation takes no time: the call answers at once
GENERATIONS = "/v1/images/generations"
LIMIT_HEADERS = [
    f"x-ratelimit-{part}-{unit}"
    for unit in ("requests", "images")
    for part in ("limit", "remaining", "reset")
]
NOMINAL = ["10000", "10000", "0s"]
IPM_TEXT = (
    "Rate limit exceeded for images per minute in organization {org}. Limit: {limit}/1min. "
    "Current: {current}/1min. Please visit https://platform.openai.com/docs/guides/rate-limits "
    "to learn how to increase your rate limit."
)
RPM_TEXT = (
    "Rate limit reached for {model} in organization {org} on requests per min (RPM): "
    "Limit {limit}, Used {used}, Requested 1. Please try again in {wait}. Visit "
    "https://platform.openai.com/account/rate-limits to learn more."
)
QUEUE_429 = {
    "code": "RATE_LIMIT_EXCEEDED",
    "message": "Rate limit exceeded, please try again later",
}


class Emulator:
    """A served emulator on a virtual clock, and a client with ``KEY``."""

    def __init__(self, server: RunningServer, scheme: str = "Bearer") -> None:
        self.base_url = server.base_url
        self.http = httpx.Client(
            base_url=server.base_url, headers={"Authorization": f"{scheme} {KEY}"}, timeout=30
        )

    def advance(self, seconds: float) -> None:
        moved = self.http.post("/_emulator/clock", json={"advance": seconds})
        assert moved.status_code == 200, moved.text

    def generate(self, n: int = 1, model: str = "gpt-image-1", **fields: Any) -> httpx.Response:
        body = {"model": model, "prompt": PROMPT, "n": n, "quality": "low", **fields}
        return self.http.post(GENERATIONS, json=body, headers=NOW)


@pytest.fixture
def emulators(serve: Serve) -> Iterator[Callable[..., Emulator]]:
    made: list[Emulator] = []

    def start(scheme: str = "Bearer", **settings: Any) -> Emulator:
        emulator = Emulator(serve(make_app(steering=True, **settings)), scheme)
        made.append(emulator)
        return emulator

    yield start
    for emulator in made:
        emulator.http.close()


def limits_of(response: httpx.Response) -> list[str]:
    """The six ``x-ratelimit-*`` values: requests (limit, remaining, reset), then images."""
    return [response.headers[name] for name in LIMIT_HEADERS]


def openai_error(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["x-request-id"].startswith("req_")
    body: dict[str, Any] = response.json()
    assert set(body) == {"error"}
    return body["error"]


# -- OpenAI -------------------------------------------------------------------------------------


def test_images_per_minute_count_each_requests_n_and_refuse_in_openais_words(
    emulators: Callable[..., Emulator],
) -> None:
    emu = emulators(openai_ipm=5)
    first = emu.generate(n=2)
    assert first.status_code == 200, first.text
    assert limits_of(first) == [*NOMINAL, "5", "3", "1m0s"]
    emu.advance(10)
    assert limits_of(emu.generate(n=2)) == [*NOMINAL, "5", "1", "50s"]

    refused = emu.generate(n=2)
    assert openai_error(refused, 429) == {
        "message": IPM_TEXT.format(org=ORG, limit=5, current=6),
        "type": "requests",
        "param": None,
        "code": "rate_limit_exceeded",
    }
    # Two of the first request's units must leave: at 60 s, 50 s from now.
    assert (refused.headers["retry-after"], refused.headers["retry-after-ms"]) == ("50", "50000")
    assert limits_of(refused) == [*NOMINAL, "5", "1", "50s"]  # the refusal took nothing

    assert limits_of(emu.generate(n=1)) == [*NOMINAL, "5", "0", "50s"]
    emu.advance(50)  # the two units of the first request leave
    again = emu.generate(n=2)
    assert again.status_code == 200, again.text
    assert limits_of(again) == [*NOMINAL, "5", "0", "10s"]


def test_requests_per_minute_are_per_key_and_model(emulators: Callable[..., Emulator]) -> None:
    emu = emulators(openai_rpm=2)
    assert limits_of(emu.generate())[:3] == ["2", "1", "1m0s"]
    emu.advance(15)
    assert limits_of(emu.generate())[:3] == ["2", "0", "45s"]
    refused = emu.generate()
    assert openai_error(refused, 429) == {
        "message": RPM_TEXT.format(model="gpt-image-1", org=ORG, limit=2, used=2, wait="45s"),
        "type": "requests",
        "param": None,
        "code": "rate_limit_exceeded",
    }
    assert (refused.headers["retry-after"], refused.headers["retry-after-ms"]) == ("45", "45000")
    assert limits_of(refused) == ["2", "0", "45s", *NOMINAL]
    # A request naming no model counts against no model's window (OpenAI's model has no
    # default any more): it is refused for the missing model, not for the limit.
    body = {"prompt": PROMPT, "quality": "low"}
    assert openai_error(emu.http.post(GENERATIONS, json=body, headers=NOW), 400)["param"] == (
        "model"
    )
    # Another model, another window; another key, other windows.
    assert limits_of(emu.generate(model="gpt-image-2"))[:3] == ["2", "1", "1m0s"]
    other = emu.http.post(
        GENERATIONS,
        json={"model": "gpt-image-1", "prompt": PROMPT, "quality": "low"},
        headers={**NOW, "Authorization": "Bearer sk-other"},
    )
    assert other.status_code == 200
    assert limits_of(other)[:3] == ["2", "1", "1m0s"]


def test_every_answer_to_a_key_shows_its_limits(emulators: Callable[..., Emulator]) -> None:
    emu = emulators(openai_rpm=10, openai_ipm=20)
    seen: list[tuple[int, list[str]]] = []

    def note(response: httpx.Response) -> None:
        seen.append((response.status_code, limits_of(response)[1::3]))  # remaining, both

    note(emu.generate())
    with emu.http.stream(
        "POST",
        GENERATIONS,
        json={"model": "gpt-image-1", "prompt": PROMPT, "n": 2, "stream": True},
        headers=NOW,
    ) as stream:
        assert stream.headers["content-type"].startswith("text/event-stream")
        stream.read()
        note(stream)
    note(emu.generate(size="3x3"))  # refused by validation: counted all the same
    note(emu.http.post(GENERATIONS, content=b"{not json", headers=NOW))  # one image, no model
    failed = emu.http.post(
        GENERATIONS,
        json={"model": "gpt-image-1", "prompt": PROMPT},
        headers={**NOW, "X-Imgemu-Outcome": "INFERENCE_FAILURE"},
    )
    note(failed)
    edit = emu.http.post(
        "/v1/images/edits",
        data={"model": "gpt-image-1", "prompt": PROMPT, "n": "3"},
        files=[("image", ("in.png", png_bytes((256, 256)), "image/png"))],
        headers=NOW,
    )
    note(edit)  # edits count against the model's windows too
    assert seen == [
        (200, ["9", "19"]),
        (200, ["8", "17"]),
        (400, ["7", "16"]),
        (400, ["9", "19"]),  # counted under no model: a window of its own
        (500, ["6", "15"]),
        (200, ["5", "12"]),
    ]
    # A request without a key has no limits to show.
    anonymous = httpx.post(emu.base_url + GENERATIONS, json={"prompt": PROMPT})
    assert anonymous.status_code == 401
    assert not any(name.startswith("x-ratelimit") for name in anonymous.headers)


def test_with_the_limits_off_nothing_is_refused_and_the_headers_are_nominal(
    emulators: Callable[..., Emulator],
) -> None:
    emu = emulators()
    for _ in range(12):
        answer = emu.generate(n=10)
        assert answer.status_code == 200
        assert limits_of(answer) == NOMINAL * 2


def test_agcloud_counts_its_own_limits_in_openais_words(
    emulators: Callable[..., Emulator],
) -> None:
    emu = emulators(agcloud_ipm=3)

    def edit(n: int) -> httpx.Response:
        return emu.http.post(
            "/v1/image/edits",
            data={"model": "gpt-image-2", "prompt": PROMPT, "n": str(n)},
            files=[("image", ("in.png", png_bytes((1024, 1024)), "image/png"))],
            headers=NOW,
        )

    assert limits_of(edit(2)) == [*NOMINAL, "3", "1", "1m0s"]
    refused = edit(2)
    assert openai_error(refused, 429) == {
        "message": IPM_TEXT.format(org=ORG, limit=3, current=4),
        "type": "requests",
        "param": None,
        "code": "rate_limit_exceeded",
    }
    assert refused.headers["retry-after"] == "60"
    # OpenAI's windows are its own.
    assert limits_of(emu.generate(n=3)) == NOMINAL * 2


# -- the official SDK ---------------------------------------------------------------------------


def _requests_by_status(base_url: str) -> dict[str, float]:
    """How many OpenAI generations reached the server, by status (its /metrics)."""
    found: dict[str, float] = {}
    for line in httpx.get(base_url + "/metrics").text.splitlines():
        if line.startswith("imgemu_requests_total{") and 'provider="openai"' in line:
            status = line.split('status="', 1)[1].split('"', 1)[0]
            found[status] = float(line.rsplit(" ", 1)[1])
    return found


def test_the_official_sdk_waits_out_a_429_before_its_retry(
    emulators: Callable[..., Emulator],
) -> None:
    emu = emulators(openai_rpm=1)
    client = openai.OpenAI(
        base_url=emu.base_url + "/v1",
        api_key=KEY,
        default_headers=NOW,
        max_retries=2,
        _strict_response_validation=True,
    )
    try:
        client.images.generate(model="gpt-image-1", prompt=PROMPT, quality="low")
        emu.advance(58.5)  # the window has room again in 1.5 s of emulator time
        # Emulator time runs from here, twice as fast as the wall clock: a retry made when
        # ``retry-after-ms`` says finds the window open whatever the ticks' delays, and one
        # made after the SDK's own first backoff (0.5 s at most) does not.
        stop = threading.Event()

        def tick() -> None:
            last = time.monotonic()
            while not stop.wait(0.02):
                now = time.monotonic()
                emu.advance(2 * (now - last))
                last = now

        ticker = threading.Thread(target=tick, daemon=True)
        ticker.start()
        try:
            started = time.monotonic()
            raw = client.images.with_raw_response.generate(
                model="gpt-image-1", prompt=PROMPT, quality="low"
            )
            waited = time.monotonic() - started
        finally:
            stop.set()
            ticker.join(timeout=5)
        assert raw.http_response.status_code == 200
        assert raw.retries_taken == 1
        assert waited >= 1.4  # retry-after-ms said about 1500
        # Three attempts reached the server: the first call, the refused one, its retry.
        assert _requests_by_status(emu.base_url) == {"200": 2.0, "429": 1.0}
    finally:
        client.close()


def test_the_official_sdk_raises_a_rate_limit_error_with_openais_body(
    emulators: Callable[..., Emulator],
) -> None:
    emu = emulators(openai_ipm=1)
    client = openai.OpenAI(
        base_url=emu.base_url + "/v1", api_key=KEY, default_headers=NOW, max_retries=0
    )
    try:
        client.images.generate(model="gpt-image-2", prompt=PROMPT, quality="low")
        with pytest.raises(openai.RateLimitError) as caught:
            client.images.generate(model="gpt-image-2", prompt=PROMPT, quality="low")
    finally:
        client.close()
    error = caught.value
    assert (error.status_code, error.code, error.type, error.param) == (
        429,
        "rate_limit_exceeded",
        "requests",
        None,
    )
    assert error.message == "Error code: 429 - " + IPM_TEXT.format(org=ORG, limit=1, current=2)
    assert error.body == {
        "message": IPM_TEXT.format(org=ORG, limit=1, current=2),
        "type": "requests",
        "param": None,
        "code": "rate_limit_exceeded",
    }
    assert error.response.headers["x-ratelimit-remaining-images"] == "0"


# -- the queue providers -------------------------------------------------------------------------

SUBMIT = "/model/v1/queue/gpt_image_1"


def queue_refusal(response: httpx.Response) -> None:
    assert response.status_code == 429, response.text
    body = response.json()
    assert body["error"] == QUEUE_429
    assert set(body) == {"error", "request_id"}
    assert len(body["request_id"]) == 36  # a UUID, as the gateway's refusals carry
    assert not any(name.startswith("x-ratelimit") for name in response.headers)


def test_queue_submissions_per_minute_per_key(emulators: Callable[..., Emulator]) -> None:
    emu = emulators("Key", queue_rpm=2)
    first = emu.http.post(SUBMIT, json={"prompt": PROMPT})
    assert first.status_code == 200, first.text
    emu.advance(20)
    assert emu.http.post(SUBMIT, json={"prompt": PROMPT}).status_code == 200
    refused = emu.http.post(SUBMIT, json={"prompt": PROMPT})
    queue_refusal(refused)
    assert refused.headers["retry-after"] == "40"
    # Reads are not counted; each queue provider keeps its own window.
    assert emu.http.get(first.json()["status_url"]).status_code == 202  # IN_PROGRESS
    odirouter = emu.http.post(
        "/odirouter/model/v1/queue/gpt_image_1",
        json={"prompt": PROMPT},
        headers={"Authorization": f"Bearer {KEY}"},
    )
    assert odirouter.status_code == 200
    emu.advance(40)
    assert emu.http.post(SUBMIT, json={"prompt": PROMPT}).status_code == 200


def test_queue_concurrency_counts_jobs_in_queue_and_in_progress(
    emulators: Callable[..., Emulator],
) -> None:
    # gpt_image_1 at medium quality takes 35 s; one slot: the second job waits IN_QUEUE.
    emu = emulators(
        "Key",
        queue_concurrency=2,
        latency_sigma=0.0,
        time_scale=1.0,
        slots=1,
        queue_cancel_running="cancel",  # a running job canceled ends at once
    )
    first = emu.http.post(SUBMIT, json={"prompt": PROMPT}).json()
    second = emu.http.post(SUBMIT, json={"prompt": PROMPT}).json()
    assert emu.http.get(second["status_url"]).json()["status"] == "IN_QUEUE"
    refused = emu.http.post(SUBMIT, json={"prompt": PROMPT})
    queue_refusal(refused)
    assert refused.headers["retry-after"] == "35"  # when the running job ends
    # A cancel ends a job's place at once.
    assert emu.http.put(first["cancel_url"]).status_code == 202
    third = emu.http.post(SUBMIT, json={"prompt": PROMPT})
    assert third.status_code == 200, third.text
    queue_refusal(emu.http.post(SUBMIT, json={"prompt": PROMPT}))
    # The second job runs 0 -> 35 now, the third 35 -> 70: at 35 one place is free.
    emu.advance(35)
    status = emu.http.get(second["status_url"]).json()["status"]
    assert status == "COMPLETED"
    assert emu.http.post(SUBMIT, json={"prompt": PROMPT}).status_code == 200
    queue_refusal(emu.http.post(SUBMIT, json={"prompt": PROMPT}))


def test_a_submit_refused_after_taking_a_place_gives_it_back(
    emulators: Callable[..., Emulator],
) -> None:
    emu = emulators("Key", queue_concurrency=1, default_balance_usd=0.0)
    for _ in range(2):  # refused for the balance, not for the place the first one took
        assert emu.http.post(SUBMIT, json={"prompt": PROMPT}).status_code == 402
    assert emu.http.put(f"/_emulator/balances/{KEY}", json={"usd": 10.0}).status_code == 200
    assert emu.http.post(SUBMIT, json={"prompt": PROMPT}).status_code == 200
    queue_refusal(emu.http.post(SUBMIT, json={"prompt": PROMPT}))


# -- 典名词元 --------------------------------------------------------------------------------------


def test_aa_requests_per_minute_in_its_envelope(emulators: Callable[..., Emulator]) -> None:
    emu = emulators(aa_rpm=1)
    url = "/api/v1/image/generation"
    assert emu.http.post(url, json=aa_body(**{"async": True})).status_code == 200
    refused = emu.http.post(url, json=aa_body(**{"async": True}))
    assert refused.status_code == 429
    assert refused.json() == {
        "code": 429,
        "message": "Rate limit exceeded, please try again later.",
        "request_id": refused.headers["x-request-id"],
        "data": None,
    }
    assert refused.headers["retry-after"] == "60"
    assert not any(name.startswith("x-ratelimit") for name in refused.headers)
    emu.advance(60)
    assert emu.http.post(url, json=aa_body(**{"async": True})).status_code == 200


# -- changed at runtime ---------------------------------------------------------------------------


def test_limits_change_while_the_emulator_runs(emulators: Callable[..., Emulator]) -> None:
    emu = emulators()
    assert limits_of(emu.generate(n=2)) == NOMINAL * 2
    changed = emu.http.patch("/_emulator/config", json={"openai_ipm": 3, "queue_concurrency": 1})
    assert changed.status_code == 200, changed.text
    assert changed.json()["changed"] == ["openai_ipm", "queue_concurrency"]
    # Counted from the change on: the request before it took nothing from the new window.
    assert limits_of(emu.generate(n=2)) == [*NOMINAL, "3", "1", "1m0s"]
    assert emu.generate(n=2).status_code == 429
    queue = {"Authorization": f"Key {KEY}"}
    assert emu.http.post(SUBMIT, json={"prompt": PROMPT}, headers=queue).status_code == 200
    queue_refusal(emu.http.post(SUBMIT, json={"prompt": PROMPT}, headers=queue))
    off = emu.http.patch("/_emulator/config", json={"openai_ipm": None, "queue_concurrency": 0})
    assert off.status_code == 200, off.text
    assert limits_of(emu.generate(n=2)) == NOMINAL * 2
    assert emu.http.post(SUBMIT, json={"prompt": PROMPT}, headers=queue).status_code == 200


# -- global across servers ----------------------------------------------------------------------


def test_two_servers_on_one_redis_share_the_limits(serve: Serve, redis_url: str) -> None:
    settings: dict[str, Any] = {
        "store": redis_url,
        "steering": True,
        "openai_rpm": 3,
        "queue_concurrency": 1,
        "time_scale": 1.0,
    }
    one, two = (Emulator(serve(make_app(**settings))) for _ in range(2))
    try:
        assert limits_of(one.generate())[:2] == ["3", "2"]
        assert limits_of(two.generate())[:2] == ["3", "1"]
        assert limits_of(one.generate())[:2] == ["3", "0"]
        assert openai_error(two.generate(), 429)["message"] == RPM_TEXT.format(
            model="gpt-image-1", org=ORG, limit=3, used=3, wait="1m0s"
        )
        submit = {"Authorization": f"Key {KEY}"}
        assert one.http.post(SUBMIT, json={"prompt": PROMPT}, headers=submit).status_code == 200
        queue_refusal(two.http.post(SUBMIT, json={"prompt": PROMPT}, headers=submit))
    finally:
        one.http.close()
        two.http.close()
