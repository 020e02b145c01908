"""Small pieces every protocol's handlers share."""

from __future__ import annotations

import json
from typing import Any, Literal

import orjson
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)


# No request of any provider nests deeper (典名词元's image references are three levels down);
# deeper JSON is refused before anything walks it (the schema validator, the records) recursively.
MAX_JSON_DEPTH = 32


class NotJson(ValueError):
    """A request body that is not JSON, or (``problem`` ``too_deep``) nested deeper than
    ``MAX_JSON_DEPTH`` levels."""

    def __init__(self, problem: Literal["not_json", "too_deep"] = "not_json") -> None:
        super().__init__(problem)
        self.problem: Literal["not_json", "too_deep"] = problem


def dump_json(body: Any) -> bytes:
    """Compact UTF-8 JSON, as the providers send it."""
    try:
        return orjson.dumps(body)
    except TypeError:  # an integer beyond 64 bits, echoed from a request
        return _ENCODER.encode(body).encode()


def load_json(raw: bytes) -> Any:
    """The parsed body, or ``NotJson`` (``too_deep`` past ``MAX_JSON_DEPTH``); never an
    exception of another kind.

    NaN and Infinity are taken; a string escaping half a surrogate pair (``"\\ud800"``) is
    not: no UTF-8 text holds it, so nothing downstream (the schema check, digests, answers
    echoing it) could encode it.
    """
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError:
        try:  # what orjson refuses and the standard library takes: NaN, Infinity, lone surrogates
            value = json.loads(raw)
            _ENCODER.encode(value).encode()  # UnicodeEncodeError for a lone surrogate
        except (ValueError, RecursionError):
            raise NotJson() from None
    # Fewer brackets in the text than the limit cannot nest past it: most bodies skip the walk.
    if (
        isinstance(value, dict | list)
        and raw.count(b"{") + raw.count(b"[") > MAX_JSON_DEPTH
        and _too_deep(value)
    ):
        raise NotJson("too_deep")
    return value


def _too_deep(value: dict[str, Any] | list[Any]) -> bool:
    """Whether ``value`` nests more than ``MAX_JSON_DEPTH`` levels (walked without recursion;
    a flat body costs a look at each of its values)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        for child in node.values() if isinstance(node, dict) else node:
            if isinstance(child, dict | list):
                if depth >= MAX_JSON_DEPTH:
                    return True
                stack.append((child, depth + 1))
    return False


def size_text(limit: int) -> str:
    """A byte count as a limit reads in an error: ``80 MB``, ``1 MB``, ``512 KB``."""
    mib, kib = 1024 * 1024, 1024
    if limit >= mib and limit % mib == 0:
        return f"{limit // mib} MB"
    if limit >= kib and limit % kib == 0:
        return f"{limit // kib} KB"
    return f"{limit} bytes"


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """Compact JSON, as the providers send it."""
    return Response(
        dump_json(body), status_code=status, headers=headers, media_type="application/json"
    )


def app_base(request: Request) -> str:
    """``scheme://host`` plus the app's own root path (behind a proxy prefix), no slash."""
    return scope_base(request.scope)


def scope_header(scope: Scope, name: bytes) -> str | None:
    """The first value of the header ``name`` (lower case, as ASGI gives names) in ``scope``."""
    for key, value in scope["headers"]:
        if key == name:
            text: str = value.decode("latin-1")
            return text
    return None


def scope_base(scope: Scope) -> str:
    """``app_base`` from the raw scope (no ``Request``): the first ``host`` header, as
    Starlette's ``Headers.get`` reads it, else the server's address."""
    root: str = scope.get("app_root_path", scope.get("root_path", ""))
    host = None
    for name, value in scope["headers"]:
        if name == b"host":
            host = value.decode("latin-1")
            break
    if not host:
        server = scope.get("server") or ("127.0.0.1", 80)
        host = f"{server[0]}:{server[1]}"
    return f"{scope.get('scheme', 'http')}://{host}{root}"


# -- raw ASGI answers: what ``json_response(body)(scope, receive, send)`` sends, without the
# ``Request``/``Response`` objects (the queue's hot routes) ----------------------------------

_JSON_TYPE = (b"content-type", b"application/json")


async def read_body(receive: Receive) -> bytes:
    """The whole request body, as ``Request.body()`` reads it (``ClientDisconnect`` too)."""
    message = await receive()
    if message["type"] == "http.request" and not message.get("more_body", False):
        body: bytes = message.get("body", b"")
        return body
    chunks: list[bytes] = []
    while True:
        if message["type"] == "http.request":
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                return b"".join(chunks)
        elif message["type"] == "http.disconnect":
            raise ClientDisconnect()
        message = await receive()


async def send_json(
    send: Send, data: bytes, status: int = 200, extra: tuple[bytes, bytes] | None = None
) -> None:
    """Answer ``data`` (JSON bytes) with the headers ``json_response`` sends, in its order;
    ``extra`` is one more header (lower-case name), first, as ``json_response`` puts its own.

    The header list is new on every answer: middleware may add to it in place (CORS does).
    """
    if extra is None:
        headers = [(b"content-length", b"%d" % len(data)), _JSON_TYPE]
    else:
        headers = [extra, (b"content-length", b"%d" % len(data)), _JSON_TYPE]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": data})
