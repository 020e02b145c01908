"""The verdicts' rules over synthetic journals (Hypothesis): a client that keeps every rule
gets no finding, whatever its jobs, retries and interleaving; a client that breaks one rule
gets that finding, for the job or request that broke it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from emulator.domain.records import JournalEntry
from emulator.domain.verdicts import judge

POLL, BACKOFF = 0.5, 0.25
START = 1_800_000_000.0


def entry(
    wall: float,
    operation: str,
    status: int = 200,
    *,
    job: str | None = None,
    state: str | None = None,
    fields: Any = None,
    retry_after: float | None = None,
    path: str | None = None,
    provider: str = "seacloud",
) -> JournalEntry:
    method = {"submit": "POST", "cancel": "PUT"}.get(operation, "GET")
    if path is None:
        path = "/model/v1/queue/m" + ("" if operation == "submit" else f"/requests/{job}/x")
    return JournalEntry(
        wall, provider, operation, method, path, None, "k", "t", status, 0.001, None, fields,
        None, None, None, wall, retry_after, job, state,
    )  # fmt: skip


@dataclass
class JobPlan:
    """One job's life as a client lives it: its polls' gaps, how it ends."""

    prompt: int
    gaps: list[float]  # seconds between reads while it waits
    end: str  # "fetched", "cancelled", "abandoned", "unfetched"


def job_entries(index: int, plan: JobPlan, start: float) -> list[JournalEntry]:
    job = f"job{index}"
    fields = {"prompt": f"p{plan.prompt}-{index}"}
    found = [entry(start, "submit", job=job, fields=fields)]
    at = start
    for gap in plan.gaps:
        at += gap
        found.append(entry(at, "status", job=job, state="IN_PROGRESS"))
    at += 1.0
    if plan.end in ("fetched", "unfetched"):
        found.append(entry(at, "status", job=job, state="COMPLETED"))
        if plan.end == "fetched":
            found.append(entry(at + 0.01, "result", job=job, state="COMPLETED"))
    elif plan.end == "cancelled":
        found.append(entry(at, "cancel", 202, job=job))
    return found


polite_gaps = st.lists(st.floats(POLL, 5.0), max_size=4)
plans = st.builds(
    JobPlan, st.integers(0, 3), polite_gaps, st.sampled_from(["fetched", "cancelled"])
)


@st.composite
def retries(draw: st.DrawFn, polite: bool) -> list[JournalEntry]:
    """An OpenAI request refused, then sent again after the wait (or, impolite, sooner)."""
    at = START + draw(st.floats(0, 100))
    status = draw(st.sampled_from([429, 500, 503]))
    asked = draw(st.one_of(st.none(), st.floats(0.1, 5.0))) if status != 429 else 1.0
    fields = {"prompt": f"retry-{draw(st.integers(0, 10**6))}"}
    wait = asked if asked is not None else BACKOFF
    gap = draw(st.floats(wait + 0.03, wait + 3) if polite else st.floats(0, wait - 0.05))
    path = "/v1/images/generations"
    first = entry(at, "images.generate", status, fields=fields, retry_after=asked, path=path)
    return [first, entry(at + 0.001 + gap, "images.generate", fields=fields, path=path)]


def interleaved(plans_: list[JobPlan]) -> list[JournalEntry]:
    found = []
    for index, plan in enumerate(plans_):
        found += job_entries(index, plan, START + index * 0.3)
    return found


def prompt_of(pair: list[JournalEntry]) -> Any:
    fields: Any = pair[0].fields
    return fields["prompt"]


@given(
    st.lists(plans, max_size=6),
    st.lists(retries(polite=True), max_size=3, unique_by=prompt_of),
)
def test_a_polite_client_gets_no_finding(jobs: list[JobPlan], tries: list[Any]) -> None:
    entries = interleaved(jobs) + [e for pair in tries for e in pair]
    assert judge(entries[::-1], POLL, BACKOFF) == []


@given(
    st.lists(plans, max_size=4),
    st.builds(
        JobPlan,
        st.just(9),
        st.lists(st.floats(POLL, 5.0), max_size=3),
        st.sampled_from(["abandoned", "unfetched"]),
    ),
)
def test_a_job_left_unfinished_is_found(jobs: list[JobPlan], bad: JobPlan) -> None:
    entries = interleaved([*jobs, bad])
    (finding,) = judge(entries, POLL, BACKOFF)
    assert finding.job == f"job{len(jobs)}"
    assert (
        finding.name == {"abandoned": "abandoned_job", "unfetched": "result_never_fetched"}[bad.end]
    )


@given(
    st.lists(plans, max_size=4),
    st.lists(st.floats(POLL, 5.0), max_size=2),
    st.floats(0.0, POLL - 0.05),
)
def test_a_poll_too_fast_is_found(jobs: list[JobPlan], gaps: list[float], fast: float) -> None:
    bad = JobPlan(9, [*gaps, 0.3, fast], "fetched")  # the read after the 0.3 s one is fast too
    entries = interleaved([*jobs, bad])
    (finding,) = judge(entries, POLL, BACKOFF)
    assert finding.name == "polled_too_fast"
    assert finding.job == f"job{len(jobs)}"


@given(st.lists(retries(polite=False), min_size=1, max_size=3, unique_by=prompt_of))
def test_each_impolite_retry_is_found(tries: list[list[JournalEntry]]) -> None:
    entries = [e for pair in tries for e in pair]
    findings = judge(entries, POLL, BACKOFF)
    assert len(findings) == len(tries)
    for finding in findings:
        refused, retry = finding.evidence
        expected = (
            "retried_before_retry_after"
            if refused.retry_after is not None
            else "retried_without_backoff"
        )
        assert finding.name == expected
        assert retry.fields == refused.fields


def test_a_resubmit_forgets_the_first_job() -> None:
    fields = {"prompt": "same"}
    entries = [
        entry(START, "submit", job="a", fields=fields),
        entry(START + 0.6, "status", job="a", state="IN_QUEUE"),
        entry(START + 30, "submit", job="b", fields=fields),
        *job_entries(7, JobPlan(0, [0.6], "fetched"), START + 31)[1:],
    ]
    entries = [e if e.job != "job7" else entry_with_job(e, "b") for e in entries]
    (finding,) = judge(entries, POLL, BACKOFF)
    assert finding.name == "resubmitted_instead_of_polling"
    assert [e.job for e in finding.evidence] == ["a", "a", "b"]


def entry_with_job(found: JournalEntry, job: str) -> JournalEntry:
    return entry(
        found.time, found.operation, found.status, job=job, state=found.state,
        fields=found.fields,
    )  # fmt: skip
