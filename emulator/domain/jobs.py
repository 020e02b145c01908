"""Queue jobs' state as a function of the clock (the job record is ``records.Job``).

Nothing here changes a job when it is read: ``state_at(job, now)`` is all a status read does,
so every worker or replica that shares the store computes the same answer.
"""

from __future__ import annotations

from enum import StrEnum

from emulator.domain.records import ErrorType, Job, Status, record


@record
class JobState:
    """What a status read reports at one instant."""

    status: Status
    error_type: ErrorType | None = None
    # What was wrong with a REQUEST_INVALID job's parameters; the dialect words the other errors.
    error: str | None = None
    inference_time: float | None = None

    @property
    def terminal(self) -> bool:
        return self.status is Status.COMPLETED

    @property
    def succeeded(self) -> bool:
        return self.terminal and self.error_type is None


def state_at(job: Job, now: float) -> JobState:
    """The job's state at ``now``: a pure function of its timestamps."""
    if job.canceled_at is not None and now >= job.canceled_at:
        return JobState(Status.COMPLETED, ErrorType.CANCELED)
    if now >= job.finished_at:
        if job.error_type is not None:
            return JobState(Status.COMPLETED, job.error_type, job.error)
        started = job.started_at if job.started_at is not None else job.submitted_at
        return JobState(Status.COMPLETED, inference_time=round(job.finished_at - started, 3))
    if job.started_at is not None and now >= job.started_at:
        return JobState(Status.IN_PROGRESS)
    return JobState(Status.IN_QUEUE)


class Event(StrEnum):
    """What a job's log records; the queue dialect writes each as a line of text."""

    QUEUED = "queued"
    STARTED = "started"
    GENERATED = "generated"
    FAILED = "failed"


def events_until(job: Job, now: float) -> list[tuple[float, Event]]:
    """What has happened to the job by ``now``, in order: (time, event)."""
    events = [(job.submitted_at, Event.QUEUED)]
    end = job.finished_at
    if job.canceled_at is not None and job.canceled_at < end:
        end = job.canceled_at
    # A job canceled at the very instant it started was shown IN_PROGRESS: it keeps that line.
    if job.started_at is not None and job.started_at <= now and job.started_at <= end:
        events.append((job.started_at, Event.STARTED))
    if now >= end:
        failed = state_at(job, now).error_type is not None
        events.append((end, Event.FAILED if failed else Event.GENERATED))
    return events
