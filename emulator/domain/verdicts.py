"""Verdicts on the client: what the journal shows a client did that a provider would hold
against it.

A **client** is a key's digest and a test id together (``JournalEntry.key``, ``.test_id``):
what one piece of code under test sends. Its entries are judged in the order they arrived,
on the wall clock (``JournalEntry.wall``; the emulator's clock, which a virtual clock stops,
would make every poll look instant). The rules, each a named finding with its evidence:

- ``retried_before_retry_after``: after an answer that asked for a wait (``retry-after-ms`` or
  ``Retry-After``, a 429 or a 503), the same request came again before the wait ran out;
- ``retried_without_backoff``: after a 5xx answer (or a connection the emulator dropped), the
  same request came again sooner than ``backoff_floor`` seconds;
- ``polled_too_fast``: two reads of one job (status, or a result read while the job had not
  ended) less than ``poll_floor`` seconds apart, arrival to arrival, the first of them
  answered that the job was still waiting;
- ``abandoned_job``: a job the client made was never seen to end, and never cancelled (the
  provider kept it running, and the client never learned its outcome);
- ``resubmitted_instead_of_polling``: the client submitted a request again while the job the
  same request had made was still waiting, and never read that job after: a timeout answered
  by a second job rather than by polling the first;
- ``result_never_fetched``: a job the client saw completed whose result it never read.

"The same request" is one with the same provider, operation, method, path and query, and the
same fields (the journal's summary of them: images by their digests) where both were read (a
request refused before its body was read has none). A retry is the next such request of the
client. The journal's ring is bounded, so a verdict covers what the ring holds: a job whose
submit has left the ring is not judged.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from itertools import pairwise
from typing import Any

import orjson

from emulator.domain.records import JournalEntry, record

RULES: dict[str, str] = {
    "retried_before_retry_after": "retried before the wait an answer asked for ran out",
    "retried_without_backoff": "retried a 5xx (or a dropped connection) without backing off",
    "polled_too_fast": "polled a job faster than the poll floor",
    "abandoned_job": "gave up on a job without cancelling it",
    "resubmitted_instead_of_polling": "submitted the same request again instead of polling "
    "the job it had",
    "result_never_fetched": "never fetched a completed job's result",
}

# Seconds of slack for the clocks' and timers' granularity (an event loop's timer can fire a
# millisecond early; two processes' wall clocks read a hair apart).
SLACK = 0.02
# Reads of one job shown as evidence of a too-fast poll (the fastest pairs' entries).
POLL_EVIDENCE = 6

# What each operation is to a job: it makes one, reads it, reads its result, or cancels it.
_SUBMIT = frozenset({"submit", "aa.generate"})
_READ = frozenset({"status", "result", "aa.task"})
_CANCEL = frozenset({"cancel"})
# Reads whose answer carries the result once the job has ended (no result read follows).
_INLINE_RESULT = frozenset({"aa.task", "aa.generate", "result"})
# Status words of a job that has ended, in every protocol.
TERMINAL = frozenset({"COMPLETED", "succeeded", "failed"})


@record
class Finding:
    """One thing a client did wrong: the rule's ``name``, a sentence saying what happened,
    whose client it was, the job it concerns (if any), and the journal entries that show it
    (oldest first)."""

    name: str
    message: str
    provider: str
    key: str | None
    test_id: str | None
    job: str | None
    evidence: tuple[JournalEntry, ...]


def judge(
    entries: Iterable[JournalEntry], poll_floor: float, backoff_floor: float
) -> list[Finding]:
    """Every finding the rules draw from ``entries`` (any order; the control plane's own are
    left out), grouped by client, each client's in the order they happened."""
    clients: dict[tuple[str | None, str | None], list[JournalEntry]] = defaultdict(list)
    for entry in entries:
        if not entry.provider.startswith("_"):
            clients[entry.key, entry.test_id].append(entry)
    findings: list[Finding] = []
    for client in clients.values():
        client.sort(key=_arrival)
        findings.extend(_retries(client, backoff_floor))
        findings.extend(_Jobs(client).judge(poll_floor))
    findings.sort(key=lambda f: _arrival(f.evidence[-1]))
    return findings


def _arrival(entry: JournalEntry) -> float:
    return entry.time if entry.wall is None else entry.wall


def _end(entry: JournalEntry) -> float:
    return _arrival(entry) + entry.seconds


def _route(entry: JournalEntry) -> tuple[str, str, str, str, str | None]:
    return (entry.provider, entry.operation, entry.method, entry.path, entry.query)


def _fields(entry: JournalEntry) -> bytes:
    try:
        return orjson.dumps(entry.fields, option=orjson.OPT_SORT_KEYS)
    except TypeError:  # an integer beyond 64 bits: its text is as good a signature
        return repr(entry.fields).encode()


def _finding(name: str, message: str, evidence: Sequence[JournalEntry]) -> Finding:
    first = evidence[0]
    return Finding(
        name,
        message,
        first.provider,
        first.key,
        first.test_id,
        next((e.job for e in evidence if e.job is not None), None),
        tuple(evidence),
    )


def _seconds(value: float) -> str:
    return f"{value:.3f} s"


def _retries(client: Sequence[JournalEntry], backoff_floor: float) -> list[Finding]:
    """The retry rules: each refused request against the next same request of the client."""
    routes: dict[tuple[Any, ...], list[JournalEntry]] = defaultdict(list)
    for entry in client:
        routes[_route(entry)].append(entry)
    findings = []
    for sent in routes.values():
        retries = _next_same(sent)
        for entry, retry in zip(sent, retries, strict=True):
            if retry is not None and (entry.status >= 500 or entry.retry_after is not None):
                findings.extend(_retry(entry, retry, backoff_floor))
    return findings


def _next_same(sent: Sequence[JournalEntry]) -> list[JournalEntry | None]:
    """For each request of one route, the next that is the same request (``_same``): one
    walk back over them."""
    found: list[JournalEntry | None] = [None] * len(sent)
    by_fields: dict[bytes, int] = {}  # the earliest later index with these fields
    unread: int | None = None  # the earliest later index without fields
    for index in range(len(sent) - 1, -1, -1):
        entry = sent[index]
        if entry.fields is None:
            later = index + 1 if index + 1 < len(sent) else None
            unread = index
        else:
            fields = _fields(entry)
            candidates = [i for i in (by_fields.get(fields), unread) if i is not None]
            later = min(candidates) if candidates else None
            by_fields[fields] = index
        found[index] = None if later is None else sent[later]
    return found


def _retry(entry: JournalEntry, retry: JournalEntry, backoff_floor: float) -> list[Finding]:
    gap = _arrival(retry) - _end(entry)
    what = f"{entry.method} {entry.path}"
    if entry.retry_after is not None:
        if gap >= entry.retry_after - SLACK:
            return []
        return [
            _finding(
                "retried_before_retry_after",
                f"retried {what} {_seconds(max(gap, 0.0))} after a {entry.status} that asked "
                f"it to wait {_seconds(entry.retry_after)}",
                (entry, retry),
            )
        ]
    if gap >= backoff_floor - SLACK:
        return []
    dropped = entry.status == 500 and entry.error is None
    answer = "a dropped connection" if dropped else f"a {entry.status}"
    return [
        _finding(
            "retried_without_backoff",
            f"retried {what} {_seconds(max(gap, 0.0))} after {answer}, sooner than the "
            f"{_seconds(backoff_floor)} a backoff waits at least",
            (entry, retry),
        )
    ]


class _Job:
    """What one client did with one job it made."""

    def __init__(self, submit: JournalEntry) -> None:
        self.submit = submit
        self.reads: list[JournalEntry] = []
        self.cancel: JournalEntry | None = None
        self.ended: JournalEntry | None = submit if submit.state in TERMINAL else None
        self.fetched: JournalEntry | None = (
            submit if self.ended is not None and submit.operation in _INLINE_RESULT else None
        )
        self.resubmitted = False

    def read(self, entry: JournalEntry) -> None:
        self.reads.append(entry)
        if entry.state in TERMINAL:
            if self.ended is None:
                self.ended = entry
            # A failed job's result read answers its error: the client read the outcome.
            if self.fetched is None and entry.operation in _INLINE_RESULT:
                self.fetched = entry

    def waiting_at(self, when: float) -> bool:
        """Whether, as the client knew it at ``when``, the job had not ended nor been cancelled."""
        for entry in (self.ended, self.cancel):
            if entry is not None and _arrival(entry) <= when:
                return False
        return True

    def last_read_before(self, when: float) -> JournalEntry | None:
        before = [entry for entry in self.reads if _arrival(entry) < when]
        return before[-1] if before else None

    def read_after(self, when: float) -> bool:
        return any(_arrival(entry) > when for entry in self.reads)


class _Jobs:
    """The job rules over one client's entries (in arrival order)."""

    def __init__(self, client: Sequence[JournalEntry]) -> None:
        self.jobs: dict[str, _Job] = {}
        self.submits: dict[tuple[Any, ...], list[_Job]] = defaultdict(list)  # by route, fields
        for entry in client:
            if entry.job is None:
                continue
            if entry.operation in _SUBMIT:
                if entry.status < 400 and entry.job not in self.jobs:
                    made = self.jobs[entry.job] = _Job(entry)
                    self.submits[(*_route(entry), _fields(entry))].append(made)
                continue
            job = self.jobs.get(entry.job)
            if job is None:  # its submit has left the ring, or was another client's
                continue
            if entry.operation in _READ:
                job.read(entry)
            elif entry.operation in _CANCEL and job.cancel is None:
                job.cancel = entry

    def judge(self, poll_floor: float) -> list[Finding]:
        findings = self._resubmits()
        for job in self.jobs.values():
            findings.extend(self._polls(job, poll_floor))
            findings.extend(self._ends(job))
        return findings

    def _resubmits(self) -> list[Finding]:
        findings = []
        for jobs in self.submits.values():
            for earlier, later in pairwise(jobs):
                when = _arrival(later.submit)
                if earlier.waiting_at(when) and not earlier.read_after(when):
                    earlier.resubmitted = True
                    last = earlier.last_read_before(when)
                    seen = "" if last is None else f", last seen {last.state or last.status}"
                    evidence = [earlier.submit, *([last] if last else []), later.submit]
                    findings.append(
                        _finding(
                            "resubmitted_instead_of_polling",
                            f"submitted {later.submit.method} {later.submit.path} again (job "
                            f"{later.submit.job}) while its job {earlier.submit.job} was still "
                            f"waiting{seen}, and never read that job again",
                            evidence,
                        )
                    )
        return findings

    def _polls(self, job: _Job, poll_floor: float) -> list[Finding]:
        fast: list[tuple[float, JournalEntry, JournalEntry]] = []
        for before, after in pairwise(job.reads):
            if before.state is None or before.state in TERMINAL or before.status >= 400:
                continue
            gap = _arrival(after) - _arrival(before)
            if gap < poll_floor - SLACK:
                fast.append((gap, before, after))
        if not fast:
            return []
        fastest = min(gap for gap, _, _ in fast)
        shown: list[JournalEntry] = []
        for _, before, after in sorted(fast, key=lambda item: item[0]):
            for entry in (before, after):
                if entry not in shown and len(shown) < POLL_EVIDENCE:
                    shown.append(entry)
        shown.sort(key=_arrival)
        return [
            _finding(
                "polled_too_fast",
                f"read job {job.submit.job} {len(fast)} time(s) sooner than "
                f"{_seconds(poll_floor)} after the last read (fastest {_seconds(fastest)})",
                shown,
            )
        ]

    def _ends(self, job: _Job) -> list[Finding]:
        if job.cancel is not None or job.resubmitted:
            return []
        name = job.submit.job
        if job.ended is None:
            last = job.reads[-1] if job.reads else None
            seen = "" if last is None else f"; last read answered {last.state or last.status}"
            return [
                _finding(
                    "abandoned_job",
                    f"job {name} was never seen to end and never cancelled{seen}",
                    [job.submit, *([last] if last else [])],
                )
            ]
        if job.fetched is None:
            return [
                _finding(
                    "result_never_fetched",
                    f"job {name} was seen {job.ended.state} but its result was never read",
                    [job.submit, job.ended],
                )
            ]
        return []
