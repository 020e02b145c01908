"""imgemu's contract suite: does an endpoint (the emulator or a real provider) keep openapi/?

``run_contract(provider, target, ...)`` runs every named check of ``REGISTRY`` that applies to
the provider under a spend cap and returns a ``Report`` (verified / assumed / failed / skipped
per check and operation), which ``write_junit`` and ``write_markdown`` write out. The command is
``imgemu contract``; Schemathesis and Hypothesis (the ``contract`` extra) must be installed to
run it. The names below are imported when first used, so ``import contracts`` (and the pytest
plugin, and ``imgemu --help``) work without them.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from contracts._preflight import ContractUsageError, MissingExtras, Unreachable
    from contracts.checks import REGISTRY, Check, checks_for
    from contracts.report import Outcome, Report, markdown, write_junit, write_markdown
    from contracts.runner import run_contract

_WHERE = {
    "REGISTRY": "contracts.checks",
    "Check": "contracts.checks",
    "checks_for": "contracts.checks",
    "ContractUsageError": "contracts._preflight",
    "MissingExtras": "contracts._preflight",
    "Unreachable": "contracts._preflight",
    "Outcome": "contracts.report",
    "Report": "contracts.report",
    "markdown": "contracts.report",
    "write_junit": "contracts.report",
    "write_markdown": "contracts.report",
    "run_contract": "contracts.runner",
}

__all__ = [
    "REGISTRY",
    "Check",
    "ContractUsageError",
    "MissingExtras",
    "Outcome",
    "Report",
    "Unreachable",
    "checks_for",
    "markdown",
    "run_contract",
    "write_junit",
    "write_markdown",
]


def __getattr__(name: str) -> Any:
    """Import a public name from its module on first use."""
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'contracts' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
