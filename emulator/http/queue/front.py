"""The queue's two hot paths, recognized before Starlette's router.

``QueueFront`` sits innermost in the app's middleware (after the request log and CORS, where
Starlette's ``ExceptionMiddleware`` and router would come next). A ``POST`` of a submit path or
a ``GET`` of a status path is parsed here with string operations and handed to its route's own
app (the route's middleware: gateway, steering..., then the endpoint), with the scope the
router would have set (``router``, ``route``, ``endpoint``, ``path_params``). Everything else
goes on to the router unchanged.

It takes a path only where the router would take the same route with the same parameters:
the routes are Starlette's own (``{prefix}/v1/queue/{model_id}`` and
``{prefix}/v1/queue/{model_id:path}/requests/{request_id}/status``), their regular expressions
are followed exactly (``model_id:path`` is ``.*``, which stops at a newline), and a route is
taken over only when no route before it in the router's list could match its paths (checked
once, when the app is built). ``tests/http/queue/test_front.py`` holds this to the router.
"""

from __future__ import annotations

from starlette.routing import BaseRoute, Route, Router
from starlette.types import ASGIApp, Receive, Scope, Send

from emulator.http.queue.handlers import StatusEndpoint, SubmitEndpoint

_QUEUE = "/v1/queue/"
_STATUS = "/status"
_REQUESTS = "/requests"
# The other routes of one queue mount: the shapes a hot route may follow in the route list.
_SIBLINGS = (
    "/v1/queue/{model_id}",
    "/v1/queue/{model_id:path}/requests/{request_id}/status/stream",
    "/v1/queue/{model_id:path}/requests/{request_id}/status",
    "/v1/queue/{model_id:path}/requests/{request_id}/response",
    "/v1/queue/{model_id:path}/requests/{request_id}/cancel",
)


class _Hot:
    """One mount's hot routes (None: left to the router)."""

    __slots__ = ("status", "submit")

    def __init__(self) -> None:
        self.submit: Route | None = None
        self.status: Route | None = None


def _literal(route: BaseRoute) -> str | None:
    """The text every path ``route`` matches starts with; None if it is not a plain route."""
    if not isinstance(route, Route):
        return None
    return route.path.split("{", 1)[0]


def _shadowed(route: Route, prefix: str, before: list[BaseRoute]) -> bool:
    """Whether a route before ``route`` might match one of its paths (then the router decides).

    Paths of ``route`` start with ``prefix + /v1/queue/``; a route whose literal start is not
    a prefix of that, nor starts with it, matches none of them. The other routes of the same
    mount match none either (a submit's model id has no slash; a status path ends in /status).
    """
    head = prefix + _QUEUE
    for other in before:
        literal = _literal(other)
        if literal is None:
            return True
        if not (head.startswith(literal) or literal.startswith(head)):
            continue
        if isinstance(other, Route) and other.path in {prefix + s for s in _SIBLINGS}:
            continue
        return True
    return False


def hot_routes(routes: list[BaseRoute]) -> dict[str, _Hot]:
    """Mount prefix -> its submit and status routes that the front may take."""
    table: dict[str, _Hot] = {}
    for index, route in enumerate(routes):
        if not isinstance(route, Route):
            continue
        endpoint = route.endpoint
        if isinstance(endpoint, SubmitEndpoint | StatusEndpoint):
            prefix = endpoint.prefix
            if _QUEUE in prefix or _shadowed(route, prefix, routes[:index]):
                continue
            hot = table.setdefault(prefix, _Hot())
            if isinstance(endpoint, SubmitEndpoint):
                hot.submit = hot.submit or route
            else:
                hot.status = hot.status or route
    return table


def _route_path(scope: Scope) -> str:
    """The path the router matches (Starlette's ``get_route_path``): without the root path."""
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    if not root or not path.startswith(root):
        return path
    if path == root:
        return ""
    return path[len(root) :] if path[len(root)] == "/" else path


class QueueFront:
    """Serve submit and status paths through their routes without the router's search."""

    def __init__(self, app: ASGIApp, router: Router) -> None:
        self.app = app
        self.router = router
        self.hot = hot_routes(router.routes)

    def match(self, scope: Scope) -> tuple[Route, dict[str, str]] | None:
        """The route and path parameters the router would give this request, if a hot one."""
        if scope.get("path_params"):
            return None
        path = _route_path(scope)
        at = path.find(_QUEUE)
        if at < 0:
            return None
        hot = self.hot.get(path[:at])
        if hot is None:
            return None
        rest = path[at + len(_QUEUE) :]
        method = scope["method"]
        if method == "POST":
            if hot.submit is None or not rest or "/" in rest:
                return None
            return hot.submit, {"model_id": rest}
        if method == "GET" and hot.status is not None and rest.endswith(_STATUS):
            head, _, request_id = rest[: -len(_STATUS)].rpartition("/")
            if request_id and head.endswith(_REQUESTS) and "\n" not in head:
                return hot.status, {"model_id": head[: -len(_REQUESTS)], "request_id": request_id}
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            found = self.match(scope)
            if found is not None:
                route, params = found
                if "router" not in scope:
                    scope["router"] = self.router
                scope["route"] = route
                scope["endpoint"] = route.endpoint
                scope["path_params"] = params
                await route.app(scope, receive, send)
                return
        await self.app(scope, receive, send)
