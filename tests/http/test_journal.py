"""``GET|DELETE /_emulator/journal``: every provider operation and the control plane's effects,
as real clients reach them; refusals with their codes, images summarized, the ring's bound,
test ids, each filter (and Hypothesis over their combinations, against a plain model), the
journal turned off, and two emulators on one Redis reading one journal."""

from __future__ import annotations

import asyncio
import base64
import fnmatch
import hashlib
import json
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from starlette.applications import Starlette

from emulator.app import create_app
from emulator.domain.journal import FIELDS_BYTES, TEXT, key_digest
from emulator.domain.records import JournalEntry
from emulator.settings import Settings
from tests.helpers import (
    START,
    RunningServer,
    asgi_client,
    data_url,
    examples,
    fast_app,
    make_app,
    png_bytes,
)
from tests.seeds import SEED_GPT_IMAGE_1

QUEUE_KEY, OPENAI_KEY, AA_KEY = "k-queue", "sk-openai", "sk-aa"
QUEUE = {"Authorization": f"Key {QUEUE_KEY}"}
BEARER = {"Authorization": f"Bearer {OPENAI_KEY}"}
AA = {"Authorization": f"Bearer {AA_KEY}"}
SUBMIT = "/model/v1/queue/gpt_image_1"
JOURNAL = "/_emulator/journal"
ENTRY_KEYS = {
    "time", "provider", "operation", "method", "path", "query", "key", "test_id", "status",
    "latency_ms", "request_id", "fields", "error", "message", "fault", "wall", "retry_after",
    "job", "state",
}  # fmt: skip


def facts(data: bytes, width: int, height: int) -> dict[str, Any]:
    """What the journal keeps of a PNG image sent."""
    digest = hashlib.sha256(data).hexdigest()
    return {"sha256": digest, "bytes": len(data), "width": width, "height": height, "format": "png"}


def read(http: httpx.Client, base: str = "", **query: Any) -> list[dict[str, Any]]:
    """The journal's entries (newest first), after checking the answer's shape."""
    response = http.get(base + JOURNAL, params={"limit": 10_000, **query})
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"entries", "total"}
    entries: list[dict[str, Any]] = body["entries"]
    assert body["total"] == len(entries)
    assert all(set(entry) == ENTRY_KEYS for entry in entries)
    return entries


def oldest_first(http: httpx.Client, base: str = "", **query: Any) -> list[dict[str, Any]]:
    return list(reversed(read(http, base, **query)))


# -- every provider's operations over a real server ------------------------------------------


@pytest.mark.server
def test_every_operation_of_every_provider_is_journaled(
    serve: Callable[[Starlette], RunningServer],
) -> None:
    server = serve(fast_app())
    base = server.base_url
    image, mask = png_bytes((64, 48)), png_bytes((64, 48), "RGBA")
    before = time.time()
    with httpx.Client(base_url=base, timeout=30) as http:
        # The queue (SeaCloud at /model, OdiRouter at its own mount): submit, read, result,
        # cancel, the status stream it does not offer.
        job = http.post(SUBMIT, json=SEED_GPT_IMAGE_1, headers=QUEUE).json()
        while http.get(job["status_url"] + "?logs=1", headers=QUEUE).json()["status"] != (
            "COMPLETED"
        ):
            time.sleep(0.01)
        assert http.get(job["response_url"], headers=QUEUE).status_code == 200
        assert http.put(job["cancel_url"], headers=QUEUE).status_code == 400  # done already
        assert http.get(job["status_url"] + "/stream", headers=QUEUE).status_code == 400
        odi = http.post("/odirouter/model/v1/queue/gpt_image_1", json={"prompt": "a pear"},
                        headers=BEARER)  # fmt: skip
        assert odi.status_code == 200
        # OpenAI: a generation (JSON) and an edit (multipart); AGCloud's edit.
        generated = http.post(
            "/v1/images/generations", json={"model": "gpt-image-1", "prompt": "a plum"},
            headers=BEARER,
        )  # fmt: skip
        assert generated.status_code == 200, generated.text
        form = {"model": "gpt-image-1", "prompt": "make it green"}
        files = [("image[]", ("a.png", image, "image/png")), ("mask", ("m.png", mask, "image/png"))]
        edited = http.post("/v1/images/edits", data=form, files=files, headers=BEARER)
        assert edited.status_code == 200, edited.text
        agcloud = http.post(
            "/v1/image/edits", data=form, files={"image": ("a.png", image, "image/png")},
            headers=BEARER,
        )  # fmt: skip
        assert agcloud.status_code == 200, agcloud.text
        # 典名词元: an upload, an asynchronous generation on it, its task.
        uploaded = http.post("/api/v1/files", files={"file": ("a.png", image)}, headers=AA)
        file_id = uploaded.json()["data"]["file_id"]
        aa_body = {"model": "gpt-image-1.5", "prompt": "a fig", "async": True,
                   "images": [{"file_id": file_id}]}  # fmt: skip
        task = http.post("/api/v1/image/generation", json=aa_body, headers=AA).json()
        task_id = task["data"]["task_id"]
        assert http.get(f"/api/v1/image/generation/{task_id}", headers=AA).status_code == 200
        after = time.time()

        entries = oldest_first(http)
    polls = [e for e in entries if e["operation"] == "status"]
    assert polls
    assert all(e["query"] == "logs=1" for e in polls)
    rest = [e for e in entries if e["operation"] != "status"]
    assert [(e["provider"], e["operation"], e["method"], e["status"]) for e in rest] == [
        ("seacloud", "submit", "POST", 200),
        ("seacloud", "result", "GET", 200),
        ("seacloud", "cancel", "PUT", 400),
        ("seacloud", "status.stream", "GET", 400),
        ("odirouter", "submit", "POST", 200),
        ("openai", "images.generate", "POST", 200),
        ("openai", "images.edit", "POST", 200),
        ("agcloud", "images.edit", "POST", 200),
        ("aa", "aa.upload", "POST", 200),
        ("aa", "aa.generate", "POST", 200),
        ("aa", "aa.task", "GET", 200),
    ]
    submit, result, cancel, stream, odirouter, generate, edit, ag_edit, upload, aa_gen, aa_task = (
        rest
    )
    assert all(before <= e["time"] <= after for e in entries)
    assert all(e["latency_ms"] >= 0 for e in entries)
    assert {e["test_id"] for e in entries} == {None}
    # Fields as sent; images as their digest, size and header facts.
    assert submit["fields"] == SEED_GPT_IMAGE_1
    assert (submit["path"], submit["key"]) == (SUBMIT, key_digest(QUEUE_KEY))
    assert result["path"] == f"{SUBMIT}/requests/{job['request_id']}/response"
    assert result["fields"] is None
    assert cancel["error"] == "ALREADY_COMPLETED"
    assert stream["key"] == key_digest(QUEUE_KEY)  # presented, though not asked for
    assert stream["message"] == "SSE streaming not supported"
    assert odirouter["fields"] == {"prompt": "a pear"}
    assert odirouter["key"] == generate["key"] == key_digest(OPENAI_KEY)
    assert generate["fields"] == {"model": "gpt-image-1", "prompt": "a plum"}
    assert generate["request_id"] == generated.headers["x-request-id"]
    assert edit["fields"] == {**form, "image": facts(image, 64, 48), "mask": facts(mask, 64, 48)}
    assert edit["request_id"] == edited.headers["x-request-id"]
    assert ag_edit["path"] == "/v1/image/edits"
    assert ag_edit["fields"] == {**form, "image": facts(image, 64, 48)}
    assert upload["fields"] == {"file": facts(image, 64, 48)}
    assert aa_gen["fields"] == aa_body
    assert aa_gen["key"] == aa_task["key"] == key_digest(AA_KEY)
    assert aa_task["path"] == f"/api/v1/image/generation/{task_id}"
    assert all(e["error"] is None for e in entries if e["status"] < 400)
    # Reading the journal is not journaled.
    assert all(e["provider"] != "_emulator" for e in entries)


@pytest.mark.server
def test_an_inline_image_is_summarized_as_the_bytes_sent(
    serve: Callable[[Starlette], RunningServer],
) -> None:
    server = serve(fast_app())
    image = png_bytes((40, 30))
    body = {"model": "gpt-image-1", "prompt": "edit", "images": [{"image_url": data_url(image)}]}
    with httpx.Client(base_url=server.base_url, timeout=30) as http:
        assert http.post("/v1/images/edits", json=body, headers=BEARER).status_code == 200
        (entry,) = read(http)
    assert entry["fields"]["images"] == [{"image_url": facts(image, 40, 30)}]
    assert base64.b64encode(image).decode() not in json.dumps(entry)


# -- refusals, with the provider's own codes -----------------------------------------------


@pytest.mark.server
def test_refusals_are_journaled_with_their_error_codes(
    serve: Callable[[Starlette], RunningServer],
) -> None:
    app = fast_app(validation="sync", rate_limit={"limit": 1, "window_seconds": 3600})
    invalid_key = {"Authorization": "Bearer sk-invalid"}
    server = serve(app)
    with httpx.Client(base_url=server.base_url, timeout=30) as http:
        answers = [
            http.post(SUBMIT, json=SEED_GPT_IMAGE_1),  # 401: no key
            http.post("/v1/images/generations", json={}, headers=invalid_key),  # 401
            http.post("/v1/images/generations", content=b"{", headers=BEARER),  # 400
            http.post(SUBMIT, json={**SEED_GPT_IMAGE_1, "quality": "ultra"}, headers=QUEUE),
            http.post(SUBMIT, json=SEED_GPT_IMAGE_1, headers=QUEUE),  # 429: the window is used
            http.post("/api/v1/files", headers={"Authorization": "Basic x"}),  # 401
        ]  # fmt: skip
        entries = oldest_first(http)
    assert [a.status_code for a in answers] == [401, 401, 400, 422, 429, 401]
    assert [e["status"] for e in entries] == [a.status_code for a in answers]
    no_key, bad_key, bad_json, invalid, limited, aa = entries
    assert (no_key["error"], no_key["key"]) == ("UNAUTHORIZED", None)
    assert no_key["message"] == answers[0].json()["error"]["message"]
    assert no_key["request_id"] == answers[0].json()["request_id"]
    assert (bad_key["error"], bad_key["key"]) == ("invalid_api_key", key_digest("sk-invalid"))
    assert bad_key["message"] == answers[1].json()["error"]["message"]
    assert bad_json["error"] == "invalid_request_error"  # no code: its type
    assert bad_json["message"] == answers[2].json()["error"]["message"]
    assert bad_json["fields"] is None
    violation = answers[3].json()["detail"][0]
    assert invalid["error"] == violation["type"]
    assert invalid["message"] == f"body.quality: {violation['msg']}"
    assert invalid["fields"]["quality"] == "ultra"
    assert (limited["error"], limited["fields"]) == ("RATE_LIMIT_EXCEEDED", None)
    assert (aa["error"], aa["provider"]) == ("401", "aa")


def test_a_failed_generation_and_its_steering_are_journaled() -> None:
    app = fast_app(steering=True)

    async def run() -> list[dict[str, Any]]:
        async with asgi_client(app, BEARER) as http:
            steer = {"X-Imgemu-Outcome": "INFERENCE_FAILURE", "X-Imgemu-Latency": "0"}
            body = {"model": "gpt-image-1", "prompt": "a plum"}
            failed = await http.post("/v1/images/generations", json=body, headers=steer)
            assert failed.status_code == 500
            journal = await http.get(JOURNAL)
            entries: list[dict[str, Any]] = journal.json()["entries"]
            return entries

    (entry,) = asyncio.run(run())
    assert (entry["status"], entry["error"]) == (500, "server_error")
    assert entry["fault"] == {"kind": "steering", "outcome": "INFERENCE_FAILURE", "latency": 0.0}


def test_a_planned_fault_is_journaled_by_its_plan() -> None:
    app = fast_app(api_keys={"openai": [OPENAI_KEY]})
    body = {"model": "gpt-image-1", "prompt": "a plum"}
    plans = [
        {
            "match": {"provider": "openai", "operation": "images.generate", "test_id": "err"},
            "action": {"kind": "error", "status": 429, "retry_after": 0.5},
            "times": 1,
        },
        {
            "match": {"provider": "openai", "operation": "images.generate", "test_id": "out"},
            "action": {"kind": "outcome", "error_type": "INFERENCE_FAILURE"},
            "times": 1,
        },
    ]

    async def run() -> tuple[list[str], httpx.Response, list[dict[str, Any]]]:
        async with asgi_client(app, BEARER) as http:
            ids = []
            for plan in plans:
                made = await http.post("/_emulator/faults", json=plan)
                assert made.status_code == 201, made.text
                ids.append(made.json()["id"])
            refused = await http.post(
                "/v1/images/generations", json=body, headers={"X-Imgemu-Test-Id": "err"}
            )
            assert refused.status_code == 429
            failed = await http.post(
                "/v1/images/generations", json=body, headers={"X-Imgemu-Test-Id": "out"}
            )
            assert failed.status_code == 500
            passed = await http.post(
                "/v1/images/generations", json=body, headers={"X-Imgemu-Test-Id": "err"}
            )
            assert passed.status_code == 200  # the plan is spent
            journal = await http.get(JOURNAL, params={"provider": "openai"})
            entries: list[dict[str, Any]] = journal.json()["entries"]
            return ids, refused, entries

    ids, refused, (passed, failed, limited) = asyncio.run(run())
    assert (limited["status"], limited["test_id"]) == (429, "err")
    assert limited["fault"] == {"kind": "plan", "plan_id": ids[0]}
    assert limited["error"] == refused.json()["error"]["code"]
    assert limited["fields"] is None  # refused before the handler read the body
    assert (failed["status"], failed["error"]) == (500, "server_error")
    assert failed["fault"] == {"kind": "plan", "plan_id": ids[1], "outcome": "INFERENCE_FAILURE"}
    assert (passed["status"], passed["fault"]) == (200, None)


def test_fault_plans_and_config_changes_are_journaled() -> None:
    app = make_app()
    plan = {
        "match": {"provider": "openai", "operation": "images.generate"},
        "action": {"kind": "error", "status": 503},
    }

    async def run() -> tuple[str, list[dict[str, Any]]]:
        async with asgi_client(app, {"X-Imgemu-Test-Id": "ctl"}) as http:
            assert (await http.post("/_emulator/faults", json=plan)).status_code == 201
            refused = await http.post("/_emulator/faults", json={"match": {}})
            assert refused.status_code == 400
            detail = refused.json()["detail"]
            assert (await http.get("/_emulator/faults")).status_code == 200  # not journaled
            assert (await http.delete("/_emulator/faults/plan_1")).status_code == 200
            assert (await http.delete("/_emulator/faults")).status_code == 200
            patch = {"failure_rate": 0.25}
            assert (await http.patch("/_emulator/config", json=patch)).status_code == 200
            assert (await http.get("/_emulator/config")).status_code == 200  # not journaled
            entries: list[dict[str, Any]] = (await http.get(JOURNAL)).json()["entries"]
            return detail, entries

    detail, (config, cleared, deleted, bad, added) = asyncio.run(run())
    assert all(e["provider"] == "_emulator" and e["test_id"] == "ctl" for e in (config, added))
    assert (added["operation"], added["method"], added["status"]) == ("faults", "POST", 201)
    assert added["fields"] == plan
    assert (bad["status"], bad["error"], bad["message"]) == (400, None, detail)
    assert (deleted["method"], deleted["path"], deleted["status"]) == (
        "DELETE",
        "/_emulator/faults/plan_1",
        200,
    )
    assert (cleared["operation"], cleared["path"]) == ("faults", "/_emulator/faults")
    assert (config["operation"], config["method"]) == ("config", "PATCH")
    assert (config["fields"], config["status"]) == ({"failure_rate": 0.25}, 200)


def test_the_control_token_locks_the_journal() -> None:
    app = make_app(control_token="s3cret-token")

    async def run() -> None:
        async with asgi_client(app, {}) as http:
            for method in ("GET", "DELETE"):
                refused = await http.request(method, JOURNAL)
                assert refused.status_code == 401
                assert set(refused.json()) == {"detail"}
            bearer = {"Authorization": "Bearer s3cret-token"}
            assert (await http.get(JOURNAL, headers=bearer)).status_code == 200
            header = {"X-Imgemu-Control-Token": "s3cret-token"}
            assert (await http.delete(JOURNAL, headers=header)).status_code == 204

    asyncio.run(run())


# -- bounds ----------------------------------------------------------------------------------


def test_the_ring_keeps_the_newest_requests() -> None:
    app = make_app(journal_size=5)

    async def run() -> dict[str, Any]:
        async with asgi_client(app, QUEUE) as http:
            for n in range(8):
                await http.post(SUBMIT, json={**SEED_GPT_IMAGE_1, "prompt": f"apple {n}"})
            body: dict[str, Any] = (await http.get(JOURNAL)).json()
            return body

    body = asyncio.run(run())
    assert body["total"] == 5
    prompts = [e["fields"]["prompt"] for e in body["entries"]]
    assert prompts == [f"apple {n}" for n in (7, 6, 5, 4, 3)]


@pytest.mark.server
def test_a_huge_prompt_and_a_sixteen_image_edit_stay_bounded(
    serve: Callable[[Starlette], RunningServer],
) -> None:
    server = serve(fast_app())
    images = [png_bytes((512 + i, 512)) for i in range(16)]
    prompt = "a still life with apples and pears, " * 889  # 32,004 characters
    form = {"model": "gpt-image-1", "prompt": prompt[:32_000]}
    files = [("image[]", (f"{i}.png", data, "image/png")) for i, data in enumerate(images)]
    with httpx.Client(base_url=server.base_url, timeout=60) as http:
        edited = http.post("/v1/images/edits", data=form, files=files, headers=BEARER)
        assert edited.status_code == 200, edited.text
        queued = http.post(SUBMIT, json={**SEED_GPT_IMAGE_1, "prompt": prompt[:32_000]},
                           headers=QUEUE)  # fmt: skip
        assert queued.status_code == 200, queued.text
        submit, edit = read(http)
    assert edit["fields"]["prompt"] == {"text": prompt[:TEXT], "length": 32_000}
    assert edit["fields"]["image"] == [facts(data, 512 + i, 512) for i, data in enumerate(images)]
    assert submit["fields"]["prompt"] == {"text": prompt[:TEXT], "length": 32_000}
    for entry in (edit, submit):
        assert len(json.dumps(entry["fields"])) <= FIELDS_BYTES
        assert len(json.dumps(entry)) <= FIELDS_BYTES + 2048


# -- the journal alone, test ids, the control plane ------------------------------------------


def test_delete_clears_the_journal_alone() -> None:
    app = make_app()

    async def run() -> None:
        async with asgi_client(app, QUEUE) as http:
            await http.post(SUBMIT, json=SEED_GPT_IMAGE_1)
            await http.put(f"/_emulator/balances/{QUEUE_KEY}", json={"usd": 5})
            metrics = (await http.get("/metrics")).text
            assert (await http.get(JOURNAL)).json()["total"] == 2
            cleared = await http.delete(JOURNAL)
            assert (cleared.status_code, cleared.content) == (204, b"")
            assert (await http.get(JOURNAL)).json() == {"entries": [], "total": 0}
            assert (await http.get("/_emulator/jobs")).json()["total"] == 1
            assert (await http.get(f"/_emulator/balances/{QUEUE_KEY}")).json() == {"usd": 5.0}
            assert (await http.get("/metrics")).text == metrics

    asyncio.run(run())


@pytest.mark.server
def test_test_ids_keep_parallel_tests_apart(serve: Callable[[Starlette], RunningServer]) -> None:
    server = serve(fast_app())
    one = httpx.Client(base_url=server.base_url, headers={**QUEUE, "X-Imgemu-Test-Id": "t::one"})
    two = httpx.Client(base_url=server.base_url, headers={**QUEUE, "X-Imgemu-Test-Id": "t::two"})
    anyone = httpx.Client(base_url=server.base_url, headers=QUEUE)
    with one, two, anyone:
        for client, prompt in ((one, "one a"), (two, "two a"), (one, "one b"), (anyone, "none")):
            body = {**SEED_GPT_IMAGE_1, "prompt": prompt}
            assert client.post(SUBMIT, json=body).status_code == 200
        prompts = lambda entries: [e["fields"]["prompt"] for e in entries]  # noqa: E731
        # A client's own header scopes its reads; the query names another test; none: all.
        assert prompts(read(one)) == ["one b", "one a"]
        assert {e["test_id"] for e in read(one)} == {"t::one"}
        assert prompts(read(two)) == ["two a"]
        assert prompts(read(one, test_id="t::two")) == ["two a"]
        assert prompts(read(anyone)) == ["none", "one b", "two a", "one a"]
        assert prompts(read(one, test_id="")) == prompts(read(anyone))  # empty: every test
        # A test clears its own entries only.
        assert one.delete(JOURNAL).status_code == 204
        assert read(one) == []
        assert prompts(read(anyone)) == ["none", "two a"]
        long_id = "x" * 1000
        anyone.post(SUBMIT, json=SEED_GPT_IMAGE_1, headers={"X-Imgemu-Test-Id": long_id})
        assert read(anyone)[0]["test_id"] == "x" * 128


def test_the_control_planes_effects_are_journaled() -> None:
    app = make_app()

    async def run() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        async with asgi_client(app, {"X-Imgemu-Test-Id": "ctl"}) as http:
            await http.post("/_emulator/clock", json={"advance": 5})
            await http.post("/_emulator/clock", json={"advance": "soon"})
            await http.put("/_emulator/balances/sk-secret", json={"usd": 2.5})
            for path in ("/_emulator/clock", "/_emulator/jobs", "/_emulator/health"):
                await http.get(path)  # reads are not journaled
            before = (await http.get(JOURNAL)).json()["entries"]
            await http.post("/_emulator/reset")
            after = (await http.get(JOURNAL)).json()["entries"]
            return before, after

    before, after = asyncio.run(run())
    balance, bad_clock, clock = before
    assert (clock["provider"], clock["operation"], clock["status"]) == ("_emulator", "clock", 200)
    assert (clock["fields"], clock["time"]) == ({"advance": 5}, START)
    assert (bad_clock["status"], bad_clock["error"]) == (400, None)
    assert bad_clock["message"] == "The value must be a number"
    assert (balance["operation"], balance["method"]) == ("balance", "PUT")
    assert balance["path"] == "/_emulator/balances/{key}"  # the key is not in the journal
    assert balance["key"] == key_digest("sk-secret")
    assert "sk-secret" not in json.dumps(before)
    assert all(e["test_id"] == "ctl" for e in before)
    # A reset empties the journal; its own entry is the first of the new one.
    (reset,) = after
    assert (reset["operation"], reset["status"], reset["time"]) == ("reset", 200, START + 5)


# -- filters -------------------------------------------------------------------------------


def test_each_filter_over_http() -> None:
    app = make_app(validation="sync")

    async def run() -> dict[str, list[int]]:
        async with asgi_client(app, QUEUE) as http:
            await http.post(SUBMIT, json=SEED_GPT_IMAGE_1)  # 200 at START
            await http.post("/_emulator/clock", json={"advance": 10})
            await http.post(SUBMIT, json={**SEED_GPT_IMAGE_1, "n": 99})  # 422
            await http.post("/v1/images/generations", json={}, headers={"Authorization": ""})
            await http.get("/model/v1/queue/gpt_image_1/requests/nope/status")  # 404
            await http.post(SUBMIT, json=SEED_GPT_IMAGE_1, headers={"Authorization": "Key k2"})

            async def statuses(**query: Any) -> list[int]:
                response = await http.get(JOURNAL, params=query)
                assert response.status_code == 200, response.text
                return [e["status"] for e in response.json()["entries"]]

            return {
                "all": await statuses(),
                "provider": await statuses(provider="openai"),
                "operation": await statuses(operation="status"),
                "path": await statuses(path="/model/*/gpt_image_?"),
                "status": await statuses(status="422"),
                "class": await statuses(status="4xx"),
                "key": await statuses(key="k2"),
                "test_id": await statuses(test_id="nobody"),
                "since": await statuses(since=START + 10),
                "limit": await statuses(limit=2),
            }

    found = asyncio.run(run())
    assert found["all"] == [200, 404, 401, 422, 200, 200]  # the clock move is the 200 between
    assert found["provider"] == [401]
    assert found["operation"] == [404]
    assert found["path"] == [200, 422, 200]
    assert found["status"] == [422]
    assert found["class"] == [404, 401, 422]
    assert found["key"] == [200]
    assert found["test_id"] == []
    assert found["since"] == [200, 404, 401, 422]
    assert found["limit"] == [200, 404]


@pytest.mark.parametrize(
    ("query", "detail"),
    [
        ({"stauts": "429"}, "unknown filter 'stauts': one of provider, operation, path, status"),
        ({"status": "4x"}, "status must be a status (429) or a class (4xx)"),
        ({"status": "99"}, "status must be a status (429) or a class (4xx)"),
        ({"since": "yesterday"}, "since must be a number of seconds (emulator clock)"),
        ({"since": "nan"}, "since must be a number of seconds (emulator clock)"),
        ({"limit": "0"}, "limit must be an integer 1-10000"),
        ({"limit": "lots"}, "limit must be an integer 1-10000"),
    ],
)
def test_a_bad_filter_is_refused_saying_why(query: dict[str, str], detail: str) -> None:
    async def run() -> httpx.Response:
        async with asgi_client(make_app()) as http:
            return await http.get(JOURNAL, params=query)

    response = asyncio.run(run())
    assert response.status_code == 400
    assert response.json()["detail"].startswith(detail)


# Hypothesis: entries put in the store, filters asked over HTTP, a plain model of the answer.

PROVIDERS = ["seacloud", "openai", "aa", "_emulator"]
OPERATIONS = ["submit", "status", "images.edit", "reset"]
PATHS = ["/model/v1/queue/gpt_image_1", "/v1/images/edits", "/api/v1/files", "/_emulator/reset"]
STATUSES = [200, 204, 400, 401, 404, 422, 429, 500, 503]

stored = st.lists(
    st.builds(
        lambda provider, operation, path, status, key, test_id, at: JournalEntry(
            START + at,
            provider,
            operation,
            "POST",
            path,
            None,
            None if key is None else key_digest(key),
            test_id,
            status,
            0.001,
            None,
            None,
        ),
        st.sampled_from(PROVIDERS),
        st.sampled_from(OPERATIONS),
        st.sampled_from(PATHS),
        st.sampled_from(STATUSES),
        st.sampled_from([None, "k1", "k2"]),
        st.sampled_from([None, "a", "b"]),
        st.integers(0, 30),
    ),
    max_size=60,
)
asked = st.fixed_dictionaries(
    {},
    optional={
        "provider": st.sampled_from(PROVIDERS),
        "operation": st.sampled_from(OPERATIONS),
        "path": st.sampled_from(["*", "/v1/*", "*/edits", "/_emulator/*", "/model/v1/queue/*"]),
        "status": st.sampled_from([*map(str, STATUSES), "2xx", "4xx", "5xx"]),
        "key": st.sampled_from(["k1", "k2", "k3"]),
        "test_id": st.sampled_from(["a", "b", "c"]),
        "since": st.integers(0, 31).map(lambda at: str(START + at)),
        "limit": st.integers(1, 70).map(str),
    },
)


def expected(entries: list[JournalEntry], query: dict[str, str]) -> tuple[list[float], int]:
    """The times the journal should answer, newest first, and the total: plain Python."""
    found = []
    for e in sorted(reversed(entries), key=lambda e: -e.time):  # ties: newest added first
        status = query.get("status", str(e.status))
        if not (
            e.provider == query.get("provider", e.provider)
            and e.operation == query.get("operation", e.operation)
            and fnmatch.fnmatchcase(e.path, query.get("path", e.path))
            and (status == str(e.status) if status.isdigit() else status[0] == str(e.status)[0])
            and ("key" not in query or e.key == key_digest(query["key"]))
            and e.test_id == query.get("test_id", e.test_id)
            and e.time >= float(query.get("since", e.time))
        ):
            continue
        found.append(e.time)
    return found[: int(query.get("limit", 100))], len(found)


@settings(max_examples=examples(1.0))
@given(stored, asked)
def test_any_filter_combination_answers_as_the_model(
    entries: list[JournalEntry], query: dict[str, str]
) -> None:
    app = make_app()
    app.state.emulator.store.journal_append(entries, 1000)

    async def run() -> dict[str, Any]:
        async with asgi_client(app) as http:
            response = await http.get(JOURNAL, params=query)
            assert response.status_code == 200, response.text
            body: dict[str, Any] = response.json()
            return body

    body = asyncio.run(run())
    assert ([e["time"] for e in body["entries"]], body["total"]) == expected(entries, query)


# -- turned off; shared by two emulators -----------------------------------------------------


def test_a_journal_of_size_zero_journals_nothing_and_says_so() -> None:
    app = make_app(journal_size=0)

    async def run() -> tuple[httpx.Response, str, int]:
        async with asgi_client(app, QUEUE) as http:
            await http.post(SUBMIT, json=SEED_GPT_IMAGE_1)
            await http.post(SUBMIT, json=SEED_GPT_IMAGE_1, headers={"Authorization": ""})
            metrics = (await http.get("/metrics")).text
            deleted = (await http.delete(JOURNAL)).status_code
            return await http.get(JOURNAL), metrics, deleted

    response, metrics, deleted = asyncio.run(run())
    assert response.status_code == 409
    assert response.json() == {"detail": "The journal is off; start with --journal-size N"}
    assert deleted == 204
    # The metrics count the requests as they do with the journal on.
    assert 'imgemu_requests_total{operation="submit",provider="seacloud",status="401"} 1.0' in (
        metrics
    )


@pytest.mark.server
def test_two_emulators_on_one_redis_read_one_journal(
    serve: Callable[[Starlette], RunningServer], redis_url: str
) -> None:
    def shared(seed: int) -> Starlette:
        settings = Settings(store=redis_url, seed=seed, time_scale=1e-9, log_requests="off")
        return create_app(settings)

    one, two = serve(shared(0)), serve(shared(1))
    with httpx.Client(timeout=30, headers={**QUEUE, "X-Imgemu-Test-Id": "shared"}) as http:
        job = http.post(one.base_url + SUBMIT, json=SEED_GPT_IMAGE_1).json()
        assert http.get(two.base_url + SUBMIT + f"/requests/{job['request_id']}/status"
                        ).status_code == 200  # fmt: skip
        # Each reads what either answered: its own at once, the other's once sent.
        through_two = read(http, two.base_url)
        through_one = read(http, one.base_url)
    assert [e["operation"] for e in through_two] == ["status", "submit"]
    assert through_one == through_two
    assert through_one[1]["fields"] == SEED_GPT_IMAGE_1
    # A clear through one is seen through the other.
    with httpx.Client(timeout=30) as http:
        assert http.delete(one.base_url + JOURNAL).status_code == 204
        assert read(http, two.base_url) == []
