"""Queue jobs' state as a function of the clock (the job record is ``records.Job``).

Nothing here changes a job when it is read: ``state_at(job, now)`` is all a status read does,
so every worker or replica that shares the store computes the same answer.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from emulator.domain.records import ErrorType, Job, Status

ERROR_TEXT: dict[ErrorType, str] = {
    ErrorType.INFERENCE_FAILURE: "Task execution failed",
    ErrorType.INFERENCE_TIMEOUT: "Task execution timed out",
    ErrorType.CONTENT_BLOCKED: "Input or output was blocked by the content safety policy",
    ErrorType.CANCELED: "Request was canceled",
    ErrorType.INTERNAL_SERVER_ERROR: "Internal server error",
}


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
