"""The records the store keeps: queue jobs, 典名词元's tasks and the generations they carry,
and fault plans with their counts.

Frozen, plain data and what follows from their own fields alone (a task's status at a given
instant, a generation's event times). This module imports the standard library only, so the
store (memory now, Redis later) depends on nothing else of the emulator; the services that make
and read the records (``jobs``, ``queue``, ``generation``, ``tasks``) import them. Uploads are
kept as their bytes under a file id and need no record.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, TypeVar, dataclass_transform

_T = TypeVar("_T")


@dataclass_transform(frozen_default=True)
def record(cls: type[_T]) -> type[_T]:
    """A record class: a slotted dataclass, frozen to the type checker (mypy refuses any
    assignment to a field) but not at run time, where a frozen dataclass builds each instance
    through ``object.__setattr__``, once per field: measured 4.2 µs against 0.5 µs for a
    19-field ``Job``, built on every submit. Change a record with ``dataclasses.replace``."""
    return dataclass(slots=True)(cls)


# Seconds a record outlives its results' links (``result_ttl``): a client that read a status
# at the edge of ``result_ttl`` still finds the record behind its next call. Both stores keep
# a record ``result_ttl`` plus this long after it is done, then forget it.
GRACE = 60.0

# -- queue jobs -----------------------------------------------------------------------------


class Status(StrEnum):
    IN_QUEUE = "IN_QUEUE"
    IN_PROGRESS = "IN_PROGRESS"
    COMPLETED = "COMPLETED"


class ErrorType(StrEnum):
    INFERENCE_FAILURE = "INFERENCE_FAILURE"
    INFERENCE_TIMEOUT = "INFERENCE_TIMEOUT"
    REQUEST_INVALID = "REQUEST_INVALID"
    CONTENT_BLOCKED = "CONTENT_BLOCKED"
    CANCELED = "CANCELED"
    INTERNAL_SERVER_ERROR = "INTERNAL_SERVER_ERROR"
    # A queue job whose start deadline (``X-Fal-Request-Timeout``) passed while it waited: fal's
    # infrastructure error type, lower case as fal writes it. Never a drawn or steered outcome.
    REQUEST_TIMEOUT = "request_timeout"


# The error types a generation may be steered to, or drawn (header steering, fault plans).
OUTCOMES = tuple(e for e in ErrorType if e is not ErrorType.REQUEST_TIMEOUT)


@dataclass(frozen=True, slots=True)
class OutputFile:
    """One image a successful job produces (rendered on first download)."""

    index: int
    width: int
    height: int
    output_format: str  # png | jpeg | webp

    @property
    def content_type(self) -> str:
        return f"image/{self.output_format}"

    @property
    def file_name(self) -> str:
        return f"output_{self.index}.{self.output_format}"


@record
class Job:
    """A submitted queue job. Times are emulator-clock seconds."""

    request_id: str
    provider: str
    model: str
    owner: str
    seq: int
    params: dict[str, Any]
    submitted_at: float
    started_at: float | None  # None: the job never takes a slot (refused after submit)
    finished_at: float
    error_type: ErrorType | None = None
    error: str | None = None
    # What a success produces: ``n_outputs`` images of one size and format. Plain numbers
    # rather than a tuple of ``OutputFile``: every object a stored job holds is one more for
    # the garbage collector to walk, and a load test stores hundreds of thousands of jobs.
    n_outputs: int = 0
    width: int = 0
    height: int = 0
    output_format: str = "png"
    canceled_at: float | None = None
    inputs: tuple[bytes, ...] = ()  # resolved input images of an edit (first one is the base)
    mask: bytes | None = None
    service_seconds: float = 0.0

    @property
    def pool(self) -> str:
        """The worker pool the job runs in: one per (provider, model)."""
        return f"{self.provider}:{self.model}"

    def scheduled(self, started_at: float, finished_at: float) -> Job:
        """This job with its slot time (``dataclasses.replace`` costs ten times more)."""
        return Job(
            self.request_id, self.provider, self.model, self.owner, self.seq, self.params,
            self.submitted_at, started_at, finished_at, self.error_type, self.error,
            self.n_outputs, self.width, self.height, self.output_format, self.canceled_at,
            self.inputs, self.mask, self.service_seconds,
        )  # fmt: skip

    @property
    def outputs(self) -> tuple[OutputFile, ...]:
        """The images a success produces, in order."""
        return tuple(
            OutputFile(i, self.width, self.height, self.output_format)
            for i in range(self.n_outputs)
        )


# -- generations of the synchronous Images protocols ------------------------------------------


@dataclass(frozen=True, slots=True)
class Usage:
    """Token counts of one request, as ``ImagesResponse.usage`` reports them."""

    text_tokens: int
    image_tokens: int
    output_tokens: int

    @property
    def input_tokens(self) -> int:
        return self.text_tokens + self.image_tokens

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens


@dataclass(frozen=True, slots=True)
class Generation:
    """One accepted request: what to render, what it costs, when it is done, how it ends."""

    request_id: str
    provider: str
    kind: str  # generate | edit
    model: str  # the model's id (``emulator.domain.catalog.IMAGE_MODELS``)
    params: Mapping[str, Any]  # the request with the schema's defaults
    created: int  # unix seconds
    started_at: float
    finishes_at: float
    width: int
    height: int
    quality: str  # resolved: low | medium | high
    background: str  # resolved: transparent | opaque
    output_format: str  # resolved: png | jpeg | webp
    n: int
    stream: bool
    partial_images: int
    usage: Usage
    seed: int
    outcome: ErrorType | None = None  # a failure to report once the time is up
    base: bytes | None = None
    mask: bytes | None = None
    inputs: int = 0

    @property
    def size(self) -> str:
        return f"{self.width}x{self.height}"

    @property
    def prompt(self) -> str:
        return str(self.params.get("prompt", ""))

    def partial_fidelity(self, index: int) -> float:
        """How finished partial image ``index`` (0-based) looks: rougher early, never final."""
        return (index + 1) / (self.partial_images + 1)

    def event_times(self, image: int) -> list[float]:
        """When image ``image``'s partials and then its final image are due, in clock time.

        The n images share the service time; within one image its partials are spread evenly.
        """
        span = (self.finishes_at - self.started_at) / self.n
        start = self.started_at + image * span
        steps = self.partial_images + 1
        return [start + span * (step + 1) / steps for step in range(steps)]


# -- 典名词元's tasks --------------------------------------------------------------------------

# The share of a task's service time it reports as pending before it reports processing.
PENDING_SHARE = 0.1


class TaskStatus(StrEnum):
    """The status words of a task."""

    PENDING = "pending"
    PROCESSING = "processing"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class Task:
    """An accepted generation under its task id, filed under its API key's owner name."""

    task_id: str
    owner: str
    generation: Generation

    @property
    def processing_at(self) -> float:
        """When the task stops being pending."""
        g = self.generation
        return g.started_at + PENDING_SHARE * (g.finishes_at - g.started_at)

    def status_at(self, now: float) -> TaskStatus:
        """The task's status at clock time ``now``."""
        g = self.generation
        if now >= g.finishes_at:
            return TaskStatus.FAILED if g.outcome is not None else TaskStatus.SUCCEEDED
        return TaskStatus.PROCESSING if now >= self.processing_at else TaskStatus.PENDING

    def file_name(self, index: int) -> str:
        """The name of image ``index`` under the result files' prefix."""
        return f"{self.task_id}/{index}.{self.generation.output_format}"


# -- the request journal ----------------------------------------------------------------------


@record
class JournalEntry:
    """One answered request as the journal keeps it (``emulator.domain.journal``): what was
    asked, by whom, and how it was answered. Holds no image bytes and no key: ``fields`` is the
    request's fields summarized (each image as its digest, size and header facts), ``key`` a
    digest of the API key."""

    time: float  # emulator-clock seconds when the request arrived
    provider: str  # a provider's name, or ``_emulator`` for the control plane
    operation: str  # the operation kind (``submit``, ``images.edit``, ``reset``...)
    method: str
    path: str
    query: str | None  # the query string, None without one
    key: str | None  # the key's digest (a job's ``owner``), None without a key
    test_id: str | None  # the ``X-Imgemu-Test-Id`` the request carried
    status: int
    seconds: float  # wall-clock seconds from arrival to the end of the answer
    request_id: str | None  # the request's own id, where its dialect has one
    fields: Any  # the summary of the request's fields (JSON-shaped), None without any
    error: str | None = None  # the provider's error code of an answer >= 400
    message: str | None = None  # and its message, bounded
    fault: dict[str, Any] | None = None  # a fault applied to the request (steering, a plan)
    wall: float | None = None  # wall-clock seconds (Unix) when it arrived, whatever the clock
    retry_after: float | None = None  # seconds an error answer asked to wait, if it said
    job: str | None = None  # the queue job or task it created or was about
    state: str | None = None  # the job's status word the answer reported (``IN_QUEUE``...)


# -- fault plans -------------------------------------------------------------------------------


@record
class StoredFault:
    """A fault plan as the store keeps it: what counting needs, the rest as JSON text.

    ``body`` is the plan's ``match`` and ``action`` (``emulator.domain.faults`` reads it back);
    the store counts ``seen`` (matching requests the plan took) and ``applied`` (those it
    applied to) atomically, by ``take_fault``'s rule (``fault_applies``).
    """

    plan_id: str
    body: str
    after: int  # the first ``after`` requests the plan takes pass untouched
    times: int | None  # applications before the plan is spent; None: never spent
    probability: float  # the chance each request past ``after`` is faulted (seeded)
    seen: int = 0
    applied: int = 0

    @property
    def spent(self) -> bool:
        """Whether the plan has applied ``times`` times: it takes no more requests."""
        return self.times is not None and self.applied >= self.times


def fault_draw(seed: int, plan_id: str, n: int) -> float:
    """The uniform draw in [0, 1) of the ``n``-th request (from 1) past a plan's ``after``.

    SHA-1 of ``"<seed>:fault:<plan id>:<n>"``, its first 52 bits over 2**52: the Redis store
    draws the same number inside its Lua script (``redis.sha1hex``; Lua has no other hash), so
    both stores fault the same requests of a run.
    """
    digest = hashlib.sha1(f"{seed}:fault:{plan_id}:{n}".encode(), usedforsecurity=False)
    return int(digest.hexdigest()[:13], 16) / 4503599627370496.0


def fault_applies(plan: StoredFault, seen: int, seed: int) -> bool:
    """Whether a plan applies to the request it takes as its ``seen``-th (from 1)."""
    if seen <= plan.after or plan.probability <= 0:
        return False
    if plan.probability >= 1:
        return True
    return fault_draw(seed, plan.plan_id, seen - plan.after) < plan.probability
