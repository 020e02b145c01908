"""The queue protocol's domain: submit, status, result and cancel over the store and the clock."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from emulator.domain.catalog import QUEUE_MODELS, ModelInfo, resolve_quality, resolve_size
from emulator.domain.clock import Clock
from emulator.domain.errors import (
    AlreadyCompleted,
    DomainError,
    InsufficientBalance,
    InvalidBody,
    ModelNotFound,
    RateLimited,
    RequestNotFound,
    ValidationFailed,
    Violation,
)
from emulator.domain.fetch import concurrently
from emulator.domain.files import FileService, transparent_output
from emulator.domain.gateway import owner_of
from emulator.domain.ids import Ids
from emulator.domain.inputs import Fitted, InputResolver, kept_params
from emulator.domain.jobs import JobState, state_at
from emulator.domain.limits import concurrency_key
from emulator.domain.metrics import Metrics
from emulator.domain.outcomes import Outcomes
from emulator.domain.pricing import Balances, image_cost_usd
from emulator.domain.records import ErrorType, Job, OutputFile, Status, record
from emulator.domain.rules import ResolvedImage, RuleBook, RuleContext
from emulator.spec import Document, Operation
from emulator.store.base import Store

# The rule context of a model that takes no input images (one, immutable: built once).
_NO_INPUTS = RuleContext()
# What a job without input images keeps of them.
_NOTHING_KEPT = Fitted()
# The violations a refused job's error names at most (a body may break a rule many times over).
MAX_REPORTED = 10


@record
class Steering:
    """Per-request instructions: the ``X-Imgemu-*`` headers (honoured only when steering is
    on), or a fault plan's ``outcome`` or ``slow_queue``."""

    outcome: ErrorType | None = None
    latency: float | None = None  # emulator seconds of service time, before the time scale
    slots: int | None = None  # the job's pool has this many slots (a queue job only)
    service_factor: float = 1.0  # the service time is this many times as long


@record
class Submitted:
    job: Job
    queue_position: int


@record
class Snapshot:
    job: Job
    state: JobState
    queue_position: int


@dataclass(frozen=True, slots=True)
class QueuePolicy:
    """The queue protocol's own settings."""

    validation: Literal["async", "sync"]  # invalid jobs end REQUEST_INVALID, or 422 at submit
    invalid_delay: float  # seconds (before the time scale) a refused job takes to end
    slots: int  # worker slots of a model's pool
    model_slots: Mapping[str, int] = field(default_factory=dict)  # per model, over ``slots``
    concurrency: int = 0  # unfinished jobs (IN_QUEUE + IN_PROGRESS) per key; 0: unlimited
    # What a cancel does to a running job: it runs to its end, or it ends CANCELED.
    cancel_running: Literal["finish", "cancel"] = "finish"
    position_zero: frozenset[str] = frozenset()  # providers whose queue_position is always 0
    pending_status: int = 202  # the HTTP status of a status read before COMPLETED

    def slots_for(self, model: str) -> int:
        """Worker slots of one model's pool."""
        return self.model_slots.get(model, self.slots)


def _output_size(
    params: Mapping[str, Any], images: tuple[ResolvedImage | None, ...]
) -> tuple[int, int]:
    """A valid job's output size: as asked, or (``auto``) after its first input image."""
    first = images[0].info if images and images[0] is not None else None
    return resolve_size(str(params["size"]), (first.width, first.height) if first else None)


def _owned(job: Job | None, provider: str, key: str, model: str) -> Job:
    """``job`` if it is the caller's, under this provider and model id; else not found."""
    if (
        job is None
        or job.provider != provider
        or job.owner != owner_of(key)
        or not (job.model == model or job.model.startswith(model + "/"))
    ):
        raise RequestNotFound()
    return job


class QueueService:
    """Jobs of the queue providers (seacloud, odirouter), each under its own document."""

    def __init__(
        self,
        policy: QueuePolicy,
        outcomes: Outcomes,
        balances: Balances,
        clock: Clock,
        store: Store,
        documents: Mapping[str, Document],
        files: FileService,
        rules: RuleBook,
        inputs: InputResolver,
        ids: Ids,
        metrics: Metrics | None = None,
    ) -> None:
        self.policy = policy
        self.metrics = Metrics(store) if metrics is None else metrics
        self.outcomes = outcomes
        self.balances = balances
        self.clock = clock
        self.store = store
        self.documents = documents
        self.files = files
        self.rules = rules
        self.ids = ids
        self.inputs = inputs

    # -- submit -------------------------------------------------------------------------

    def operation(self, provider: str, kind: str, model: str) -> Operation:
        op = self.documents[provider].operation(kind, model)
        if op is None:
            raise ModelNotFound(model)
        return op

    async def submit(
        self,
        provider: str,
        key: str,
        model: str,
        body: Any,
        *,
        query_keys: frozenset[str] = frozenset(),
        header_names: frozenset[str] = frozenset(),
        steering: Steering | None = None,
        start_timeout: float | None = None,
    ) -> Submitted:
        """Accept a job, or raise the error the provider answers synchronously.

        ``start_timeout`` (``X-Fal-Request-Timeout``): clock seconds the job may wait for a
        slot; one that would start later never takes its slot and ends ``REQUEST_TIMEOUT`` then.
        """
        op = self.operation(provider, "submit", model)
        info = QUEUE_MODELS[model]
        if not isinstance(body, dict):
            raise InvalidBody("not_object")
        gateway_ctx = RuleContext(query_keys=query_keys, header_names=header_names)
        self.rules.check(op.rules, body, gateway_ctx, gateway=True)
        params = {**op.defaults, **body}
        violations = op.validate(body) if op.validate else ()
        fitted = _NOTHING_KEPT
        size = (0, 0)
        if not violations:
            ctx = await self._resolve_inputs(params, info, key) if info.edit else _NO_INPUTS
            violations = self.rules.check(op.rules, params, ctx, gateway=False)
            if not violations:
                size = _output_size(params, ctx.images)
                if info.edit:  # every input decoded now, never first when an output is drawn
                    found = await self.inputs.fit(
                        ctx.images,
                        ctx.mask,
                        *size,
                        transparent=transparent_output(params, model, str(params["output_format"])),
                    )
                    if isinstance(found, Violation):
                        violations = (found,)
                    else:
                        fitted = found
        if violations and self.policy.validation == "sync":
            raise ValidationFailed(violations)
        now = self.clock.now()
        request_id = self.ids.job(now)
        held = await self._hold(provider, key, request_id, now) if self.policy.concurrency else None
        try:
            seq = await self.store.next_seq()
            error: str | None
            if violations:
                error_type, error = (
                    ErrorType.REQUEST_INVALID,
                    "; ".join(v.describe() for v in violations[:MAX_REPORTED]),
                )
            elif self.outcomes.blocked(str(params["prompt"])):
                error_type, error = ErrorType.CONTENT_BLOCKED, None
            else:
                kept = await kept_params(params)  # image payloads as their digest and size
                return await self._accept(
                    Job(request_id, provider, model, owner_of(key), seq, kept, now, now, now),
                    info,
                    key,
                    size,
                    fitted,
                    steering,
                    start_timeout,
                )
            # Refused after submit: the job never takes a slot and ends after ``invalid_delay``;
            # it keeps only what its error says, none of the request's parameters.
            refused_at = now + self.policy.invalid_delay * self.outcomes.time_scale
            job = Job(
                request_id, provider, model, owner_of(key), seq, {}, now,
                started_at=None, finished_at=refused_at, error_type=error_type, error=error,
            )  # fmt: skip
            await self.store.put_job(job)
            self.metrics.submitted(provider)
            return Submitted(job, 0)
        except DomainError:
            if held is not None:  # refused before it was kept: the job's place goes back
                await self.store.release_concurrency(held, request_id)
            raise

    async def _hold(self, provider: str, key: str, request_id: str, now: float) -> str:
        """A place for job ``request_id`` among the key's unfinished jobs, or ``RateLimited``;
        returns where the place is held."""
        owner = owner_of(key)
        where = concurrency_key(provider, owner)
        limit = self.policy.concurrency
        busy = await self.store.take_concurrency(where, request_id, limit, now)
        if busy.wait is not None:
            raise RateLimited(busy.wait, limit, "concurrency", used=busy.active, owner=owner)
        return where

    async def _accept(
        self,
        filed: Job,
        info: ModelInfo,
        key: str,
        size: tuple[int, int],
        fitted: Fitted,
        steering: Steering | None,
        start_timeout: float | None = None,
    ) -> Submitted:
        """Price, time and schedule a valid job (``filed``: its id, owner, params and times) of
        ``size``, keeping what rendering needs of its inputs (``fitted``)."""
        params, request_id, now = filed.params, filed.request_id, filed.submitted_at
        width, height = size
        quality = resolve_quality(str(params["quality"]))
        n = int(params["n"])
        cost = n * image_cost_usd(info.family, quality, width, height)
        if not await self.store.charge(filed.owner, cost, self.balances.opening_for(key)):
            raise InsufficientBalance()
        self.metrics.charged(filed.provider, cost)
        outcome = self._outcome(request_id, steering)
        seconds = self.outcomes.service_seconds(
            (info.family, quality, width, height, n),
            request_id,
            steering.latency if steering is not None else None,
            outcome,
        )
        slots = self.policy.slots_for(filed.model)
        if steering is not None:
            seconds *= steering.service_factor
            slots = steering.slots or slots
        output_format = str(params["output_format"])
        # What rendering needs of the inputs: the first image and the mask, fitted to the output
        # (a job that fails renders nothing and keeps neither).
        kept = (fitted.base,) if fitted.base is not None and outcome is None else ()
        kept_mask = fitted.mask if outcome is None else None
        job = Job(
            request_id=request_id,
            provider=filed.provider,
            model=filed.model,
            owner=filed.owner,
            seq=filed.seq,
            params=params,
            submitted_at=now,
            started_at=now,
            finished_at=now,
            error_type=outcome,
            n_outputs=0 if outcome else n,
            width=width,
            height=height,
            output_format=output_format,
            inputs=kept,
            mask=kept_mask,
            service_seconds=seconds,
        )
        job = await self.store.schedule(job, slots, now)
        if start_timeout is not None and job.started_at is not None:
            deadline = now + start_timeout
            if job.started_at > deadline:
                job = await self._time_out(job, deadline, slots, cost, key)
        self.metrics.submitted(job.provider)
        if job.provider in self.policy.position_zero:
            return Submitted(job, 0)
        return Submitted(job, await self.store.queue_position(job, now))

    async def _time_out(self, job: Job, deadline: float, slots: int, cost: float, key: str) -> Job:
        """A job that would start after its deadline: its slot time goes back to the pool at
        once, it waits until the deadline and ends ``REQUEST_TIMEOUT``, and it costs nothing
        (fal charges no 5xx). Jobs ahead that are canceled later cannot bring it forward."""
        now = job.submitted_at
        await self.store.cancel(job.request_id, now, slots)
        timed_out = Job(
            job.request_id, job.provider, job.model, job.owner, job.seq, job.params, now,
            started_at=None, finished_at=deadline, error_type=ErrorType.REQUEST_TIMEOUT,
        )  # fmt: skip
        await self.store.put_job(timed_out)
        if cost:
            await self.store.charge(job.owner, -cost, self.balances.opening_for(key))
            self.metrics.charged(job.provider, -cost)
        return timed_out

    async def _resolve_inputs(
        self, params: Mapping[str, Any], info: ModelInfo, key: str
    ) -> RuleContext:
        if not info.edit:
            return _NO_INPUTS
        owner = owner_of(key)
        refs = params.get("images", [])
        if isinstance(refs, str):
            refs = [refs]
        resolve = self.inputs.resolve
        lookups = [resolve(ref, ("images", index), owner=owner) for index, ref in enumerate(refs)]
        if "mask" in params:
            lookups.append(resolve(params["mask"], ("mask",), owner=owner))
        found = await concurrently(lookups)  # the fetches of one request go together
        problems = [item for item in found if isinstance(item, Violation)]
        images = tuple(None if isinstance(item, Violation) else item for item in found[: len(refs)])
        mask: ResolvedImage | None = None
        if "mask" in params and not isinstance(found[-1], Violation):
            mask = found[-1]
        return RuleContext(
            images=images, mask=mask, reference_problems=tuple(problems), mask_like_first=True
        )

    def _outcome(self, request_id: str, steering: Steering | None) -> ErrorType | None:
        if steering is not None and steering.outcome is not None:
            return steering.outcome
        return self.outcomes.drawn(request_id)

    # -- reads and cancel ------------------------------------------------------------------

    async def find(self, provider: str, key: str, model: str, request_id: str) -> Job:
        """The caller's job; another key's job, or one under another model id, is not found."""
        return _owned(await self.store.get_job(request_id), provider, key, model)

    async def snapshot(self, provider: str, key: str, model: str, request_id: str) -> Snapshot:
        """The job's state now, read in one store call; reading never changes anything."""
        now = self.clock.now()
        found = await self.store.job_status(request_id, now)
        job = _owned(found[0] if found else None, provider, key, model)
        state = state_at(job, now)
        position = found[1] if found and state.status == "IN_QUEUE" else 0
        if position and provider in self.policy.position_zero:
            position = 0
        return Snapshot(job, state, position)

    async def cancel(self, provider: str, key: str, model: str, request_id: str) -> Job:
        """Cancel a waiting job (it never starts) or signal a running one (with
        ``cancel_running`` "finish" it runs to its end, as a model app that ignores the signal
        does); a terminal one raises ``AlreadyCompleted``."""
        job = await self.find(provider, key, model, request_id)
        now = self.clock.now()
        state = state_at(job, now)
        if state.terminal:
            raise AlreadyCompleted()
        if state.status is Status.IN_PROGRESS and self.policy.cancel_running == "finish":
            return job
        return await self.store.cancel(request_id, now, self.policy.slots_for(job.model))

    # -- files -------------------------------------------------------------------------

    async def file(self, request_id: str, index: int, fmt: str) -> tuple[Job, OutputFile, bytes]:
        """A finished job's output file (link checks are the caller's)."""
        return await self._file(await self.store.get_job(request_id), index, fmt)

    async def _file(self, job: Job | None, index: int, fmt: str) -> tuple[Job, OutputFile, bytes]:
        now = self.clock.now()
        if job is None or not state_at(job, now).succeeded:
            raise RequestNotFound()
        output = self.files.find_output(job, index, fmt)
        return job, output, await self.files.render(job, output, now)

    async def own_file(self, request_id: str, index: int, fmt: str, owner: str) -> bytes | None:
        """A result file sent back as an input image by ``owner``: its bytes, or None if there
        is none or it is another owner's (link checks are the caller's)."""
        job = await self.store.get_job(request_id)
        if job is None or job.owner != owner:
            return None
        try:
            return (await self._file(job, index, fmt))[2]
        except RequestNotFound:
            return None
