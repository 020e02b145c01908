"""The providers' gateway on the HTTP side: the key, then the rate limits, before any handler.

``GatewayMiddleware`` wraps each operation behind the gateway (``Endpoint.guarded``): it reads
the ``Authorization`` header from the raw headers, asks the domain's ``Gateway`` whether the
key is taken and, for the operations that count (``Endpoint.limited``), whether the windows it
counts before the body is read have room. A refusal is answered at once in the provider's
dialect (``refuse``, the dialect's renderer, handed over when the app is assembled); otherwise
the key is kept in the scope (``key_of``) for the handler.

OpenAI and AGCloud count per model, so their handlers count a request once its body is read
(``admit_images``), and every answer to a key the gateway took carries the key's quota as
``x-ratelimit-*`` headers (``quota_headers``, the dialect's; added to the start message, so
streams and errors carry them too): the quota ``admit_images`` kept in the scope, or the
nominal one of limits that are off. The decisions (schemes, keys, windows through the store)
are the domain's: this module only carries them over HTTP.
"""

from __future__ import annotations

from collections.abc import Callable

from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from emulator.domain.errors import DomainError, RateLimited
from emulator.domain.limits import NOMINAL_QUOTA, Quota
from emulator.http.middleware.endpoint import Endpoint
from emulator.state import Emulator

KEY = "imgemu.key"
QUOTA = "imgemu.quota"
_AUTHORIZATION = b"authorization"

# The answer to a refused request (the error, the request's scope), in its provider's dialect.
Refusal = Callable[[DomainError, Scope], Response]
# A key's quota as the headers of its provider's dialect.
QuotaHeaders = Callable[[Quota], list[tuple[bytes, bytes]]]


def key_of(scope: Scope) -> str:
    """The API key the gateway took for this request."""
    key: str = scope[KEY]
    return key


async def admit_images(scope: Scope, provider: str, model: str, n: int) -> None:
    """Count this OpenAI or AGCloud request for ``n`` images of ``model`` against the key's
    limits, or raise ``RateLimited``; either way the answer's headers show the outcome."""
    emulator: Emulator = scope["app"].state.emulator
    try:
        scope[QUOTA] = await emulator.gateway.admit_images(
            emulator.store, provider, key_of(scope), model, n, emulator.clock
        )
    except RateLimited as exc:
        if exc.quota is not None:
            scope[QUOTA] = exc.quota
        raise


class GatewayMiddleware:
    """Authenticate (and rate-limit) one provider operation; with ``quota_headers``, every
    answer to a key it took carries the key's quota."""

    def __init__(
        self,
        app: ASGIApp,
        endpoint: Endpoint,
        refuse: Refusal,
        quota_headers: QuotaHeaders | None = None,
    ) -> None:
        self.app = app
        self.provider = endpoint.provider
        self.limited = endpoint.limited
        self.refuse = refuse
        self.quota_headers = quota_headers
        self.nominal = quota_headers(NOMINAL_QUOTA) if quota_headers is not None else []

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
        except DomainError as exc:
            await self.refuse(exc, scope)(scope, receive, send)
            return
        if self.quota_headers is not None:
            send = self._with_quota(scope, send)
        try:
            if self.limited and self.provider in gateway.limiting:
                await gateway.admit(emulator.store, self.provider, key, emulator.clock)
        except RateLimited as exc:
            if exc.quota is not None:
                scope[QUOTA] = exc.quota
            await self.refuse(exc, scope)(scope, receive, send)
            return
        scope[KEY] = key
        await self.app(scope, receive, send)

    def _with_quota(self, scope: Scope, send: Send) -> Send:
        """``send``, adding the key's quota to the start of the answer."""
        headers = self.quota_headers
        assert headers is not None
        nominal = self.nominal

        async def send_with_quota(message: Message) -> None:
            if message["type"] == "http.response.start":
                quota: Quota | None = scope.get(QUOTA)
                shown = nominal if quota is None or quota is NOMINAL_QUOTA else headers(quota)
                message = {**message, "headers": [*message.get("headers", ()), *shown]}
            await send(message)

        return send_with_quota
