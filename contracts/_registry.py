"""The registry of named checks: what a check is, how one registers, which apply to a provider.

``contracts.checks`` holds the common checks and imports each provider's fidelity module
(``contracts._fidelity_openai``...), which register here; neither imports the other's checks.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from contracts._context import Context, Profile, Protocol

Kind = Literal["spec", "auth", "lifecycle", "stream", "image"]
CheckFunction = Callable[[Context], None]


@dataclass(frozen=True, slots=True)
class Check:
    """A named check and what it costs: ``paid`` checks make calls the provider bills."""

    name: str
    kind: Kind
    paid: bool
    protocols: frozenset[Protocol]
    run: CheckFunction
    doc: str
    providers: frozenset[str] = frozenset()  # only these providers (empty: every one)

    def applies_to(self, profile: Profile) -> bool:
        """Whether the check runs for ``profile``: its protocol, and its provider if named."""
        return profile.protocol in self.protocols and (
            not self.providers or profile.name in self.providers
        )


REGISTRY: dict[str, Check] = {}


def check(
    name: str,
    kind: Kind,
    *,
    paid: bool,
    protocols: tuple[Protocol, ...],
    providers: tuple[str, ...] = (),
) -> Callable[[CheckFunction], CheckFunction]:
    """Register ``function`` under ``name`` (free checks run before paid ones); ``providers``
    limits it to those providers of its protocols."""

    def register(function: CheckFunction) -> CheckFunction:
        REGISTRY[name] = Check(
            name,
            kind,
            paid,
            frozenset(protocols),
            function,
            (function.__doc__ or "").strip(),
            frozenset(providers),
        )
        return function

    return register


def checks_for(profile: Profile, names: list[str] | None = None) -> list[Check]:
    """The checks that apply to ``profile``'s protocol, free first, in registry order."""
    if names is not None:
        unknown = set(names) - set(REGISTRY)
        if unknown:
            raise KeyError(f"unknown checks: {', '.join(sorted(unknown))}")
    chosen = [
        c for c in REGISTRY.values() if c.applies_to(profile) and (names is None or c.name in names)
    ]
    return sorted(chosen, key=lambda c: c.paid)
