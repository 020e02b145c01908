"""What the providers' gateways do before a request reaches the queue: keys and rate limits."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from functools import lru_cache

from emulator.domain.clock import Clock
from emulator.domain.errors import LimitKind, RateLimited, Unauthorized
from emulator.domain.limits import (
    NOMINAL_ALLOWANCE,
    NOMINAL_QUOTA,
    Allowance,
    LimitPolicy,
    Quota,
    images_window,
    requests_window,
)
from emulator.providers import PROVIDERS
from emulator.settings import RateLimit
from emulator.store.base import Store, Window

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

    Rate limits (``emulator.domain.limits``): ``admit`` counts a request at the gateway, before
    its body is read, in the generic window (``rate_limit``) and, for the providers that count
    per key only (the queue's, 典名词元), their requests per minute. ``admit_images`` counts an
    OpenAI or AGCloud request per key and model once its body says which model and how many
    images.
    """

    def __init__(
        self,
        api_keys: Mapping[str, tuple[str, ...]],
        rate_limit: RateLimit,
        limits: LimitPolicy | None = None,
    ) -> None:
        self._keys = {provider: frozenset(keys) for provider, keys in api_keys.items() if keys}
        self.limit(rate_limit, limits)

    def limit(self, rate_limit: RateLimit, limits: LimitPolicy | None = None) -> None:
        """Count requests against ``rate_limit`` and ``limits`` from now on (runtime
        settings)."""
        self.rate_limit = rate_limit
        self.limits = limits = limits or LimitPolicy()
        # The providers whose ``admit`` can refuse anything (the others need no call).
        self.limiting = frozenset(
            provider
            for provider in PROVIDERS
            if rate_limit.limit > 0
            or (limits.requests.get(provider, 0) > 0 and provider not in limits.per_model)
        )

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
        """Count one request at the gateway (the generic window, and the requests per minute
        of a provider that counts per key), or raise ``RateLimited``."""
        if provider not in self.limiting:
            return
        owner = owner_of(key)
        windows: list[Window] = []
        kinds: list[LimitKind] = []
        generic = self.rate_limit
        if generic.limit > 0:
            windows.append(Window(f"{provider}:{owner}", generic.limit, generic.window_seconds))
            kinds.append("window")
        per_minute = self.limits.requests.get(provider, 0)
        if per_minute > 0 and provider not in self.limits.per_model:
            windows.append(requests_window(provider, owner, per_minute))
            kinds.append("requests")
        taken = await store.take_windows(windows, clock.now())
        if taken.refused is None:
            return
        window, state = windows[taken.refused], taken.states[taken.refused]
        quota = None
        if provider in self.limits.per_model:  # the generic window, shown as the requests one
            quota = Quota(requests=Allowance.of(window, state))
        raise RateLimited(
            taken.wait,
            window.limit,
            kinds[taken.refused],
            used=state.used,
            window=window.seconds,
            owner=owner,
            quota=quota,
        )

    async def admit_images(
        self, store: Store, provider: str, key: str, model: str, n: int, clock: Clock
    ) -> Quota:
        """Count one OpenAI or AGCloud request for ``n`` images of ``model`` (one request and
        ``n`` images per minute), or raise ``RateLimited``; either way the key's quota for the
        model is what the answer's headers show (``RateLimited.quota`` on a refusal)."""
        per_minute = self.limits.requests.get(provider, 0)
        images = self.limits.images.get(provider, 0)
        if per_minute <= 0 and images <= 0:
            return NOMINAL_QUOTA
        owner = owner_of(key)
        windows: list[Window] = []
        kinds: list[LimitKind] = []
        if per_minute > 0:
            windows.append(requests_window(provider, owner, per_minute, model))
            kinds.append("requests")
        if images > 0:
            windows.append(images_window(provider, owner, model, images, n))
            kinds.append("images")
        taken = await store.take_windows(windows, clock.now())
        shown = [Allowance.of(w, s) for w, s in zip(windows, taken.states, strict=True)]
        quota = Quota(
            requests=shown[0] if per_minute > 0 else NOMINAL_ALLOWANCE,
            images=shown[-1] if images > 0 else NOMINAL_ALLOWANCE,
        )
        if taken.refused is None:
            return quota
        window, state = windows[taken.refused], taken.states[taken.refused]
        raise RateLimited(
            taken.wait,
            window.limit,
            kinds[taken.refused],
            used=state.used,
            requested=window.amount,
            window=window.seconds,
            model=model,
            owner=owner,
            quota=quota,
        )
