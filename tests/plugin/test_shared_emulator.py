"""The issue's whole scenario on a shared emulator: ``imgemu serve --workers 2 --store redis``
started as users start it, and a user's test file run by pytest with ``--imgemu-url``: two
429s planned for the next OpenAI calls, the official SDK (its own retries) meeting them, the
journal and the verdicts asserted; two tests at once kept apart by their test ids; a bad
client's verdict found across the workers."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest

from tests.support.plugin import run
from tests.support.serve import imgemu_serve

pytestmark = pytest.mark.server

USER_TESTS = """
import threading

import httpx
import pytest
from openai import OpenAI

GENERATE = {"model": "gpt-image-1.5", "prompt": "A red apple"}


def sdk_for(imgemu_server):
    return OpenAI(
        base_url=imgemu_server.url("openai"),
        api_key="sk-user",
        max_retries=2,
        default_headers=imgemu_server.headers,
        _strict_response_validation=True,
    )


def test_my_code_survives_two_429s(imgemu_server):
    imgemu_server.faults.add(
        match={"provider": "openai"},
        action={"kind": "error", "status": 429, "retry_after": 0.4},
        times=2,
    )
    with sdk_for(imgemu_server) as sdk:
        assert sdk.images.generate(**GENERATE).data[0].b64_json

    calls = imgemu_server.journal.assert_called(provider="openai", times=3)
    assert [c["status"] for c in calls] == [429, 429, 200]
    assert all(c["test_id"] == imgemu_server.test_id for c in calls)
    assert calls[-1]["fields"] == GENERATE  # a planned refusal never reads the body
    assert {c["fault"]["kind"] for c in calls[:2]} == {"plan"}
    imgemu_server.assert_client_behaved()


def test_a_bad_client_is_caught(imgemu_server):
    imgemu_server.faults.add(
        match={"provider": "openai"},
        action={"kind": "error", "status": 429, "retry_after": 3},
        times=1,
    )
    http = imgemu_server.client("openai")
    assert http.post("/images/generations", json=GENERATE).status_code == 429
    # Another connection: with two workers, the retry may reach the other one.
    again = imgemu_server.client("openai")
    assert again.post("/images/generations", json=GENERATE).status_code == 200
    (finding,) = imgemu_server.verdicts()
    assert finding["name"] == "retried_before_retry_after"
    with pytest.raises(AssertionError, match="retried_before_retry_after"):
        imgemu_server.assert_client_behaved()


def test_another_test_at_once_sees_only_its_own(imgemu_server):
    done = threading.Event()

    def neighbour():
        headers = {"X-Imgemu-Test-Id": "a-neighbour", "Authorization": "Bearer sk-n"}
        with httpx.Client(base_url=imgemu_server.url("openai"), headers=headers) as http:
            for _ in range(5):
                http.post("/images/generations", json=GENERATE)
        done.set()

    thread = threading.Thread(target=neighbour)
    thread.start()
    imgemu_server.faults.add(
        match={"provider": "openai"}, action={"kind": "error", "status": 503}, times=1
    )
    with sdk_for(imgemu_server) as sdk:
        assert sdk.images.generate(**GENERATE).data
    thread.join()
    assert done.is_set()
    mine = imgemu_server.journal.find(provider="openai")
    assert [e["status"] for e in mine] == [503, 200]
    neighbours = imgemu_server.journal.find(provider="openai", test_id="a-neighbour")
    assert [e["status"] for e in neighbours] == [200] * 5  # the plan was this test's alone
    imgemu_server.assert_client_behaved()
"""


def wait_healthy(base_url: str) -> None:
    """Until the workers take connections (the banner comes before they bind)."""
    deadline = time.monotonic() + 30
    while True:
        try:
            if httpx.get(base_url + "/_emulator/health", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        assert time.monotonic() < deadline, "the workers never answered"
        time.sleep(0.1)


def test_the_users_scenario_on_two_workers_sharing_redis(
    pytester: pytest.Pytester, tmp_path: Path, redis_url: str
) -> None:
    pytester.makepyfile(test_user=USER_TESTS)
    flags = ("--workers", "2", "--store", redis_url, "--time-scale", "0.001")
    with imgemu_serve(tmp_path, *flags) as serving:
        wait_healthy(serving.base_url)
        result = run(pytester, f"--imgemu-url={serving.base_url}", "-v")
        result.assert_outcomes(passed=3)
        # Both workers answered: the journal is one across them.
        assert serving.text().count("Started server process") == 2, serving.text()
