"""What the route middleware knows of one provider operation, worked out once at start-up.

Each provider route is made with the middleware its ``Endpoint`` asks for: the provider and its
dialect (whose words a refusal is in), the operation kind, and whether the operation is behind
the gateway, counts against the rate limit, and takes steering headers. Requests pay for no
lookup: the route that matched already carries the answer.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

from starlette.middleware import Middleware

from emulator.providers import PROVIDERS, Dialect

# Operation kind -> (needs a key, counts against the rate limit, takes X-Imgemu-* headers).
# The operations that create work (a job, a generation, an upload) count; reads and cancels
# do not. The queue's ``status.stream`` and ``sync`` answer "not offered" to anyone.
POLICY: dict[str, tuple[bool, bool, bool]] = {
    "submit": (True, True, True),
    "status": (True, False, False),
    "result": (True, False, False),
    "cancel": (True, False, False),
    "status.stream": (False, False, False),
    "sync": (False, False, False),
    "images.generate": (True, True, True),
    "images.edit": (True, True, True),
    "aa.generate": (True, True, True),
    "aa.task": (True, False, False),
    "aa.upload": (True, True, False),
}

# Operation kind -> the body it reads, which decides its size limit: one that may carry input
# images, a text-only one, or (a queue submit) as its model decides. Others read no body.
Body = Literal["none", "text", "images", "model"]
BODIES: dict[str, Body] = {
    "submit": "model",
    "images.generate": "text",
    "images.edit": "images",
    "aa.generate": "images",
    "aa.upload": "images",
}


@dataclass(frozen=True, slots=True)
class Endpoint:
    """One provider operation as the middleware sees it."""

    provider: str
    dialect: Dialect
    kind: str
    guarded: bool  # behind the gateway: a key is required
    limited: bool  # counts against the key's rate limit
    steered: bool  # takes X-Imgemu-Outcome / X-Imgemu-Latency
    body: Body = "none"  # the request body it reads

    @classmethod
    def of(cls, provider: str, kind: str) -> Endpoint:
        guarded, limited, steered = POLICY[kind]
        dialect = PROVIDERS[provider].dialect
        return cls(provider, dialect, kind, guarded, limited, steered, BODIES.get(kind, "none"))


# The middleware of one of a provider's operation kinds: what a route builder asks for.
Stack = Callable[[str], Sequence[Middleware]]
