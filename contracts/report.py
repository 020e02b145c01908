"""The contract report: one outcome per check and operation, as JUnit XML or markdown."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

Status = Literal["verified", "assumed", "failed", "skipped"]


@dataclass(frozen=True, slots=True)
class Outcome:
    """What one check found about one operation.

    ``assumptions`` lists the ``x-imgemu-assumption`` texts the operation carries (the reason it
    is "assumed" rather than "verified"); ``request`` and ``response`` are set on a failure.
    """

    check: str
    operation: str
    status: Status
    detail: str = ""
    request: str = ""
    response: str = ""
    assumptions: tuple[str, ...] = ()


@dataclass(slots=True)
class Report:
    """Every outcome of one contract run, and what the paid calls cost."""

    provider: str
    target: str
    outcomes: list[Outcome] = field(default_factory=list)
    spent_usd: float = 0.0
    max_spend_usd: float | None = None

    @property
    def ok(self) -> bool:
        """No outcome failed."""
        return not self.failures()

    def failures(self) -> list[Outcome]:
        """The failed outcomes."""
        return [o for o in self.outcomes if o.status == "failed"]

    def by_check(self, check: str) -> list[Outcome]:
        """The outcomes of one check."""
        return [o for o in self.outcomes if o.check == check]

    def failed_checks(self) -> set[str]:
        """Names of the checks with at least one failure."""
        return {o.check for o in self.failures()}

    def counts(self) -> dict[str, int]:
        """How many outcomes have each status."""
        found = Counter(o.status for o in self.outcomes)
        return {s: found.get(s, 0) for s in ("verified", "assumed", "failed", "skipped")}


def write_junit(report: Report, path: Path) -> None:
    """One ``testsuite`` per check, one ``testcase`` per operation it judged."""
    root = ET.Element("testsuites", name=f"imgemu contract {report.provider}")
    checks: dict[str, list[Outcome]] = {}
    for outcome in report.outcomes:
        checks.setdefault(outcome.check, []).append(outcome)
    for check, outcomes in checks.items():
        suite = ET.SubElement(
            root,
            "testsuite",
            name=check,
            tests=str(len(outcomes)),
            failures=str(sum(o.status == "failed" for o in outcomes)),
            skipped=str(sum(o.status == "skipped" for o in outcomes)),
        )
        for outcome in outcomes:
            case = ET.SubElement(
                suite, "testcase", classname=f"{report.provider}.{check}", name=outcome.operation
            )
            if outcome.status == "failed":
                failure = ET.SubElement(case, "failure", message=outcome.detail[:500])
                failure.text = _exchange(outcome)
            elif outcome.status == "skipped":
                ET.SubElement(case, "skipped", message=outcome.detail)
            props = ET.SubElement(case, "properties")
            ET.SubElement(props, "property", name="status", value=outcome.status)
            for text in outcome.assumptions:
                ET.SubElement(props, "property", name="assumption", value=text)
    ET.ElementTree(root).write(path, encoding="utf-8", xml_declaration=True)


def _exchange(outcome: Outcome) -> str:
    return f"{outcome.detail}\n\n--- request\n{outcome.request}\n\n--- response\n{outcome.response}"


def markdown(report: Report) -> str:
    """A readable summary: counts, spend, a table of outcomes, then each failure in full."""
    counts = report.counts()
    cap = "none" if report.max_spend_usd is None else f"${report.max_spend_usd:.4f}"
    lines = [
        f"# Contract report: {report.provider}",
        "",
        f"Target: `{report.target}`",
        "",
        "| verified | assumed | failed | skipped |",
        "|---|---|---|---|",
        "| " + " | ".join(str(counts[s]) for s in counts) + " |",
        "",
        f"Spent: ${report.spent_usd:.4f} (cap: {cap})",
        "",
        "| check | operation | status | detail |",
        "|---|---|---|---|",
    ]
    for o in report.outcomes:
        detail = (o.detail or ("; ".join(o.assumptions)[:120] if o.assumptions else "")).replace(
            "|", "\\|"
        )
        first = detail.splitlines()[0] if detail else ""
        lines.append(f"| {o.check} | `{o.operation}` | {o.status} | {first} |")
    failures = report.failures()
    if failures:
        lines += ["", "## Failures"]
        for o in failures:
            lines += ["", f"### {o.check}: `{o.operation}`", "", "```", _exchange(o), "```"]
    return "\n".join(lines) + "\n"


def write_markdown(report: Report, path: Path) -> None:
    """Write ``markdown(report)`` to ``path``."""
    path.write_text(markdown(report), encoding="utf-8")
