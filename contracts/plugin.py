"""The contract suite as a pytest plugin: one test item per check and operation.

Registered through the ``pytest11`` entry point ``imgemu_contract``, so an installed imgemu adds
its options to every pytest run; it does nothing unless ``--contract-provider`` is given::

    pytest --contract-provider openai --contract-target https://api.openai.com \\
        --contract-max-spend-usd 0.05 --junitxml contract.xml contracts

The contract runs once, while pytest collects (the operations a check judges are only known
once it ran), under the spend cap; each ``Outcome`` becomes an item
``<provider>::<check>::<operation>`` (JUnit: classname ``<provider>.<check>``, name the
operation). A failed outcome fails its item with the request and the response; a skipped one
skips it with the reason; a verified or assumed one passes, with ``status`` and every
``assumption`` recorded as user properties (``<property>`` elements in JUnit XML). The contract
items join whatever else pytest collected: point pytest at a path without tests (``contracts``
in a checkout) to run only them. ``--collect-only`` lists one placeholder per check and does not
call the target.

This module is loaded by every pytest run where imgemu is installed, so it imports neither
Schemathesis nor Hypothesis: the run needs them only once ``--contract-provider`` is given (and
refuses to start without them, as a usage error).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from contracts._context import PROFILES
from contracts._preflight import ContractUsageError, check_options, require_extras, select_checks
from contracts.checks import REGISTRY
from contracts.report import Outcome, Report

if TYPE_CHECKING:
    from _pytest._code.code import TerminalRepr, TracebackStyle

REPORT = pytest.StashKey[Report]()
COLLECT_ONLY = "(not run: --collect-only)"


def pytest_addoption(parser: pytest.Parser) -> None:
    """The ``imgemu contract`` options (the same as ``imgemu contract``'s, prefixed)."""
    group = parser.getgroup("imgemu contract", "imgemu contract suite (inert without a provider)")
    group.addoption(
        "--contract-provider",
        choices=sorted(PROFILES),
        help="run the contract suite for this provider (nothing happens without it)",
    )
    group.addoption("--contract-target", metavar="URL", help="the provider's base URL")
    group.addoption(
        "--contract-api-key",
        metavar="KEY",
        help="default: the provider's environment variable (OPENAI_API_KEY, ...)",
    )
    group.addoption(
        "--contract-max-spend-usd",
        type=float,
        metavar="USD",
        help="skip paid calls beyond this budget (documented prices)",
    )
    group.addoption(
        "--contract-check",
        action="append",
        dest="contract_checks",
        metavar="NAME",
        help=f"only this check (repeatable): {', '.join(REGISTRY)}",
    )
    group.addoption(
        "--contract-examples",
        type=int,
        default=10,
        metavar="N",
        help="Schemathesis cases per operation and mode (default 10)",
    )
    group.addoption(
        "--contract-derandomize",
        action="store_true",
        help="the same Schemathesis cases on every run",
    )
    group.addoption(
        "--contract-report",
        type=Path,
        metavar="FILE.md",
        help="also write the markdown summary here",
    )


def pytest_configure(config: pytest.Config) -> None:
    """Refuse inconsistent options early, as a usage error (exit code 4)."""
    provider: str | None = config.getoption("contract_provider")
    if provider is None:
        for option in ("contract_target", "contract_checks", "contract_max_spend_usd"):
            if config.getoption(option) is not None:
                name = "--" + option.replace("_", "-").removesuffix("s")
                raise pytest.UsageError(f"{name} needs --contract-provider")
        return
    if hasattr(config, "workerinput") or config.getoption("dist", "no") != "no":
        raise pytest.UsageError(
            "the contract does not run under pytest-xdist: each worker would pay"
        )
    if not config.getoption("contract_target"):
        raise pytest.UsageError("--contract-provider needs --contract-target URL")
    try:
        select_checks(provider, config.getoption("contract_checks"))
        check_options(
            config.getoption("contract_max_spend_usd"),
            config.getoption("contract_examples"),
            ("--contract-max-spend-usd", "--contract-examples"),
        )
        require_extras()
    except ContractUsageError as exc:
        raise pytest.UsageError(str(exc)) from None


def pytest_report_header(config: pytest.Config) -> str | None:
    """One header line naming the provider, the target and the cap."""
    provider: str | None = config.getoption("contract_provider")
    if provider is None:
        return None
    spend: float | None = config.getoption("contract_max_spend_usd")
    cap = "none" if spend is None else f"${spend:.4f}"
    return f"imgemu contract: {provider} at {config.getoption('contract_target')}, spend cap {cap}"


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(
    session: pytest.Session, config: pytest.Config, items: list[pytest.Item]
) -> None:
    """Add the contract's items (before ``-k``, ``-m`` and ``--deselect`` filter them)."""
    provider: str | None = config.getoption("contract_provider")
    if provider is None:
        return
    run = ContractRun.from_parent(session, name=provider, nodeid=provider)
    items.extend(session.genitems(run))


def pytest_terminal_summary(
    terminalreporter: pytest.TerminalReporter, config: pytest.Config
) -> None:
    """The run's counts and what its paid calls cost."""
    report = config.stash.get(REPORT, None)
    if report is None:
        return
    counts = ", ".join(f"{n} {status}" for status, n in report.counts().items())
    cap = "none" if report.max_spend_usd is None else f"${report.max_spend_usd:.4f}"
    terminalreporter.write_sep("-", f"imgemu contract {report.provider}")
    terminalreporter.write_line(f"{counts}; spent ${report.spent_usd:.4f} (cap: {cap})")


def pytest_sessionfinish(session: pytest.Session) -> None:
    """Write ``--contract-report`` when the contract ran."""
    report = session.config.stash.get(REPORT, None)
    path: Path | None = session.config.getoption("contract_report", None)
    if report is not None and path is not None:
        from contracts.report import write_markdown

        write_markdown(report, path)


def group_outcomes(outcomes: Iterable[Outcome]) -> dict[str, dict[str, list[Outcome]]]:
    """Outcomes by check, then by operation, both in the order they were first reported.

    A check may judge one operation more than once (``image_properties`` asks twice); those
    outcomes become one item.
    """
    grouped: dict[str, dict[str, list[Outcome]]] = {}
    for outcome in outcomes:
        grouped.setdefault(outcome.check, {}).setdefault(outcome.operation, []).append(outcome)
    return grouped


class ContractRun(pytest.Collector):
    """The contract for one provider: runs it, then one collector per check."""

    def collect(self) -> Iterator[ContractCheck]:
        """Run the contract (unless ``--collect-only``) and group its outcomes by check."""
        config = self.config
        provider = self.name
        names: list[str] | None = config.getoption("contract_checks")
        if config.getoption("collectonly"):
            for chosen in select_checks(provider, names):
                yield ContractCheck.from_parent(self, name=chosen.name, outcomes={})
            return
        from contracts.runner import run_contract

        try:
            report = run_contract(
                provider,
                config.getoption("contract_target"),
                api_key=config.getoption("contract_api_key"),
                max_spend_usd=config.getoption("contract_max_spend_usd"),
                checks=names,
                examples=config.getoption("contract_examples"),
                derandomize=config.getoption("contract_derandomize"),
            )
        except ContractUsageError as exc:  # an unreachable target: one line, no traceback
            raise self.CollectError(f"imgemu contract: {exc}") from None
        config.stash[REPORT] = report
        for check, operations in group_outcomes(report.outcomes).items():
            yield ContractCheck.from_parent(self, name=check, outcomes=operations)

    def reportinfo(self) -> tuple[os.PathLike[str] | str, int | None, str]:
        """Where pytest says the node is: the contract of the provider."""
        return self.path, None, f"imgemu contract {self.name}"


class ContractCheck(pytest.Collector):
    """One named check: one item per operation it judged."""

    def __init__(self, *, outcomes: dict[str, list[Outcome]], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.outcomes = outcomes

    def collect(self) -> Iterator[ContractItem]:
        """An item per operation (a placeholder under ``--collect-only``)."""
        if not self.outcomes:
            yield ContractItem.from_parent(self, name=COLLECT_ONLY, outcomes=())
            return
        for operation, outcomes in self.outcomes.items():
            yield ContractItem.from_parent(self, name=operation, outcomes=tuple(outcomes))

    def reportinfo(self) -> tuple[os.PathLike[str] | str, int | None, str]:
        """Where pytest says the node is: the check."""
        return self.path, None, self.name


class ContractFailure(AssertionError):
    """A failed outcome, carried from ``runtest`` to ``repr_failure``."""

    def __init__(self, outcomes: Sequence[Outcome]) -> None:
        super().__init__(outcomes[0].detail)
        self.outcomes = tuple(outcomes)


class ContractItem(pytest.Item):
    """What one check found about one operation, replayed as a test."""

    def __init__(self, *, outcomes: tuple[Outcome, ...], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.outcomes = outcomes

    def runtest(self) -> None:
        """Fail, skip or pass as the outcomes say; a pass records its status and assumptions."""
        if not self.outcomes:
            pytest.skip("--collect-only: the contract did not run")
        failed = [o for o in self.outcomes if o.status == "failed"]
        passed = [o for o in self.outcomes if o.status in ("verified", "assumed")]
        skipped = [o for o in self.outcomes if o.status == "skipped"]
        if failed:
            self.user_properties.append(("status", "failed"))
            raise ContractFailure(failed)
        if not passed:
            self.user_properties.append(("status", "skipped"))
            pytest.skip(skipped[0].detail or "skipped")
        assumed = any(o.status == "assumed" for o in passed)
        self.user_properties.append(("status", "assumed" if assumed else "verified"))
        seen: list[str] = []
        for outcome in passed:
            for text in outcome.assumptions:
                if text not in seen:
                    seen.append(text)
                    self.user_properties.append(("assumption", text))
        for outcome in skipped:  # judged once, skipped on a later ask (the budget ran out)
            self.user_properties.append(("skipped", outcome.detail))

    def repr_failure(
        self,
        excinfo: pytest.ExceptionInfo[BaseException],
        style: TracebackStyle | None = None,
    ) -> str | TerminalRepr:
        """A contract failure as its detail, the request and the response; else pytest's."""
        if isinstance(excinfo.value, ContractFailure):
            return "\n\n".join(_exchange(o) for o in excinfo.value.outcomes)
        return super().repr_failure(excinfo, style)

    def reportinfo(self) -> tuple[os.PathLike[str] | str, int | None, str]:
        """Where pytest says the item is: check and operation."""
        assert self.parent is not None
        return self.path, None, f"{self.parent.name}: {self.name}"


def _exchange(outcome: Outcome) -> str:
    return (
        f"{outcome.check}: {outcome.operation}: {outcome.detail}\n\n"
        f"--- request\n{outcome.request or '(none recorded)'}\n\n"
        f"--- response\n{outcome.response or '(none recorded)'}"
    )
