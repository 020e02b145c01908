"""The providers' gateway on the HTTP side: the key, then the rate limit, before any handler.

``GatewayMiddleware`` wraps each operation behind the gateway (``Endpoint.guarded``): it reads
the ``Authorization`` header from the raw headers, asks the domain's ``Gateway`` whether the
key is taken and, for the operations that count (``Endpoint.limited``), whether its window has
room. A refusal is answered at once in the provider's dialect (``refuse``, the dialect's
renderer, handed over when the app is assembled); otherwise the key is kept in the scope
(``key_of``) for the handler. The decisions (schemes, keys, windows through the store) are the
domain's: this module only carries them over HTTP.
"""

from __future__ import annotations

from collections.abc import Callable

from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from emulator.domain.errors import DomainError
from emulator.http.middleware.endpoint import Endpoint
from emulator.state import Emulator

KEY = "imgemu.key"
_AUTHORIZATION = b"authorization"

# The answer to a refused request (the error, the request's scope), in its provider's dialect.
Refusal = Callable[[DomainError, Scope], Response]


def key_of(scope: Scope) -> str:
    """The API key the gateway took for this request."""
    key: str = scope[KEY]
    return key


class GatewayMiddleware:
    """Authenticate (and rate-limit) one provider operation."""

    def __init__(self, app: ASGIApp, endpoint: Endpoint, refuse: Refusal) -> None:
        self.app = app
        self.provider = endpoint.provider
        self.limited = endpoint.limited
        self.refuse = refuse

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        emulator: Emulator = scope["app"].state.emulator
        authorization = None
        for name, value in scope["headers"]:  # the first one, as Starlette's Headers.get
            if name == _AUTHORIZATION:
                authorization = value.decode("latin-1")
                break
        gateway = emulator.gateway
        try:
            key = gateway.authenticate(self.provider, authorization)
            if self.limited and gateway.limiting:
                await gateway.admit(emulator.store, self.provider, key, emulator.clock)
        except DomainError as exc:
            await self.refuse(exc, scope)(scope, receive, send)
            return
        scope[KEY] = key
        await self.app(scope, receive, send)
