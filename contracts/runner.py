"""``run_contract``: every applicable check against one target, under a spend cap."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

from clients._core import PROVIDERS, normalize_base_url
from contracts._context import (
    PROFILES,
    Budget,
    BudgetExceeded,
    CheckFailed,
    Context,
    Recorder,
)
from contracts._preflight import (
    check_options,
    probe,
    require_extras,
    select_checks,
)
from contracts.report import Report
from emulator.spec import document_text, parse_document

# The variable of each provider's key, as the client names it.
KEY_VARIABLES = {name: provider.env for name, provider in PROVIDERS.items()}


def load_document(provider: str) -> dict[str, Any]:
    """The provider's OpenAPI document from ``openapi/``."""
    document: dict[str, Any] = parse_document(document_text(provider))
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

    ``target`` follows the provider's base-URL convention (OpenAI's and AGCloud's include
    ``/v1``, the queue providers' ``/model``, 典名词元's is the host root); the form without the
    suffix is taken too. Free checks run first; each paid call is priced from the documented
    prices with the cheapest settings and skipped once it would take the run over
    ``max_spend_usd``. ``examples`` is Schemathesis' number of cases per operation and mode;
    ``derandomize`` makes its cases the same on every run (for CI against the emulator).

    Before any check runs, a ``ContractUsageError`` (a ``ValueError``) refuses an unknown
    provider or check, a check that does not apply to the provider, a negative budget, fewer
    than one example, missing Schemathesis or Hypothesis (``MissingExtras``) and a target that
    gives no HTTP answer to one free GET of the base URL (``Unreachable``).

    Example::

        report = run_contract("openai", "http://127.0.0.1:8000/v1", api_key="sk-x")
        assert report.ok, report.failures()
    """
    chosen_checks = select_checks(provider, checks)
    check_options(max_spend_usd, examples)
    require_extras()
    profile = PROFILES[provider]
    base_url = normalize_base_url(provider, target)
    probe(base_url, timeout)
    key = api_key or os.environ.get(KEY_VARIABLES[provider]) or "imgemu-contract"
    budget = Budget(max_spend_usd)
    report = Report(provider, base_url, max_spend_usd=max_spend_usd)
    document = load_document(provider)
    for chosen in chosen_checks:
        ctx = Context(
            profile,
            base_url,
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
