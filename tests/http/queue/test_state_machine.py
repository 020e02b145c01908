"""The queue protocol as a state machine: random submits, reads, cancels and clock moves.

The machine keeps its own model of every job it submitted (a FIFO multi-slot pool per model,
replayed from the submit times, service times and cancel instants) and checks every answer of
the emulator against it, plus model-free invariants: states only move forward, queue positions
never rise, COMPLETED is final, slots are never over-used, a pool never idles while jobs wait,
and jobs of one pool start in submit order.
"""

from __future__ import annotations

import asyncio
import heapq
import math
import uuid
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any, TypeVar

import httpx
import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    initialize,
    invariant,
    multiple,
    precondition,
    rule,
    run_state_machine_as_test,
)
from starlette.applications import Starlette

from emulator.domain.latency import LatencyModel
from tests.helpers import HOST, START, asgi_client, examples, make_app

T = TypeVar("T")

BASE = HOST  # where the in-process client calls
KEYS = ("alice", "bob")
MODELS = {"gpt_image_1": "gpt-image-1", "gpt_image_2": "gpt-image-2"}
QUALITIES = ("low", "medium", "high")
ORDER = {"IN_QUEUE": 0, "IN_PROGRESS": 1, "COMPLETED": 2}
RESULT_STATUS = {
    "REQUEST_INVALID": 422,
    "CONTENT_BLOCKED": 422,
    "INFERENCE_FAILURE": 500,
    "INFERENCE_TIMEOUT": 500,
    "INTERNAL_SERVER_ERROR": 500,
    "CANCELED": 400,
}
ERROR_TEXT = {
    "INFERENCE_FAILURE": "Task execution failed",
    "INFERENCE_TIMEOUT": "Task execution timed out",
    "CANCELED": "Request was canceled",
}
INVALID_DELAY = 0.5  # Settings.invalid_delay x time_scale 1.0
MAX_JOBS = 10
NOT_FOUND = {"detail": "Request not found"}
PROMPT = "a lighthouse at dusk"


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Key {key}"}


@dataclass(eq=False)
class RefJob:
    """The machine's record of one submitted job."""

    index: int
    key: str
    model: str
    n: int
    invalid: str | None  # the field made invalid, or None
    outcome: str | None  # steered failure, or None
    submitted_at: float
    service: float  # seconds in a slot (0 for a refused job)
    sub: dict[str, Any]
    canceled_at: float | None = None
    canceled_queued: bool = False  # canceled while IN_QUEUE: it never takes a slot
    # What the emulator has shown so far.
    last_status: str = "IN_QUEUE"
    last_position: int | None = None
    last_logs: list[dict[str, Any]] = field(default_factory=list)
    final: dict[str, Any] | None = None

    def __repr__(self) -> str:
        return f"<job {self.index} {self.model} key={self.key}>"

    @property
    def scheduled(self) -> bool:
        return self.invalid is None


@dataclass(frozen=True)
class JobSpec:
    """What one submit asks for."""

    key: str
    model: str
    quality: str
    n: int
    invalid: str | None = None  # "n" (n=11) or "quality" ("ultra"): the job ends REQUEST_INVALID
    outcome: str | None = None  # X-Imgemu-Outcome steering


job_specs = st.builds(
    JobSpec,
    key=st.sampled_from(KEYS),
    model=st.sampled_from(list(MODELS)),
    quality=st.sampled_from(QUALITIES),
    n=st.integers(1, 3),
    invalid=st.sampled_from([None, None, None, None, "n", "quality"]),
    outcome=st.sampled_from([None, None, None, "INFERENCE_FAILURE", "INFERENCE_TIMEOUT"]),
)


@dataclass
class Prediction:
    status: str
    error_type: str | None = None
    position: int | None = None
    start: float | None = None  # None: the job never takes a slot
    end: float | None = None  # when it leaves its slot (finish, or the cancel instant)
    finish: float | None = None  # start + service


class QueueMachine(RuleBasedStateMachine):
    jobs = Bundle("jobs")
    store = "memory"  # the Redis variant below sets a redis:// URL

    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.client: httpx.AsyncClient | None = None
        self.app: Starlette | None = None
        self.slots = 1
        self.now = START
        self.known: list[RefJob] = []
        self.latency = LatencyModel()

    # -- plumbing ------------------------------------------------------------------------

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        return self.loop.run_until_complete(coro)

    def http(self, method: str, url: str, key: str | None = None, **kw: Any) -> httpx.Response:
        assert self.client is not None
        headers = kw.pop("headers", {})
        if key is not None:
            headers.update(auth(key))
        return self.run(self.client.request(method, url, headers=headers, **kw))

    def teardown(self) -> None:
        try:
            if self.client is not None:
                self.run(self.client.aclose())
            if self.app is not None:
                self.run(self.app.state.emulator.store.close())
        finally:
            self.loop.close()

    @initialize(
        target=jobs,
        slots=st.integers(1, 3),
        sigma=st.sampled_from([0.0, None]),
        first=st.lists(job_specs, max_size=4),
        pending=st.sampled_from([200, 202]),
    )
    def start(self, slots: int, sigma: float | None, first: list[JobSpec], pending: int) -> Any:
        # The model counts positions and ends a running job canceled at once: the settings'
        # other variants (SeaCloud's fixed 0, a running job finishing) are tested on their own
        # in test_fidelity.py.
        overrides: dict[str, Any] = {
            "slots": slots,
            "steering": True,
            "queue_position_zero": (),
            "queue_cancel_running": "cancel",
            "queue_pending_status": pending,
        }
        self.pending = pending
        if self.store != "memory":  # a namespace of its own: a fresh store for each example
            overrides["store"] = f"{self.store}?namespace=machine-{uuid.uuid4().hex}"
        if sigma is not None:
            overrides["latency_sigma"] = sigma
        self.app = make_app(**overrides)
        self.slots = slots
        self.latency = LatencyModel(sigma=self.app.state.emulator.settings.latency_sigma)
        self.client = asgi_client(self.app)
        return multiple(*(self.submit_one(spec) for spec in first))

    # -- the model -----------------------------------------------------------------------

    def predict(self) -> dict[int, Prediction]:
        """Every known job's state at ``self.now``: FIFO pools of ``slots`` workers."""
        out: dict[int, Prediction] = {}
        for model in MODELS:
            free = [-math.inf] * self.slots
            waiting = 0
            for job in (j for j in self.known if j.model == model):
                canceled = job.canceled_at is not None and self.now >= job.canceled_at
                if not job.scheduled:
                    finish = job.submitted_at + INVALID_DELAY
                    if canceled:
                        out[job.index] = Prediction("COMPLETED", "CANCELED", finish=finish)
                    elif self.now >= finish:
                        out[job.index] = Prediction("COMPLETED", "REQUEST_INVALID", finish=finish)
                    else:
                        out[job.index] = Prediction("IN_QUEUE", position=0, finish=finish)
                    continue
                if job.canceled_queued:
                    out[job.index] = Prediction("COMPLETED", "CANCELED")  # never started
                    continue
                start = max(job.submitted_at, heapq.heappop(free))
                finish = start + job.service
                end = finish if job.canceled_at is None else min(finish, job.canceled_at)
                heapq.heappush(free, end)
                pred = Prediction("IN_QUEUE", start=start, end=end, finish=finish)
                if canceled:
                    pred.status, pred.error_type = "COMPLETED", "CANCELED"
                elif self.now >= finish:
                    pred.status, pred.error_type = "COMPLETED", job.outcome
                elif self.now >= start:
                    pred.status = "IN_PROGRESS"
                else:
                    pred.position = waiting
                    waiting += 1
                out[job.index] = pred
        return out

    def expected_service(
        self, model: str, quality: str, n: int, rid: str, outcome: str | None
    ) -> float:
        seconds = self.latency.service_time(MODELS[model], quality, 1024, 1024, n, 0, rid)
        return seconds * (2.0 if outcome == "INFERENCE_TIMEOUT" else 1)

    def view(self) -> dict[str, dict[str, Any]]:
        response = self.http("GET", "/_emulator/jobs")
        assert response.status_code == 200
        return {job["request_id"]: job for job in response.json()["jobs"]}

    # -- checks of one status body ---------------------------------------------------------

    def check_status(self, job: RefJob, body: dict[str, Any], pred: Prediction, logs: bool) -> None:
        rid = job.sub["request_id"]
        status = body["status"]
        assert status in ORDER, body
        assert body["request_id"] == rid
        assert body["response_url"] == job.sub["response_url"]
        assert ORDER[status] >= ORDER[job.last_status], (job.last_status, body)
        assert (status, body.get("error_type")) == (pred.status, pred.error_type), (pred, body)
        assert ("queue_position" in body) == (status == "IN_QUEUE"), body
        if status == "IN_QUEUE":
            position = body["queue_position"]
            assert isinstance(position, int)
            assert not isinstance(position, bool)
            assert position >= 0
            assert position == pred.position, (pred, body)
            if job.last_position is not None:
                assert position <= job.last_position, (job.last_position, body)
            job.last_position = position
        assert "logs" in body
        expected_keys = {"status", "request_id", "response_url", "logs"}
        if status == "IN_QUEUE":
            expected_keys.add("queue_position")
        if status == "COMPLETED":
            if pred.error_type is None:
                expected_keys.add("metrics")
                assert pred.start is not None
                assert pred.finish is not None
                assert body["metrics"] == {"inference_time": round(pred.finish - pred.start, 3)}
            else:
                expected_keys |= {"error", "error_type"}
                if pred.error_type in ERROR_TEXT:
                    assert body["error"] == ERROR_TEXT[pred.error_type]
                else:
                    assert body["error"].split(":")[0] == job.invalid, body
        assert set(body) == expected_keys, body
        if logs:
            self.check_logs(job, body["logs"], pred)
        else:
            assert body["logs"] is None
        if status == "COMPLETED":
            final = {k: body.get(k) for k in ("status", "error", "error_type", "metrics")}
            if job.final is not None:
                assert final == job.final, (job.final, body)
            job.final = final
        job.last_status = status

    def check_logs(self, job: RefJob, logs: Any, pred: Prediction) -> None:
        assert isinstance(logs, list)
        assert all(set(e) == {"message", "level", "source", "timestamp"} for e in logs)
        messages = [e["message"] for e in logs]
        assert messages[0] == "Request received and queued"
        started = pred.start is not None and pred.start <= self.now
        previous = job.last_logs
        assert logs[: len(previous)] == previous, (job.last_logs, logs)
        job.last_logs = logs
        assert (f"Worker started on {job.model}" in messages) == started, (pred, messages)
        if pred.status != "COMPLETED":
            assert len(logs) == 1 + started
        elif pred.error_type is None:
            assert logs[-1]["message"] == f"Generated {job.n} image(s)"
            assert len(logs) == 3
        else:
            assert logs[-1]["level"] == "ERROR"
            assert logs[-1]["message"].startswith(f"{pred.error_type}: ")
            assert len(logs) == 2 + started

    # -- rules ---------------------------------------------------------------------------

    def submit_one(self, spec: JobSpec) -> RefJob:
        body: dict[str, Any] = {"prompt": PROMPT, "n": spec.n, "quality": spec.quality}
        if spec.invalid == "n":
            body["n"] = 11
        elif spec.invalid == "quality":
            body["quality"] = "ultra"
        headers = {"X-Imgemu-Outcome": spec.outcome} if spec.outcome else {}
        url = f"/model/v1/queue/{spec.model}"
        response = self.http("POST", url, spec.key, json=body, headers=headers)
        assert response.status_code == 200, response.text
        sub = response.json()
        rid = sub["request_id"]
        assert set(sub) == {
            "request_id",
            "response_url",
            "status_url",
            "cancel_url",
            "queue_position",
        }
        base = f"{BASE}/model/v1/queue/{spec.model}/requests/{rid}"
        assert sub["status_url"] == base + "/status"
        assert sub["response_url"] == base + "/response"
        assert sub["cancel_url"] == base + "/cancel"
        assert all(j.sub["request_id"] != rid for j in self.known)
        outcome = None if spec.invalid else spec.outcome
        service = (
            0.0
            if spec.invalid
            else self.expected_service(spec.model, spec.quality, spec.n, rid, outcome)
        )
        job = RefJob(
            index=len(self.known),
            key=spec.key,
            model=spec.model,
            n=spec.n,
            invalid=spec.invalid,
            outcome=outcome,
            submitted_at=self.now,
            service=service,
            sub=sub,
        )
        self.known.append(job)
        pred = self.predict()[job.index]
        assert sub["queue_position"] == (pred.position or 0), (pred, sub)
        record = self.view()[rid]
        assert (record["model"], record["submitted_at"]) == (spec.model, self.now)
        if job.scheduled:
            assert record["started_at"] == pred.start, (pred, record)
            assert record["finished_at"] == pytest.approx(record["started_at"] + service)
        else:
            assert record["started_at"] is None
        return job

    def status_code(self, prediction: Any) -> int:
        """A status read's code: 200 once COMPLETED, the setting's before."""
        return 200 if prediction.status == "COMPLETED" else self.pending

    @precondition(lambda self: len(self.known) < MAX_JOBS)
    @rule(target=jobs, spec=job_specs)
    def submit(self, spec: JobSpec) -> RefJob:
        return self.submit_one(spec)

    @rule(job=jobs, logs=st.booleans())
    def status(self, job: RefJob, logs: bool) -> None:
        response = self.http("GET", job.sub["status_url"] + ("?logs=1" if logs else ""), job.key)
        prediction = self.predict()[job.index]
        assert response.status_code == self.status_code(prediction), response.text
        self.check_status(job, response.json(), prediction, logs)

    @rule(job=jobs)
    def result(self, job: RefJob) -> None:
        response = self.http("GET", job.sub["response_url"], job.key)
        pred = self.predict()[job.index]
        body = response.json()
        if pred.status != "COMPLETED":
            assert response.status_code == 202, (pred, response.text)
            self.check_status(job, body, pred, logs=False)
        elif pred.error_type is None:
            assert response.status_code == 200, (pred, response.text)
            assert set(body) == {"request_id", "outputs", "metadata"}
            assert body["request_id"] == job.sub["request_id"]
            assert body["metadata"] == {"prompt": PROMPT}
            assert len(body["outputs"]) == job.n
            for index, output in enumerate(body["outputs"]):
                assert output["type"] == "image"
                assert output["content_type"] == "image/png"
                assert output["file_name"] == f"output_{index}.png"
                assert (output["width"], output["height"]) == (1024, 1024)
        else:
            assert response.status_code == RESULT_STATUS[pred.error_type], (pred, body)
            assert set(body) == {"detail", "error_type"}
            assert body["error_type"] == pred.error_type
            if pred.error_type in ERROR_TEXT:
                assert body["detail"] == ERROR_TEXT[pred.error_type]
            else:
                assert body["detail"].split(":")[0] == job.invalid, body

    @rule(job=jobs)
    def cancel(self, job: RefJob) -> None:
        before = self.predict()[job.index]
        response = self.http("PUT", job.sub["cancel_url"], job.key)
        if before.status == "COMPLETED":
            assert (response.status_code, response.json()) == (
                400,
                {"status": "ALREADY_COMPLETED"},
            ), before
            return
        assert (response.status_code, response.json()) == (
            202,
            {"status": "CANCELLATION_REQUESTED"},
        ), before
        job.canceled_at = self.now
        job.canceled_queued = before.status == "IN_QUEUE"
        status = self.http("GET", job.sub["status_url"], job.key).json()
        assert (status["status"], status.get("error_type")) == ("COMPLETED", "CANCELED")
        self.check_status(job, status, self.predict()[job.index], logs=False)

    @rule(job=jobs, operation=st.sampled_from(["status", "response", "cancel"]))
    def read_as_the_other_key(self, job: RefJob, operation: str) -> None:
        other = KEYS[1 - KEYS.index(job.key)]
        if operation == "cancel":
            response = self.http("PUT", job.sub["cancel_url"], other)
            assert (response.status_code, response.json()) == (404, {"status": "NOT_FOUND"})
        else:
            response = self.http("GET", job.sub[f"{operation}_url"], other)
            assert (response.status_code, response.json()) == (404, NOT_FOUND)

    @rule(seconds=st.floats(0, 120, allow_nan=False, allow_infinity=False))
    def advance(self, seconds: float) -> None:
        response = self.http("POST", "/_emulator/clock", json={"advance": seconds})
        assert response.status_code == 200, response.text
        now = response.json()["now"]
        assert now == self.now + seconds
        self.now = now

    def next_event(self) -> float | None:
        times = [
            t
            for pred in self.predict().values()
            for t in (pred.start, pred.end, pred.finish)
            if t is not None and t > self.now
        ]
        return min(times, default=None)

    @precondition(lambda self: self.next_event() is not None)
    @rule()
    def advance_to_next_event(self) -> None:
        """Land exactly on the next start or finish, where off-by-one-instant bugs live."""
        target = self.next_event()
        assert target is not None
        self.advance(target - self.now)
        assert self.now == target

    # -- invariants ----------------------------------------------------------------------

    @invariant()
    def every_status_matches_the_model(self) -> None:
        predictions = self.predict()
        for job in self.known:
            response = self.http("GET", job.sub["status_url"], job.key)
            assert response.status_code == self.status_code(predictions[job.index]), response.text
            self.check_status(job, response.json(), predictions[job.index], logs=False)

    @invariant()
    def pools_respect_slots_and_order(self) -> None:
        records = self.view()
        assert set(records) == {job.sub["request_id"] for job in self.known}
        predictions = self.predict()
        for model in MODELS:
            pool = [records[j.sub["request_id"]] for j in self.known if j.model == model]
            assert all(r["provider"] == "seacloud" for r in pool)
            running = sum(r["status"] == "IN_PROGRESS" for r in pool)
            assert running <= self.slots, pool
            # Jobs that hold a place in the line: scheduled, and not canceled before starting.
            line = [
                r
                for r in pool
                if r["started_at"] is not None
                and (r["canceled_at"] is None or r["canceled_at"] >= r["started_at"])
            ]
            if any(r["status"] == "IN_QUEUE" for r in line):
                assert running == self.slots, pool  # no slot idles while a job waits
            started = [r["status"] != "IN_QUEUE" for r in line]
            assert started == sorted(started, reverse=True), line  # FIFO
            starts = [r["started_at"] for r in line]
            assert starts == sorted(starts), line
        for job in self.known:
            record, pred = records[job.sub["request_id"]], predictions[job.index]
            assert record["status"] == pred.status, (pred, record)
            assert record["error_type"] == pred.error_type, (pred, record)
            assert record["canceled_at"] == job.canceled_at
            if pred.start is not None and pred.start <= self.now:
                assert record["started_at"] == pred.start, (pred, record)


# A few runs in the everyday loop; the full count (twice the profile's: 120 under ``ci``) slow.
TestQueueLifecycle = QueueMachine.TestCase
TestQueueLifecycle.settings = settings(
    max_examples=examples(1 / 6), stateful_step_count=30, deadline=None
)


@pytest.mark.slow
class TestQueueLifecycleFull(QueueMachine.TestCase):  # type: ignore[misc,valid-type]
    settings = settings(max_examples=examples(2), stateful_step_count=30, deadline=None)


@pytest.mark.slow
def test_the_lifecycle_holds_on_the_redis_store(redis_url: str) -> None:
    """The same machine with its jobs, pools and positions in Redis (Lua scripts): the store
    must give the memory store's answers, clock move for clock move."""
    machine = type("RedisQueueMachine", (QueueMachine,), {"store": redis_url})
    run_state_machine_as_test(
        machine,
        settings=settings(max_examples=examples(1 / 2), stateful_step_count=30, deadline=None),
    )


# -- pinned sequences ---------------------------------------------------------------------


async def _client(app: Starlette) -> httpx.AsyncClient:
    return asgi_client(app, auth("alice"))


async def _status(client: httpx.AsyncClient, sub: dict[str, Any]) -> tuple[str, int | None]:
    body = (await client.get(sub["status_url"])).json()
    return body["status"], body.get("queue_position")


LOW = {"prompt": "x", "quality": "low"}  # gpt-image-1 low 1024x1024: 15 s with sigma 0


# Positions counted and a running job canceled at once (the model's settings; the defaults are
# SeaCloud's fixed 0 and a running job that finishes: test_fidelity.py).
COUNTED: dict[str, Any] = {"queue_position_zero": (), "queue_cancel_running": "cancel"}


@pytest.mark.anyio
async def test_cancel_of_the_running_head_starts_the_next_job_at_once() -> None:
    app = make_app(slots=1, latency_sigma=0.0, **COUNTED)
    async with await _client(app) as client:
        subs = [
            (await client.post("/model/v1/queue/gpt_image_1", json=LOW)).json() for _ in range(3)
        ]
        await client.post("/_emulator/clock", json={"advance": 5})
        response = await client.put(subs[0]["cancel_url"])
        assert (response.status_code, response.json()) == (
            202,
            {"status": "CANCELLATION_REQUESTED"},
        )
        assert await _status(client, subs[1]) == ("IN_PROGRESS", None)
        assert await _status(client, subs[2]) == ("IN_QUEUE", 0)
        record = (await client.get(f"/_emulator/jobs/{subs[1]['request_id']}")).json()
        assert (record["started_at"], record["finished_at"]) == (START + 5, START + 20)
        await client.post("/_emulator/clock", json={"advance": 15})
        assert await _status(client, subs[1]) == ("COMPLETED", None)
        assert await _status(client, subs[2]) == ("IN_PROGRESS", None)


@pytest.mark.anyio
async def test_cancel_of_a_queued_job_moves_the_ones_behind_it_up() -> None:
    app = make_app(slots=1, latency_sigma=0.0, **COUNTED)
    async with await _client(app) as client:
        subs = [
            (await client.post("/model/v1/queue/gpt_image_1", json=LOW)).json() for _ in range(4)
        ]
        assert [s["queue_position"] for s in subs] == [0, 0, 1, 2]
        response = await client.put(subs[1]["cancel_url"])
        assert response.status_code == 202
        assert [await _status(client, s) for s in subs] == [
            ("IN_PROGRESS", None),
            ("COMPLETED", None),
            ("IN_QUEUE", 0),
            ("IN_QUEUE", 1),
        ]
        await client.post("/_emulator/clock", json={"advance": 15})
        assert await _status(client, subs[2]) == ("IN_PROGRESS", None)
        assert await _status(client, subs[3]) == ("IN_QUEUE", 0)


@pytest.mark.anyio
async def test_the_instant_a_job_finishes_the_next_starts_and_cancel_is_too_late() -> None:
    app = make_app(slots=1, latency_sigma=0.0)
    async with await _client(app) as client:
        first = (await client.post("/model/v1/queue/gpt_image_1", json=LOW)).json()
        second = (await client.post("/model/v1/queue/gpt_image_1", json=LOW)).json()
        other = (await client.post("/model/v1/queue/gpt_image_2", json=LOW)).json()
        assert other["queue_position"] == 0  # another model's pool has its own slot
        assert await _status(client, other) == ("IN_PROGRESS", None)
        await client.post("/_emulator/clock", json={"advance": 15})
        assert await _status(client, first) == ("COMPLETED", None)
        assert await _status(client, second) == ("IN_PROGRESS", None)
        late = await client.put(first["cancel_url"])
        assert (late.status_code, late.json()) == (400, {"status": "ALREADY_COMPLETED"})
        result = await client.get(first["response_url"])
        assert result.status_code == 200
        assert len(result.json()["outputs"]) == 1


@pytest.mark.anyio
async def test_a_job_canceled_the_instant_it_started_keeps_its_started_log_line() -> None:
    app = make_app(slots=1, latency_sigma=0.0, **COUNTED)
    async with await _client(app) as client:
        sub = (await client.post("/model/v1/queue/gpt_image_1", json=LOW)).json()
        before = (await client.get(sub["status_url"], params={"logs": 1})).json()
        assert before["status"] == "IN_PROGRESS"
        started = ["Request received and queued", "Worker started on gpt_image_1"]
        assert [e["message"] for e in before["logs"]] == started
        assert (await client.put(sub["cancel_url"])).status_code == 202  # same instant
        after = (await client.get(sub["status_url"], params={"logs": 1})).json()
        assert after["logs"][:2] == before["logs"]  # a log line once shown stays
        assert after["logs"][-1]["message"] == "CANCELED: Request was canceled"
