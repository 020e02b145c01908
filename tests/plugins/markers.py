"""Markers (declared in pyproject.toml: ``server``, ``slow``, ``package``, ``container``): a
module whose own marks already rule it out of the run's ``-m`` expression is not collected.

Deselecting happens after collecting, and collecting is not always cheap: Schemathesis' pytest
integration builds each operation's test, with its explicit examples and coverage cases, while
collecting (some 4 s for two documents' worth of operations), which a ``slow`` module of such
tests would pay in the everyday ``-m "not slow"`` for nothing. Such a module is reported
collected with no items; the run
is the same, its "deselected" count smaller. Only a verdict the module's marks decide alone
counts: an expression that asks about any other mark (one a test of the module may carry) keeps
the module collected as usual."""

from __future__ import annotations

import pytest
from _pytest.mark.expression import Expression


class _Undecided(Exception):
    """The expression asked about a mark the module itself does not carry."""


def ruled_out(markexpr: str, marks: set[str]) -> bool:
    """Whether ``markexpr`` is false for every item carrying ``marks``, whatever else it carries."""
    if not markexpr:
        return False

    def matcher(name: str, /, **kwargs: object) -> bool:
        if name in marks and not kwargs:
            return True
        raise _Undecided(name)

    try:
        return not Expression.compile(markexpr).evaluate(matcher)
    except _Undecided:
        return False


@pytest.hookimpl(tryfirst=True)
def pytest_make_collect_report(collector: pytest.Collector) -> pytest.CollectReport | None:
    markexpr = collector.config.getoption("markexpr", "")
    if not markexpr or not isinstance(collector, pytest.Module):
        return None
    try:
        collector.obj  # noqa: B018  (imports the module: its pytestmark joins its marks)
    except Exception:
        return None  # pytest's own collection reports the error
    marks = {mark.name for mark in collector.iter_markers()}
    if not ruled_out(markexpr, marks):
        return None
    return pytest.CollectReport(collector.nodeid, "passed", None, [])
