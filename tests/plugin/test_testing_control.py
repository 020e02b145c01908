"""``imgemu.testing``'s view of a running emulator against real ones: addresses in each
provider's convention, fault plans, the clock, runtime settings, the journal's assertions and
their messages, test ids, and the pool that reuses emulators across tests."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from imgemu.pytest_plugin import TEST_ID_CHARS, node_test_id
from imgemu.testing import (
    ControlError,
    InProcessEmulator,
    Pool,
    in_process,
    make_settings,
    serve,
)
from imgemu.testing._control import Journal, _Control

START = 1_800_000_000.0


@pytest.fixture(scope="module")
def emulator() -> Iterator[InProcessEmulator]:
    with in_process(clock="virtual", clock_start=START) as running:
        yield running


@pytest.mark.server
def test_urls_follow_each_providers_convention() -> None:
    with serve(queue_provider="odirouter") as server:
        base = server.base_url
        assert base.startswith("http://127.0.0.1:")
        assert server.settings.port == int(base.rsplit(":", 1)[1])
        assert {p: server.url(p) for p in ("openai", "agcloud", "seacloud", "odirouter", "aa")} == {
            "openai": f"{base}/v1",
            "agcloud": f"{base}/v1",
            "seacloud": f"{base}/seacloud/model",
            "odirouter": f"{base}/model",
            "aa": base,
        }
        with server.client("odirouter") as http:  # the bare mount is OdiRouter's here
            submitted = http.post("/v1/queue/gpt_image_1", json={"prompt": "x"})
        assert submitted.status_code == 200
        assert submitted.json()["status_url"].startswith(f"{base}/model/v1/queue/")


def test_unknown_providers_are_refused_by_name(emulator: InProcessEmulator) -> None:
    with pytest.raises(ValueError, match="unknown provider 'dalle': one of seacloud, odirouter"):
        emulator.url("dalle")
    with pytest.raises(ValueError, match="unknown provider"):
        emulator.client("dalle")


def test_each_helper_client_sends_its_providers_scheme(emulator: InProcessEmulator) -> None:
    assert emulator.authorization("seacloud") == {"Authorization": "Key sk-imgemu-test"}
    for provider in ("odirouter", "openai", "agcloud", "aa"):
        assert emulator.authorization(provider) == {"Authorization": "Bearer sk-imgemu-test"}
    with emulator.client("seacloud", headers={"X-Extra": "1"}) as http:
        assert http.headers["Authorization"] == "Key sk-imgemu-test"
        assert http.headers["X-Extra"] == "1"
        assert str(http.base_url) == "http://imgemu.test/model/"


def test_the_environment_names_every_providers_key() -> None:
    with serve(api_keys={"openai": ["sk-a", "sk-b"]}) as server:
        assert server.environment() == {
            "IMGEMU_URL": server.base_url,
            "OPENAI_BASE_URL": server.url("openai"),
            "OPENAI_API_KEY": "sk-a",
            "AGCLOUD_API_KEY": "sk-imgemu-test",
            "SEACLOUD_API_KEY": "sk-imgemu-test",
            "ODIROUTER_API_KEY": "sk-imgemu-test",
            "AA_API_KEY": "sk-imgemu-test",
        }


def test_fault_plans(emulator: InProcessEmulator) -> None:
    emulator.reset()
    first = emulator.faults.add(
        match={"provider": "openai"}, action={"kind": "error", "status": 429}, times=2, after=1
    )
    second = emulator.faults.add(action={"kind": "drop"}, probability=0.5)
    assert (first["id"], first["times"], first["after"]) == ("plan_1", 2, 1)
    assert second["probability"] == 0.5
    assert [p["id"] for p in emulator.faults.list()] == ["plan_1", "plan_2"]
    assert emulator.faults.get("plan_2")["action"] == {"kind": "drop"}
    with pytest.raises(KeyError):
        emulator.faults.get("plan_9")
    emulator.faults.remove("plan_1")
    with pytest.raises(ControlError, match="answered 404: No fault plan 'plan_1'"):
        emulator.faults.remove("plan_1")
    assert emulator.faults.clear() == 1
    assert emulator.faults.list() == []


def test_a_refused_plan_says_why(emulator: InProcessEmulator) -> None:
    with pytest.raises(ControlError) as refused:
        emulator.faults.add(action={"kind": "error", "status": 429}, match={"provider": "x"})
    assert refused.value.status_code == 400
    assert str(refused.value).startswith("POST /_emulator/faults answered 400: match.provider")


def test_the_virtual_clock(emulator: InProcessEmulator) -> None:
    now = emulator.clock.now()
    assert emulator.clock.info() == {"now": now, "kind": "virtual", "time_scale": 0.001}
    assert emulator.clock.advance(2.5) == now + 2.5
    assert emulator.clock.set(now + 10) == now + 10
    with pytest.raises(ControlError, match="answered 400: the clock cannot go backwards"):
        emulator.clock.set(now)


def test_runtime_settings_and_other_calls(emulator: InProcessEmulator) -> None:
    emulator.reset()
    changed = emulator.configure(failure_rate=0.25, blocked_terms=["apple"])
    assert (changed["failure_rate"], changed["changed"]) == (
        0.25,
        ["blocked_terms", "failure_rate"],
    )
    assert emulator.config()["blocked_terms"] == ["apple"]
    with pytest.raises(ControlError, match="answered 400"):
        emulator.configure(failure_rate=2)
    assert emulator.control("PUT", "/balances/k", {"usd": 1.5}) == {"usd": 1.5}
    emulator.reset()
    assert emulator.config()["changed"] == []
    assert emulator.control("GET", "/balances/k") == {"usd": None}
    assert emulator.control("GET", "/jobs", limit=5)["limit"] == 5


# -- the journal's assertions, on the journal's answers as the control plane gives them


ENTRIES = [  # newest first, as GET /_emulator/journal answers
    {
        "time": START + 2,
        "provider": "openai",
        "operation": "images.generate",
        "method": "POST",
        "path": "/v1/images/generations",
        "query": None,
        "test_id": "t.py::test_a",
        "status": 200,
        "error": None,
        "fault": None,
    },
    {
        "time": START + 1,
        "provider": "openai",
        "operation": "images.generate",
        "method": "POST",
        "path": "/v1/images/generations",
        "query": None,
        "test_id": None,
        "status": 429,
        "error": "rate_limit_exceeded",
        "fault": {"plan": "plan_1", "kind": "error"},
    },
]


def _journal(seen: list[httpx.Request]) -> Journal:
    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        query = request.url.params
        entries = [
            e
            for e in ENTRIES
            if all(str(e.get(k)) == v for k, v in query.items() if k in ("provider", "status"))
        ]
        if request.method == "DELETE":
            return httpx.Response(204)
        return httpx.Response(200, json={"entries": entries, "total": len(entries)})

    http = httpx.Client(
        transport=httpx.MockTransport(answer),
        base_url="http://imgemu.test",
        headers={"X-Imgemu-Test-Id": "t.py::test_a"},
    )
    return Journal(_Control(http), "t.py::test_a")


def test_the_journal_reads_oldest_first_every_tests_unless_told() -> None:
    seen: list[httpx.Request] = []
    journal = _journal(seen)
    assert [e["status"] for e in journal.find(provider="openai")] == [429, 200]
    # The header goes as with every helper's request; the empty test id asks for every test's.
    assert seen[-1].headers["X-Imgemu-Test-Id"] == "t.py::test_a"
    assert dict(seen[-1].url.params) == {"provider": "openai", "limit": "10000", "test_id": ""}
    journal.clear()
    assert (seen[-1].method, dict(seen[-1].url.params)) == ("DELETE", {"test_id": ""})
    journal.find(status="4xx", test_id="t.py::test_a", since=START, limit=5)
    assert dict(seen[-1].url.params) == {
        "status": "4xx",
        "test_id": "t.py::test_a",
        "since": str(START),
        "limit": "5",
    }


def test_the_journals_assertions_list_what_was_recorded() -> None:
    journal = _journal([])
    assert len(journal.assert_called(provider="openai", times=2)) == 2
    assert journal.assert_called(status=429)[0]["error"] == "rate_limit_exceeded"
    journal.assert_not_called(status=500)
    with pytest.raises(AssertionError) as failed:
        journal.assert_called(provider="openai", status=200, times=3)
    assert str(failed.value) == (
        "expected 3 request(s) matching provider='openai', status=200, found 1\n"
        "the journal holds 2 request(s):\n"
        f"  {START + 1:.3f} openai images.generate POST /v1/images/generations 429 "
        'rate_limit_exceeded fault={"plan":"plan_1","kind":"error"}\n'
        f"  {START + 2:.3f} openai images.generate POST /v1/images/generations 200 "
        "test_id=t.py::test_a"
    )
    with pytest.raises(AssertionError) as unexpected:
        journal.assert_not_called(status=429)
    assert str(unexpected.value).startswith(
        "expected no request matching status=429, found 1:\n"
        f"  {START + 1:.3f} openai images.generate POST"
    )


# -- test ids


@given(st.text())
def test_a_test_id_is_printable_ascii_within_the_bound(nodeid: str) -> None:
    test_id = node_test_id(nodeid)
    assert test_id.isascii()
    assert test_id.isprintable()
    assert len(test_id) <= TEST_ID_CHARS
    assert test_id == test_id.strip()
    assert node_test_id(nodeid) == test_id


@given(st.text(alphabet="abc/:[]_", min_size=TEST_ID_CHARS, max_size=300))
def test_long_ids_stay_apart(nodeid: str) -> None:
    other = nodeid + "x"
    assert node_test_id(nodeid) != node_test_id(other)


def test_a_short_printable_id_is_the_node_id() -> None:
    assert node_test_id("tests/test_app.py::test_checkout[1-2]") == (
        "tests/test_app.py::test_checkout[1-2]"
    )
    assert node_test_id("t.py::test[典]") == "t.py::test[\\u5178]"


# -- the pool


def test_the_pool_reuses_resets_and_bounds_its_emulators() -> None:
    pool = Pool(size=1)
    plain, seeded = make_settings(), make_settings({"seed": 4})
    try:
        first = pool.acquire("app", plain, "a")
        first.faults.add(action={"kind": "drop"})
        pool.release(first)
        again = pool.acquire("app", plain, "b")
        assert isinstance(again, InProcessEmulator)
        assert isinstance(first, InProcessEmulator)
        assert again.app is first.app
        assert again.faults.list() == []
        assert again.headers == {"X-Imgemu-Test-Id": "b"}
        pool.release(again)
        assert pool.started == 1
        other = pool.acquire("app", seeded, "c")  # another: the first is retired on release
        pool.release(other)
        back = pool.acquire("app", plain, "d")
        pool.release(back)
        assert pool.started == 3
    finally:
        pool.close()


def test_settings_the_fixtures_choose_are_refused() -> None:
    with pytest.raises(ValueError, match="host: not a test setting"):
        make_settings({"host": "0.0.0.0"})
    assert make_settings({"workers": 1}).workers == 1
    assert make_settings().time_scale == 0.001
    assert make_settings({"time_scale": 1}).time_scale == 1
