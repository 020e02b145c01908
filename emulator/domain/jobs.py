"""Queue jobs: an immutable record of timestamps, and their state as a function of the clock.

Nothing here changes a job when it is read: ``state_at(job, now)`` is all a status read does,
so every worker or replica that shares the store computes the same answer.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


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


ERROR_TEXT: dict[ErrorType, str] = {
    ErrorType.INFERENCE_FAILURE: "Task execution failed",
    ErrorType.INFERENCE_TIMEOUT: "Task execution timed out",
    ErrorType.CONTENT_BLOCKED: "Input or output was blocked by the content safety policy",
    ErrorType.CANCELED: "Request was canceled",
    ErrorType.INTERNAL_SERVER_ERROR: "Internal server error",
}


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


@dataclass(frozen=True, slots=True)
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


@dataclass(frozen=True, slots=True)
class JobState:
    """What a status read reports at one instant."""

    status: Status
    error_type: ErrorType | None = None
    error: str | None = None
    inference_time: float | None = None
    events: tuple[tuple[float, str, str], ...] = field(default=())  # (time, level, message)

    @property
    def terminal(self) -> bool:
        return self.status is Status.COMPLETED

    @property
    def succeeded(self) -> bool:
        return self.terminal and self.error_type is None


def state_at(job: Job, now: float) -> JobState:
    """The job's state at ``now``: a pure function of its timestamps."""
    if job.canceled_at is not None and now >= job.canceled_at:
        return JobState(Status.COMPLETED, ErrorType.CANCELED, ERROR_TEXT[ErrorType.CANCELED])
    if now >= job.finished_at:
        if job.error_type is not None:
            return JobState(Status.COMPLETED, job.error_type, job.error)
        started = job.started_at if job.started_at is not None else job.submitted_at
        return JobState(Status.COMPLETED, inference_time=round(job.finished_at - started, 3))
    if job.started_at is not None and now >= job.started_at:
        return JobState(Status.IN_PROGRESS)
    return JobState(Status.IN_QUEUE)


def events_until(job: Job, now: float) -> list[tuple[float, str, str]]:
    """The job's log lines that have happened by ``now``: (time, level, message)."""
    lines = [(job.submitted_at, "INFO", "Request received and queued")]
    end = job.finished_at
    if job.canceled_at is not None and job.canceled_at < end:
        end = job.canceled_at
    # A job canceled at the very instant it started was shown IN_PROGRESS: it keeps that line.
    if job.started_at is not None and job.started_at <= now and job.started_at <= end:
        lines.append((job.started_at, "INFO", f"Worker started on {job.model}"))
    if now >= end:
        state = state_at(job, now)
        if state.error_type is None:
            lines.append((end, "INFO", f"Generated {job.n_outputs} image(s)"))
        else:
            lines.append((end, "ERROR", f"{state.error_type}: {state.error}"))
    return lines
