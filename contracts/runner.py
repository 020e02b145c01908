"""``run_contract``: every applicable check against one target, under a spend cap."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import yaml

from contracts._context import (
    PROFILES,
    Budget,
    BudgetExceeded,
    CheckFailed,
    Context,
    Recorder,
)
from contracts.checks import checks_for
from contracts.report import Report
from emulator.spec.loader import document_text

KEY_VARIABLES = {
    "seacloud": "SEACLOUD_API_KEY",
    "odirouter": "ODIROUTER_API_KEY",
    "openai": "OPENAI_API_KEY",
    "agcloud": "AGCLOUD_API_KEY",
    "aa": "AA_API_KEY",
}


def load_document(provider: str) -> dict[str, Any]:
    """The provider's OpenAPI document from ``openapi/``."""
    document: dict[str, Any] = yaml.safe_load(document_text(provider))
    return document


def run_contract(
    provider: str,
    target: str,
    api_key: str | None = None,
    max_spend_usd: float | None = None,
    checks: Sequence[str] | None = None,
    *,
    examples: int = 10,
    timeout: float = 120.0,
    derandomize: bool = False,
) -> Report:
    """Run the contract for ``provider`` against ``target`` (its base URL) and report.

    Free checks run first; each paid call is priced from the documented prices with the
    cheapest settings and skipped once it would take the run over ``max_spend_usd``.
    ``examples`` is Schemathesis' number of cases per operation and mode; ``derandomize``
    makes its cases the same on every run (for CI against the emulator).

    Example::

        report = run_contract("openai", "http://127.0.0.1:8000", api_key="sk-x")
        assert report.ok, report.failures()
    """
    if provider not in PROFILES:
        raise ValueError(f"unknown provider {provider!r}: one of {', '.join(PROFILES)}")
    profile = PROFILES[provider]
    key = api_key or os.environ.get(KEY_VARIABLES[provider]) or "imgemu-contract"
    budget = Budget(max_spend_usd)
    report = Report(provider, target, max_spend_usd=max_spend_usd)
    document = load_document(provider)
    for chosen in checks_for(profile, None if checks is None else list(checks)):
        ctx = Context(
            profile,
            target.rstrip("/"),
            key,
            budget,
            document,
            examples=examples,
            timeout=timeout,
            derandomize=derandomize,
            recorder=Recorder(),
            check=chosen.name,
        )
        try:
            chosen.run(ctx)
        except BudgetExceeded as exc:
            ctx.record(f"({chosen.name})", "skipped", str(exc))
        except CheckFailed as exc:
            ctx.record(exc.operation, "failed", str(exc), *ctx.last_exchange())
        except Exception as exc:
            detail = f"{type(exc).__name__}: {exc}"
            ctx.record(f"({chosen.name})", "failed", detail, *ctx.last_exchange())
        report.outcomes.extend(ctx.outcomes)
    report.spent_usd = budget.spent
    return report
