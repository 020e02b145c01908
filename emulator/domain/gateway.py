"""What the providers' gateways do before a request reaches the queue: keys and rate limits."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from functools import lru_cache

from emulator.domain.clock import Clock
from emulator.domain.errors import RateLimited, Unauthorized
from emulator.providers import PROVIDERS
from emulator.settings import RateLimit
from emulator.store.base import Store

# The Authorization schemes each provider accepts, as its document declares them.
_SCHEMES_LOWER = {p.name: {s.lower() for s in p.auth} for p in PROVIDERS.values()}


@lru_cache(maxsize=4096)
def owner_of(key: str) -> str:
    """A stable, non-secret name for an API key: jobs are filed under it."""
    return hashlib.sha256(key.encode()).hexdigest()[:16]


# A key containing this word (any case) is refused even when no keys are configured, as the
# provider refuses an unknown key: a 401 path without configuring keys, and so Schemathesis'
# invalid-credentials probe (``Bearer SCHEMATHESIS-INVALID-VALUE``) is refused too.
INVALID_WORD = "invalid"


def is_invalid_key(key: str) -> bool:
    """Whether ``key`` is refused by the permissive default: it contains ``invalid``."""
    return INVALID_WORD in key.lower()


class Gateway:
    """Authentication and rate limiting per provider.

    Without configured keys any key works, except one containing ``invalid`` (any case); with
    keys configured for a provider, only those work. A refusal says which: no key in a scheme the
    provider takes (``missing``), or a key that is refused (``invalid``).
    """

    def __init__(self, api_keys: Mapping[str, tuple[str, ...]], rate_limit: RateLimit) -> None:
        self._keys = {provider: frozenset(keys) for provider, keys in api_keys.items() if keys}
        self.limit(rate_limit)

    def limit(self, rate_limit: RateLimit) -> None:
        """Count submissions against ``rate_limit`` from now on (runtime settings)."""
        self.rate_limit = rate_limit
        self.limiting = rate_limit.limit > 0  # whether ``admit`` can refuse anything

    def authenticate(self, provider: str, authorization: str | None) -> str:
        """The API key from an ``Authorization`` header, or ``Unauthorized``."""
        scheme, _, key = (authorization or "").strip().partition(" ")
        key = key.strip()
        if scheme.lower() not in _SCHEMES_LOWER[provider] or not key:
            raise Unauthorized("missing")
        allowed = self._keys.get(provider)
        refused = is_invalid_key(key) if allowed is None else key not in allowed
        if refused:
            raise Unauthorized("invalid")
        return key

    async def admit(self, store: Store, provider: str, key: str, clock: Clock) -> None:
        """Count one submission against the key's window, or raise ``RateLimited``."""
        limit = self.rate_limit
        if limit.limit <= 0:
            return
        wait = await store.take_rate_slot(
            f"{provider}:{owner_of(key)}", limit.limit, limit.window_seconds, clock.now()
        )
        if wait is not None:
            raise RateLimited(wait, limit.limit)
