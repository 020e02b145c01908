"""What is settled before a contract run calls anything: the extras are installed, the options
make sense, every named check applies to the provider, and the target answers.

``imgemu contract``, the pytest plugin and ``run_contract`` share these, so a misuse is refused
the same way everywhere, with a one-line ``ContractUsageError`` (the command exits 2, the plugin
raises a usage error). This module imports neither Schemathesis nor Hypothesis.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence

import httpx

from clients._tls import tls_context
from contracts._context import PROFILES
from contracts.checks import REGISTRY, Check, checks_for

EXTRAS = ("schemathesis", "hypothesis")
EXTRAS_HINT = "pip install 'imgemu[contract]'"
PROBE_CONNECT_SECONDS = 10.0


class ContractUsageError(ValueError):
    """The run cannot start: a misuse, a missing extra or an unreachable target (one line)."""


class MissingExtras(ContractUsageError):
    """Schemathesis or Hypothesis cannot be imported."""


class Unreachable(ContractUsageError):
    """The target gave no HTTP answer at all."""

    def __init__(self, url: str, reason: str) -> None:
        super().__init__(f"cannot reach {url}: {one_line(reason)}")
        self.url = url


def one_line(text: str) -> str:
    """``text`` with its whitespace (newlines included) collapsed."""
    return " ".join(text.split())


def require_extras() -> None:
    """Raise ``MissingExtras`` unless Schemathesis and Hypothesis import."""
    missing = []
    for name in EXTRAS:
        try:
            importlib.import_module(name)
        except ImportError:
            missing.append(name)
    if missing:
        raise MissingExtras(
            f"the contract suite needs {' and '.join(missing)}, which cannot be imported: "
            f"{EXTRAS_HINT}"
        )


def check_options(
    max_spend_usd: float | None,
    examples: int,
    names: tuple[str, str] = ("max_spend_usd", "examples"),
) -> None:
    """Refuse a negative budget and fewer than one example; ``names`` are the options' names
    as the caller spells them (``--max-spend-usd``, ``--examples``)."""
    if max_spend_usd is not None and max_spend_usd < 0:
        raise ContractUsageError(f"{names[0]} must not be negative")
    if examples < 1:
        raise ContractUsageError(f"{names[1]} must be at least 1")


def select_checks(provider: str, names: Sequence[str] | None = None) -> list[Check]:
    """The checks to run for ``provider``: every one that applies, or the ones named.

    A name the registry does not know, or a check that does not apply to the provider's
    protocol (``queue_lifecycle`` for ``openai``), is a ``ContractUsageError``.
    """
    if provider not in PROFILES:
        raise ContractUsageError(f"unknown provider {provider!r}: one of {', '.join(PROFILES)}")
    profile = PROFILES[provider]
    if names is not None:
        unknown = sorted(set(names) - set(REGISTRY))
        if unknown:
            known = ", ".join(REGISTRY)
            raise ContractUsageError(f"unknown checks: {', '.join(unknown)} (known: {known})")
        foreign = [n for n in dict.fromkeys(names) if not REGISTRY[n].applies_to(profile)]
        if foreign:
            own = ", ".join(c.name for c in checks_for(profile))
            verb = "does" if len(foreign) == 1 else "do"
            raise ContractUsageError(
                f"{', '.join(foreign)} {verb} not apply to {provider} (its checks: {own})"
            )
    return checks_for(profile, None if names is None else list(names))


def probe(url: str, timeout: float = 120.0) -> None:
    """One free GET of ``url`` (no key is sent): any HTTP answer, even 404, means reachable;
    no answer at all raises ``Unreachable``."""
    limit = httpx.Timeout(timeout, connect=min(timeout, PROBE_CONNECT_SECONDS))
    try:
        with httpx.Client(timeout=limit, verify=tls_context()) as http:
            http.get(url)
    except (httpx.HTTPError, httpx.InvalidURL) as exc:
        reason = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        raise Unreachable(url, reason) from exc
