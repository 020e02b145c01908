"""Records as compact bytes, for a store outside the process (Redis).

A record is one JSON array (its fields by position, a version first) and then its byte
fields, raw, one after another::

    <tag><JSON header>\\n<bytes><bytes>...

The header holds each byte field's length (or null), so nothing is base64-encoded and a
1 MB input image costs 1 MB. The tag says how the header is written: ``o`` by orjson (fast,
the usual case), ``j`` by the standard library, for the few values orjson would change:
NaN and infinities (which it writes as null), integers beyond 64 bits, lone surrogates.
Request parameters may hold any of them, since the HTTP layer falls back to the standard
library's parser for what orjson refuses. A header never holds a raw newline (both writers
escape it in strings), so the first newline ends it.

A journal entry has no byte fields; it is its test id (UTF-8, no newline), a newline, then the
record as above, so a script can tell one test's entries by their start alone.
"""

from __future__ import annotations

import json
from typing import Any

import orjson

from emulator.domain.records import ErrorType, Generation, Job, JournalEntry, Task, Usage

VERSION = 1
_ORJSON = b"o"
_STDLIB = b"j"


class CodecError(ValueError):
    """Bytes that are no record of this version."""


def _dump(header: list[Any]) -> bytes:
    try:
        fast = orjson.dumps(header)
    except (TypeError, orjson.JSONEncodeError):
        fast = None
    if fast is not None and orjson.loads(fast) == header:  # NaN != NaN falls through too
        return _ORJSON + fast
    text = json.dumps(header, separators=(",", ":"), allow_nan=True)
    return _STDLIB + text.encode("ascii")


def _load(data: bytes, fields: int) -> tuple[list[Any], memoryview]:
    """The header (``fields`` long, version first) and the bytes after it."""
    end = data.find(b"\n")
    tag, raw = data[:1], data[1:end]
    try:
        header = (
            orjson.loads(raw) if tag == _ORJSON else json.loads(raw) if tag == _STDLIB else None
        )
    except ValueError:
        header = None
    if end < 1 or not isinstance(header, list) or len(header) != fields or header[0] != VERSION:
        raise CodecError(f"not a version {VERSION} record")
    return header, memoryview(data)[end + 1 :]


def _blob_length(value: bytes | None) -> int | None:
    return None if value is None else len(value)


class _Blobs:
    """The byte fields after a header, taken in order."""

    __slots__ = ("_at", "_data")

    def __init__(self, data: memoryview) -> None:
        self._data = data
        self._at = 0

    def take(self, length: int | None) -> bytes | None:
        if length is None:
            return None
        end = self._at + length
        if end > len(self._data):
            raise CodecError("record shorter than its header says")
        chunk = bytes(self._data[self._at : end])
        self._at = end
        return chunk

    def done(self) -> None:
        if self._at != len(self._data):
            raise CodecError("record longer than its header says")


# -- jobs --------------------------------------------------------------------------------------


def encode_job(job: Job) -> bytes:
    header = [
        VERSION, job.request_id, job.provider, job.model, job.owner, job.seq, job.params,
        job.submitted_at, job.started_at, job.finished_at,
        None if job.error_type is None else job.error_type.value, job.error,
        job.n_outputs, job.width, job.height, job.output_format, job.canceled_at,
        job.service_seconds, [len(data) for data in job.inputs], _blob_length(job.mask),
    ]  # fmt: skip
    return b"".join((_dump(header), b"\n", *job.inputs, job.mask or b""))


def decode_job(data: bytes, times: tuple[float | None, float, float | None] | None = None) -> Job:
    """The job ``data`` holds; ``times`` (started, finished, canceled) replace its own."""
    h, rest = _load(data, 20)
    blobs = _Blobs(rest)
    inputs = tuple(blobs.take(n) or b"" for n in h[18])
    mask = blobs.take(h[19])
    blobs.done()
    started, finished, canceled = (h[8], h[9], h[16]) if times is None else times
    return Job(
        h[1], h[2], h[3], h[4], h[5], h[6], h[7], started, finished,
        None if h[10] is None else ErrorType(h[10]), h[11], h[12], h[13], h[14], h[15],
        canceled, inputs, mask, h[17],
    )  # fmt: skip


# -- tasks (and the generation each carries) ---------------------------------------------------


def encode_task(task: Task) -> bytes:
    g = task.generation
    header = [
        VERSION, task.task_id, task.owner, g.request_id, g.provider, g.kind, g.model,
        dict(g.params), g.created, g.started_at, g.finishes_at, g.width, g.height, g.quality,
        g.background, g.output_format, g.n, g.stream, g.partial_images,
        [g.usage.text_tokens, g.usage.image_tokens, g.usage.output_tokens], g.seed,
        None if g.outcome is None else g.outcome.value, _blob_length(g.base),
        _blob_length(g.mask), g.inputs,
    ]  # fmt: skip
    return b"".join((_dump(header), b"\n", g.base or b"", g.mask or b""))


def decode_task(data: bytes) -> Task:
    h, rest = _load(data, 25)
    blobs = _Blobs(rest)
    base = blobs.take(h[22])
    mask = blobs.take(h[23])
    blobs.done()
    generation = Generation(
        h[3], h[4], h[5], h[6], h[7], h[8], h[9], h[10], h[11], h[12], h[13], h[14], h[15],
        h[16], h[17], h[18], Usage(*h[19]), h[20],
        None if h[21] is None else ErrorType(h[21]), base, mask, h[24],
    )  # fmt: skip
    return Task(h[1], h[2], generation)


# -- journal entries ---------------------------------------------------------------------------


def encode_entry(entry: JournalEntry) -> bytes:
    e = entry
    header = [
        VERSION, e.time, e.provider, e.operation, e.method, e.path, e.query, e.key, e.test_id,
        e.status, e.seconds, e.request_id, e.fields, e.error, e.message, e.fault, e.wall,
        e.retry_after, e.job, e.state,
    ]  # fmt: skip
    return b"".join(((e.test_id or "").encode(), b"\n", _dump(header), b"\n"))


def decode_entry(data: bytes) -> JournalEntry:
    h, rest = _load(data[data.find(b"\n") + 1 :], 20)
    _Blobs(rest).done()
    return JournalEntry(*h[1:20])
