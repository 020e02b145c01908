"""Hypothesis-driven lifecycle checks over real HTTP: the queue as a state machine, and streams.

Both work against any target, a real provider included, where the clock cannot be moved and every
job costs money. So they check model-free invariants only (what must hold whatever the provider's
schedule), consult the budget before each paid call, run few short examples, and cancel every
job they did not need to finish.

A breach is not raised inside Hypothesis: it would re-run the failing example to report it (paid
calls again, and a different schedule on a real provider, so a "flaky" error instead of the
finding). The first breach is kept with the exchange that showed it, every later step does
nothing, and the breach is raised once Hypothesis returns, for the runner to record.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import httpx
from hypothesis import HealthCheck, Phase, given, settings
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

from clients import JobFailedError, JobNotReadyError, JobStatus, QueueClient, QueueResult
from contracts._common import (
    PROMPT,
    _cheap_queue,
    _images_path,
    _json,
    _pay_queue,
    _queue_client,
    _queue_ops,
    ensure,
    judge_stream_answer,
)
from contracts._context import BudgetExceeded, CheckFailed, Context, png, price

ORDER = {"IN_QUEUE": 0, "IN_PROGRESS": 1, "COMPLETED": 2}
NOT_FOUND_ID = "mmsu_" + "0" * 26
CANCEL_ANSWERS = {
    202: {"status": "CANCELLATION_REQUESTED"},
    400: {"status": "ALREADY_COMPLETED"},
    404: {"status": "NOT_FOUND"},
}
# How a job whose cancel was accepted may end: CANCELED, or (a running job whose model app does
# not stop for the signal, as fal lets the app decide) a success.
CANCEL_ENDS = ("CANCELED", None)
QUEUE_EXAMPLES = 5
QUEUE_STEPS = 8
SUBMITS_PER_RUN = 3
STREAM_EXAMPLES = 4
WAITS = (0.0, 0.05, 0.2)  # seconds: short, so a real provider's job is rarely waited for


class _Session:
    """What outlives one Hypothesis example: the first breach, the operations exercised."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.failure: CheckFailed | None = None
        self.exchange: tuple[httpx.Request, httpx.Response] | None = None
        self.used: list[str] = []
        self.refused: str | None = None

    @property
    def stopped(self) -> bool:
        """A breach was found: later steps make no calls."""
        return self.failure is not None

    def use(self, operation: str) -> None:
        """Note that ``operation`` was exercised (reported as verified when nothing failed)."""
        if operation not in self.used:
            self.used.append(operation)

    @contextmanager
    def guard(self, operation: str) -> Iterator[None]:
        """Keep the first breach (any error is one: a malformed answer breaks the client too)."""
        try:
            yield
        except BudgetExceeded:
            raise
        except CheckFailed as exc:
            self._keep(exc)
        except Exception as exc:
            self._keep(CheckFailed(operation, f"{type(exc).__name__}: {exc}"))

    def _keep(self, exc: CheckFailed) -> None:
        if self.failure is None:
            self.failure = exc
            self.exchange = self.ctx.recorder.last

    def finish(self, free: bool = False) -> None:
        """Raise the kept breach with its exchange, or record what was verified."""
        if self.failure is not None:
            # Cleanup calls came after the breach: put back the exchange that showed it.
            self.ctx.recorder.last = self.exchange
            raise self.failure
        for operation in self.used:
            self.ctx.record(operation, "verified")
        if self.refused is not None:
            if not self.used and not free:
                raise BudgetExceeded(self.refused)
            self.ctx.record(f"({self.ctx.check})", "skipped", self.refused)


def _settings(ctx: Context, examples: int, steps: int | None = None) -> settings:
    extra: dict[str, Any] = {} if steps is None else {"stateful_step_count": steps}
    return settings(
        max_examples=examples,
        phases=[Phase.generate],
        database=None,
        deadline=None,
        derandomize=ctx.derandomize,
        print_blob=False,
        suppress_health_check=list(HealthCheck),
        **extra,
    )


# --- the queue -------------------------------------------------------------------------------


@dataclass(eq=False)
class _Job:
    """Everything observed of one submitted job."""

    request_id: str
    rank: int = 0
    position: int | None = None
    done: bool = False  # some answer said it is terminal: nothing may say otherwise later
    final: tuple[str | None, str | None] | None = None  # (error_type, error) when COMPLETED
    result: tuple[Any, ...] | None = None  # the first terminal result, summarised
    cancelled: bool = False  # a cancel was accepted (202)

    def __repr__(self) -> str:
        return f"<job {self.request_id}>"


class QueueMachine(RuleBasedStateMachine):
    """Random submits, status reads (with and without logs), results, cancels and short waits,
    each answer checked against what was observed before of the same job."""

    jobs = Bundle("jobs")

    def __init__(self, session: _Session) -> None:
        super().__init__()
        self.session = session
        self.ctx = session.ctx
        self.model = self.ctx.profile.model
        self.ops = _queue_ops(self.model)
        self.client: QueueClient = _queue_client(self.ctx)
        self.http: httpx.Client = self.ctx.http()
        self.base = f"/v1/queue/{self.model}/requests"
        self.known: list[_Job] = []
        self.submits = 0

    # -- observations: every answer goes through one of these -----------------------------

    def see_state(self, job: _Job, state: str, position: int | None, operation: str) -> None:
        """States only move forward; a terminal job stays terminal; positions never rise."""
        ensure(state in ORDER, operation, f"{job.request_id}: unknown state {state!r}")
        rank = ORDER[state]
        ensure(
            rank >= job.rank,
            operation,
            f"{job.request_id}: the state went back from {_name(job.rank)} to {state}",
        )
        ensure(
            not job.done or state == "COMPLETED",
            operation,
            f"{job.request_id}: {state} after an answer that said the job was terminal",
        )
        job.rank = rank
        if state == "IN_QUEUE" and position is not None:
            ensure(position >= 0, operation, f"{job.request_id}: queue_position {position} below 0")
            ensure(
                job.position is None or position <= job.position,
                operation,
                f"{job.request_id}: queue_position rose from {job.position} to {position}",
            )
            job.position = position
        if state == "COMPLETED":
            job.done = True

    def see_status(self, job: _Job, status: JobStatus, logs: bool) -> None:
        """A status body: forward only, a position while queued, the terminal fields frozen."""
        op = self.ops["status"]
        ensure(
            status.request_id == job.request_id,
            op,
            f"status of {job.request_id} names {status.request_id}",
        )
        if status.state == "IN_QUEUE":
            ensure(
                status.queue_position is not None, op, f"{job.request_id}: IN_QUEUE, no position"
            )
        self.see_state(job, status.state, status.queue_position, op)
        if logs:
            ensure(status.logs is not None, op, f"{job.request_id}: logs asked, none given")
        if status.state != "COMPLETED":
            return
        final = (status.error_type, status.error)
        ensure(
            job.final is None or job.final == final,
            op,
            f"{job.request_id}: a terminal status changed from {job.final} to {final}",
        )
        job.final = final
        if job.cancelled:
            ensure(
                status.error_type in CANCEL_ENDS,
                op,
                f"{job.request_id}: cancel accepted, ended with error_type {status.error_type}",
            )
        if job.result is not None:
            ensure(
                job.result[1] == status.error_type,
                op,
                f"{job.request_id}: result said {job.result[1]}, status {status.error_type}",
            )

    def see_result(self, job: _Job, summary: tuple[Any, ...]) -> None:
        """A terminal result: the same on every read, consistent with status and cancel."""
        op = self.ops["result"]
        ensure(
            job.result is None or job.result == summary,
            op,
            f"{job.request_id}: the result changed from {job.result} to {summary}",
        )
        job.result = summary
        error_type = summary[1]
        if job.cancelled:
            ensure(
                error_type in CANCEL_ENDS,
                op,
                f"{job.request_id}: cancel accepted, the result is {summary}",
            )
        if job.final is not None:
            ensure(
                job.final[0] == error_type,
                op,
                f"{job.request_id}: status said {job.final[0]}, the result {error_type}",
            )

    def read_status(self, job: _Job, logs: bool = False) -> JobStatus:
        """Read and judge the job's status."""
        status = self.client.status(self.model, job.request_id, logs=logs)
        self.see_status(job, status, logs)
        return status

    def do_cancel(self, job: _Job) -> None:
        """PUT cancel: exactly 202 / 400 ALREADY_COMPLETED for a known job, never 202 once done."""
        op = self.ops["cancel"]
        answer = self.http.put(f"{self.base}/{job.request_id}/cancel")
        body = _json(answer)
        ensure(
            answer.status_code in (202, 400) and body == CANCEL_ANSWERS[answer.status_code],
            op,
            f"{job.request_id}: cancel answered {answer.status_code} {answer.text[:200]}",
        )
        if answer.status_code == 202:
            ensure(
                not job.done,
                op,
                f"{job.request_id}: cancel accepted (202) after the job was seen COMPLETED",
            )
            job.cancelled = True
        else:
            job.done = True
        self.session.use(op)

    # -- rules ------------------------------------------------------------------------------

    @initialize(target=jobs)
    def first_job(self) -> Any:
        """Every run starts with one job, so every run has a job to read after each step."""
        return self.submit_one()

    @precondition(lambda self: self.submits < SUBMITS_PER_RUN)
    @rule(target=jobs)
    def submit(self) -> Any:
        """Submit another cheapest job, if the budget allows it."""
        return self.submit_one()

    def submit_one(self) -> Any:
        """Submit the cheapest job, if the budget allows it."""
        if self.session.stopped:
            return multiple()
        self.submits += 1
        params = _cheap_queue(self.ctx)
        try:
            _pay_queue(self.ctx, params, self.ops["submit"])
        except BudgetExceeded as exc:
            self.session.refused = self.session.refused or str(exc)
            return multiple()
        with self.session.guard(self.ops["submit"]):
            sub = self.client.submit(self.model, params)
            job = _Job(sub.request_id)
            # Known before it is judged, so teardown cancels it even if the answer is off.
            self.known.append(job)
            ensure(
                sum(j.request_id == sub.request_id for j in self.known) == 1,
                self.ops["submit"],
                f"request_id {sub.request_id} given twice",
            )
            self.see_state(job, "IN_QUEUE", sub.queue_position, self.ops["submit"])
            self.session.use(self.ops["submit"])
            return job
        return multiple()

    @rule(job=jobs, logs=st.booleans())
    def status(self, job: _Job, logs: bool) -> None:
        """Read the job's status, with or without its logs."""
        if self.session.stopped:
            return
        with self.session.guard(self.ops["status"]):
            self.read_status(job, logs)
            self.session.use(self.ops["status"])

    @rule(job=jobs)
    def result(self, job: _Job) -> None:
        """Ask for the result: not ready before COMPLETED, never not ready after."""
        if self.session.stopped:
            return
        op = self.ops["result"]
        with self.session.guard(op):
            was_done = job.done
            try:
                answer = self.client.result(self.model, job.request_id)
            except JobNotReadyError as exc:
                ensure(
                    not job.done,
                    op,
                    f"{job.request_id}: result not ready ({exc.state}) after COMPLETED",
                )
                ensure(
                    exc.state != "COMPLETED",
                    op,
                    f"{job.request_id}: a 202 not-ready answer says COMPLETED",
                )
                self.see_state(job, str(exc.state), None, op)
            except JobFailedError as exc:
                self.see_result(job, ("failed", exc.error_type, exc.status))
                job.done = True
            else:
                self.see_result(job, ("ok", None, _outputs(answer)))
                job.done = True
            self.session.use(op)
            if job.done and not was_done:
                # A result was served: the job must be COMPLETED from now on, checked at once.
                self.read_status(job)

    @rule(job=jobs)
    def cancel(self, job: _Job) -> None:
        """Cancel the job: 202 CANCELLATION_REQUESTED, or 400 ALREADY_COMPLETED once done."""
        if self.session.stopped:
            return
        with self.session.guard(self.ops["cancel"]):
            self.do_cancel(job)

    @rule()
    def unknown_id(self) -> None:
        """An id the target never gave: status and cancel answer 404 (free)."""
        if self.session.stopped:
            return
        with self.session.guard(self.ops["cancel"]):
            answer = self.http.put(f"{self.base}/{NOT_FOUND_ID}/cancel")
            ensure(
                answer.status_code == 404 and _json(answer) == CANCEL_ANSWERS[404],
                self.ops["cancel"],
                f"cancel of an unknown id answered {answer.status_code} {answer.text[:200]}",
            )
            answer = self.http.get(f"{self.base}/{NOT_FOUND_ID}/status")
            ensure(
                answer.status_code == 404,
                self.ops["status"],
                f"status of an unknown id answered {answer.status_code}",
            )
            self.session.use(self.ops["cancel"])
            self.session.use(self.ops["status"])

    @rule(seconds=st.sampled_from(WAITS))
    def wait(self, seconds: float) -> None:
        """Let real time pass (a little)."""
        if not self.session.stopped:
            time.sleep(seconds)

    @invariant()
    def every_job_read(self) -> None:
        """After each step, read every job's status (free): a drift shows within one step."""
        if self.session.stopped:
            return
        with self.session.guard(self.ops["status"]):
            for job in self.known:
                self.read_status(job)

    # -- the end of one example ---------------------------------------------------------------

    def teardown(self) -> None:
        """Cancel every job not yet cancelled (free once it is done, and it checks the 400),
        then read each status and result: a done one must still be COMPLETED, a cancelled one
        end CANCELED or (it was running) succeed."""
        try:
            if self.session.stopped:
                self._cancel_quietly()
                return
            with self.session.guard(self.ops["cancel"]):
                for job in self.known:
                    if not job.cancelled:
                        self.do_cancel(job)
            for job in self.known:
                if self.session.stopped:
                    break
                with self.session.guard(self.ops["status"]):
                    self._until_terminal(job)
                self.result(job)  # free once done: it must be served, or be the failure
            if self.session.stopped:
                self._cancel_quietly()
        finally:
            self.client.close()
            self.http.close()

    def _until_terminal(self, job: _Job) -> None:
        deadline = time.monotonic() + self.ctx.timeout
        delay = 0.02
        while not self.read_status(job).done:
            ensure(
                time.monotonic() < deadline,
                self.ops["status"],
                f"{job.request_id}: cancel accepted, still not COMPLETED after {self.ctx.timeout}s",
            )
            time.sleep(delay)
            delay = min(delay * 2, 2.0)

    def _cancel_quietly(self) -> None:
        for job in self.known:
            if not job.done:
                # Best effort: the breach already decides the check.
                with contextlib.suppress(httpx.HTTPError):
                    self.http.put(f"{self.base}/{job.request_id}/cancel")


def queue_machine(ctx: Context) -> None:
    """A Hypothesis state machine over the queue (few short runs, at most three cheapest paid
    submits each, unfinished jobs cancelled): states only move forward, ``queue_position`` never
    rises, the result is not ready before ``COMPLETED`` and always after, cancel answers exactly
    202 / 400 ``ALREADY_COMPLETED`` / 404 ``NOT_FOUND`` and never 202 once completed, a terminal
    job's status, ``error_type`` and result never change, a cancelled job ends ``CANCELED`` or,
    had it started, may succeed."""
    session = _Session(ctx)

    class Run(QueueMachine):
        def __init__(self) -> None:
            super().__init__(session)

    run_state_machine_as_test(
        Run,
        settings=_settings(ctx, min(QUEUE_EXAMPLES, ctx.examples), QUEUE_STEPS),
    )
    session.finish(free=True)


def _outputs(result: QueueResult) -> tuple[tuple[str, int, int], ...]:
    # URLs are left out: a provider may sign them afresh on every read.
    return tuple((o.content_type, o.width, o.height) for o in result.outputs)


def _name(rank: int) -> str:
    return next(state for state, r in ORDER.items() if r == rank)


# --- streams ---------------------------------------------------------------------------------


def _stream(ctx: Context, http: httpx.Client, n: int, partial_images: int) -> httpx.Response:
    path, _ = _images_path(ctx)
    w, h = ctx.profile.cheapest_size
    fields: dict[str, Any] = {
        "model": ctx.profile.model,
        "prompt": PROMPT,
        "size": f"{w}x{h}",
        "quality": "low",
        "n": n,
        "stream": True,
        "partial_images": partial_images,
    }
    if path.endswith("generations"):
        return http.post(path, json=fields)
    form = {
        key: str(value).lower() if value is True else str(value) for key, value in fields.items()
    }
    return http.post(path, data=form, files=[("image", ("in.png", png(), "image/png"))])


def stream_machine(ctx: Context) -> None:
    """Streams for a few drawn ``n`` (1..2) and ``partial_images`` (0..3), cheapest settings,
    each priced first: per image, partial indexes 0..k-1 with k <= ``partial_images``, exactly one
    completed event, ``usage`` only there; every event's ``type`` equals its ``event:`` line."""
    session = _Session(ctx)
    _, operation = _images_path(ctx)
    done: set[tuple[int, int]] = set()

    @given(n=st.integers(1, 2), partial_images=st.integers(0, 3))
    def one(n: int, partial_images: int) -> None:
        if session.stopped or (n, partial_images) in done:
            return
        done.add((n, partial_images))
        try:
            ctx.budget.pay(
                price(ctx.profile.family, "low", ctx.profile.cheapest_size, n), operation
            )
        except BudgetExceeded as exc:
            session.refused = session.refused or str(exc)
            return
        with session.guard(operation), ctx.http() as http:
            answer = _stream(ctx, http, n, partial_images)
            judge_stream_answer(answer, operation, n, partial_images)
            session.use(operation)

    runner: Callable[[], None] = _settings(ctx, STREAM_EXAMPLES)(one)
    runner()
    session.finish()
