"""imgemu's contract suite: does an endpoint (the emulator or a real provider) keep openapi/?

``run_contract(provider, target, ...)`` runs every named check of ``REGISTRY`` that applies to
the provider under a spend cap and returns a ``Report`` (verified / assumed / failed / skipped
per check and operation), which ``write_junit`` and ``write_markdown`` write out. The command is
``imgemu contract``; Schemathesis and Hypothesis (the ``test`` extra) must be installed.
"""

from contracts.checks import REGISTRY, Check, checks_for
from contracts.report import Outcome, Report, markdown, write_junit, write_markdown
from contracts.runner import run_contract

__all__ = [
    "REGISTRY",
    "Check",
    "Outcome",
    "Report",
    "checks_for",
    "markdown",
    "run_contract",
    "write_junit",
    "write_markdown",
]
