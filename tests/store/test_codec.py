"""Every record the store keeps reads back equal from its bytes (emulator.store.codec)."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from emulator.domain.records import ErrorType, Generation, Job, JournalEntry, Task, Usage
from emulator.store.codec import (
    CodecError,
    decode_entry,
    decode_job,
    decode_task,
    encode_entry,
    encode_job,
    encode_task,
)

# Text as a JSON body can carry it: any code point, lone surrogates included (the standard
# library's parser, which the HTTP layer falls back to, lets ``\ud800`` through).
text = st.text(max_size=20)
# Request parameters: JSON values, including what only the standard library keeps exactly
# (NaN is left out only because NaN != NaN would fail the comparison, not the codec).
json_scalars = (
    st.none()
    | st.booleans()
    | st.integers()  # beyond 64 bits too
    | st.integers(min_value=2**64, max_value=2**80)
    | st.floats(allow_nan=False)  # infinities included
    | text
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(text, inner, max_size=4),
    max_leaves=12,
)
params = st.dictionaries(text, json_values, max_size=5)
times = st.floats(allow_nan=False, allow_infinity=False)
blobs = st.binary(max_size=64)
error_types = st.none() | st.sampled_from(ErrorType)

jobs = st.builds(
    Job,
    request_id=text, provider=text, model=text, owner=text, seq=st.integers(0, 2**62),
    params=params, submitted_at=times, started_at=st.none() | times, finished_at=times,
    error_type=error_types, error=st.none() | text, n_outputs=st.integers(0, 10),
    width=st.integers(0, 4096), height=st.integers(0, 4096), output_format=text,
    canceled_at=st.none() | times, inputs=st.lists(blobs, max_size=3).map(tuple),
    mask=st.none() | blobs, service_seconds=times,
)  # fmt: skip
generations = st.builds(
    Generation,
    request_id=text, provider=text, kind=text, model=text, params=params,
    created=st.integers(0, 2**40), started_at=times, finishes_at=times,
    width=st.integers(0, 4096), height=st.integers(0, 4096), quality=text, background=text,
    output_format=text, n=st.integers(1, 10), stream=st.booleans(),
    partial_images=st.integers(0, 3),
    usage=st.builds(Usage, st.integers(0, 10**6), st.integers(0, 10**6), st.integers(0, 10**6)),
    seed=st.integers(), outcome=error_types, base=st.none() | blobs, mask=st.none() | blobs,
    inputs=st.integers(0, 16),
)  # fmt: skip
tasks = st.builds(Task, task_id=text, owner=text, generation=generations)
# A test id as the journal keeps it: printable (so never a newline), from a header.
test_ids = st.none() | st.text(st.characters(min_codepoint=32, max_codepoint=255), min_size=1)
entries = st.builds(
    JournalEntry,
    time=times, provider=text, operation=text, method=text, path=text, query=st.none() | text,
    key=st.none() | text, test_id=test_ids.filter(lambda t: t is None or t.isprintable()),
    status=st.integers(100, 599), seconds=times, request_id=st.none() | text,
    fields=json_values, error=st.none() | text, message=st.none() | text,
    fault=st.none() | params,
)  # fmt: skip


@given(jobs)
def test_jobs_round_trip(job: Job) -> None:
    assert decode_job(encode_job(job)) == job


@given(tasks)
def test_tasks_round_trip(task: Task) -> None:
    assert decode_task(encode_task(task)) == task


@given(entries)
def test_journal_entries_round_trip(entry: JournalEntry) -> None:
    data = encode_entry(entry)
    assert data.startswith((entry.test_id or "").encode() + b"\n")  # what a script tells
    assert decode_entry(data) == entry


@given(jobs, st.none() | times, times, st.none() | times)
def test_stored_times_replace_the_records_own(
    job: Job, started: float | None, finished: float, canceled: float | None
) -> None:
    decoded = decode_job(encode_job(job), (started, finished, canceled))
    assert (decoded.started_at, decoded.finished_at, decoded.canceled_at) == (
        started,
        finished,
        canceled,
    )
    assert decoded.params == job.params
    assert decoded.inputs == job.inputs


def test_nan_and_big_integers_survive() -> None:
    job = Job("r", "p", "m", "o", 1, {"x": math.nan, "big": 2**70, "s": "\ud800"}, 0.0, None, 1.0)
    decoded = decode_job(encode_job(job))
    assert math.isnan(decoded.params["x"])
    assert decoded.params["big"] == 2**70
    assert decoded.params["s"] == "\ud800"


def test_the_usual_record_is_written_by_orjson_and_stays_small() -> None:
    job = Job(
        "0123456789abcdef0123456789abcdef", "seacloud", "gpt_image_1", "owner", 12,
        {"prompt": "a lighthouse at dusk", "n": 1, "size": "1024x1024", "quality": "medium"},
        1_790_000_000.125, 1_790_000_000.125, 1_790_000_012.5, n_outputs=1, width=1024,
        height=1024, service_seconds=12.375,
    )  # fmt: skip
    data = encode_job(job)
    assert data.startswith(b"o[")
    assert len(data) < 300, len(data)


@pytest.mark.parametrize(
    "data",
    [b"", b"o[1]", b'o[2,"x"]\n', b"x[1]\n", b"o[1]\n", b"o{}\n", b"onot json\n"],
)
def test_bytes_that_are_no_record_are_refused(data: bytes) -> None:
    with pytest.raises(CodecError):
        decode_job(data)


def test_a_record_shorter_or_longer_than_its_header_is_refused() -> None:
    data = encode_job(Job("r", "p", "m", "o", 1, {}, 0.0, None, 1.0, inputs=(b"abc",)))
    with pytest.raises(CodecError, match="shorter"):
        decode_job(data[:-1])
    with pytest.raises(CodecError, match="longer"):
        decode_job(data + b"!")
