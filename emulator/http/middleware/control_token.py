"""The control token: with ``control_token`` set, the control plane answers only those who send it.

``ControlToken`` wraps what the token locks (the whole ``/_emulator/`` mount and ``GET
/metrics``; ``emulator.app`` puts it there only when a token is set, so an open emulator pays
nothing). A request passes with ``Authorization: Bearer <token>`` or ``X-Imgemu-Control-Token:
<token>``; any other gets a 401 in the control plane's own shape (``{"detail": ...}``) before
its route runs, even a route that does not exist or a method a route does not take. Tokens are
compared by their SHA-256 digests with ``hmac.compare_digest``: the time taken says nothing of
the token, not even its length. Provider routes, documents and result files are not wrapped.
"""

from __future__ import annotations

import hashlib
import hmac

from starlette.types import ASGIApp, Receive, Scope, Send

from emulator.http.common import json_response

HEADER = "X-Imgemu-Control-Token"
_HEADER = HEADER.lower().encode()
_AUTHORIZATION = b"authorization"
_BEARER = b"bearer"
MISSING = (
    "The control plane needs the control token: send 'Authorization: Bearer <token>' or "
    f"'{HEADER}: <token>'"
)
WRONG = "The control token is not valid"


def _digest(token: bytes) -> bytes:
    return hashlib.sha256(token).digest()


class ControlToken:
    """Let a request through only with the control token (pure ASGI)."""

    def __init__(self, app: ASGIApp, token: str) -> None:
        self.app = app
        self._digest = _digest(token.encode())

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        offered = False
        accepted = False
        for name, value in scope["headers"]:
            if name == _AUTHORIZATION:
                scheme, _, token = value.strip().partition(b" ")
                if scheme.lower() != _BEARER:
                    continue
            elif name == _HEADER:
                token = value
            else:
                continue
            offered = True
            # Every offered token is compared, so the time does not tell which header matched.
            accepted |= hmac.compare_digest(_digest(token.strip()), self._digest)
        if accepted:
            await self.app(scope, receive, send)
            return
        response = json_response(
            {"detail": WRONG if offered else MISSING},
            401,
            {"WWW-Authenticate": 'Bearer realm="imgemu control plane"'},
        )
        await response(scope, receive, send)
