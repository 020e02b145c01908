"""Small pieces every protocol's handlers share."""

from __future__ import annotations

import json
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)


class NotJson(ValueError):
    """A request body that is not JSON."""


def dump_json(body: Any) -> bytes:
    """Compact UTF-8 JSON, as the providers send it."""
    try:
        return orjson.dumps(body)
    except TypeError:  # an integer beyond 64 bits, echoed from a request
        return _ENCODER.encode(body).encode()


def load_json(raw: bytes) -> Any:
    """The parsed body, or ``NotJson``; never an exception of another kind."""
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        pass
    try:  # what orjson refuses and the standard library takes: NaN and Infinity
        return json.loads(raw)
    except (ValueError, RecursionError):
        raise NotJson() from None


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """Compact JSON, as the providers send it."""
    return Response(
        dump_json(body), status_code=status, headers=headers, media_type="application/json"
    )


def app_base(request: Request) -> str:
    """``scheme://host`` plus the app's own root path (behind a proxy prefix), no slash."""
    root: str = request.scope.get("app_root_path", request.scope.get("root_path", ""))
    return _origin(request) + root


def _origin(request: Request) -> str:
    scheme = request.scope.get("scheme", "http")
    host = request.headers.get("host")
    if not host:
        server = request.scope.get("server") or ("127.0.0.1", 80)
        host = f"{server[0]}:{server[1]}"
    return f"{scheme}://{host}"
