"""Small pieces every protocol's handlers share."""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request
from starlette.responses import Response


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """Compact JSON, as the providers send it."""
    data = json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()
    return Response(data, status_code=status, headers=headers, media_type="application/json")


def mount_base(request: Request) -> str:
    """``scheme://host`` plus the root path of the mount serving the request (no slash)."""
    root: str = request.scope.get("root_path", "")
    return _origin(request) + root


def app_base(request: Request) -> str:
    """``scheme://host`` plus the app's own root path (behind a proxy prefix), no slash."""
    root: str = request.scope.get("app_root_path", request.scope.get("root_path", ""))
    return _origin(request) + root


def _origin(request: Request) -> str:
    scheme = request.url.scheme
    host = request.headers.get("host")
    if not host:
        server = request.scope.get("server") or ("127.0.0.1", 80)
        host = f"{server[0]}:{server[1]}"
    return f"{scheme}://{host}"
