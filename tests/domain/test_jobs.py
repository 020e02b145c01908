"""Jobs: the state as a pure function of the clock, log lines, and the cheap copy."""

from __future__ import annotations

import dataclasses

from emulator.domain.jobs import Event, JobState, events_until, state_at
from emulator.domain.queue import Snapshot
from emulator.domain.records import ErrorType, Job, OutputFile, Status
from emulator.http.queue.render import error_text, log_lines


def _job(**changes: object) -> Job:
    base = Job(
        request_id="mmsu_x",
        provider="seacloud",
        model="gpt_image_1",
        owner="o",
        seq=7,
        params={"prompt": "p"},
        submitted_at=100.0,
        started_at=110.0,
        finished_at=130.0,
        n_outputs=2,
        width=1536,
        height=1024,
        output_format="webp",
        inputs=(b"i",),
        mask=b"m",
        service_seconds=20.0,
    )
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


def test_scheduled_equals_replace_for_every_field() -> None:
    # Every field gets a value unlike its default, so a field missed or swapped shows.
    job = _job(error_type=ErrorType.INFERENCE_FAILURE, error="e", canceled_at=120.0)
    assert job.scheduled(1.0, 2.0) == dataclasses.replace(job, started_at=1.0, finished_at=2.0)


def test_outputs_follow_count_size_and_format() -> None:
    assert _job().outputs == (OutputFile(0, 1536, 1024, "webp"), OutputFile(1, 1536, 1024, "webp"))
    assert _job(n_outputs=0).outputs == ()
    assert _job().outputs[1].file_name == "output_1.webp"


def test_state_moves_with_the_clock_only() -> None:
    job = _job()
    assert [state_at(job, t).status for t in (100.0, 109.9, 110.0, 129.9, 130.0)] == [
        Status.IN_QUEUE,
        Status.IN_QUEUE,
        Status.IN_PROGRESS,
        Status.IN_PROGRESS,
        Status.COMPLETED,
    ]
    assert state_at(job, 130.0).inference_time == 20.0


def test_a_job_canceled_the_instant_it_started_keeps_its_started_line() -> None:
    job = _job(canceled_at=110.0)
    assert [event for _, event in events_until(job, 200.0)] == [
        Event.QUEUED,
        Event.STARTED,
        Event.FAILED,
    ]
    queued = _job(started_at=150.0, canceled_at=120.0)  # canceled while it waited
    assert events_until(queued, 200.0) == [(100.0, Event.QUEUED), (120.0, Event.FAILED)]


def test_the_queue_dialect_words_each_log_line_and_error() -> None:
    job = _job(canceled_at=110.0)
    snap = Snapshot(job, state_at(job, 200.0), 0)
    assert [message for _, _, message in log_lines(snap, 200.0)] == [
        "Request received and queued",
        "Worker started on gpt_image_1",
        "CANCELED: Request was canceled",
    ]
    assert error_text(snap.state) == "Request was canceled"
    invalid = JobState(Status.COMPLETED, ErrorType.REQUEST_INVALID, "size: not a size")
    assert error_text(invalid) == "size: not a size"
