"""The queue's hot paths outside Starlette's router (``QueueFront``) and as raw ASGI endpoints:
the same route, parameters and scope as the router gives, and the same messages sent as the app
without the front, for every path the front takes."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.routing import Match, Route

from emulator.http.common import dump_json, json_response, read_body, send_json
from emulator.http.queue.front import QueueFront, hot_routes
from tests.helpers import clock_of, make_app
from tests.seeds import SEED_GPT_IMAGE_1

pytestmark = pytest.mark.anyio

_APP = make_app()
_FRONT = QueueFront(_APP.router, router=_APP.router)
_ODI_APP = make_app(queue_provider="odirouter")
_ODI_FRONT = QueueFront(_ODI_APP.router, router=_ODI_APP.router)

_PIECES = st.sampled_from(
    ["gpt_image_1", "requests", "status", "stream", "v1", "queue", "x", "", "a b", "\n", "a\nb"]
)
_SEGMENTS = st.lists(_PIECES, max_size=4).map("/".join)
_PREFIXES = st.sampled_from(
    ["/model", "/seacloud/model", "/odirouter/model", "/model/", "/x/model", "", "/seacloud"]
)
_TAILS = st.sampled_from(["", "/status", "/status\n", "/status/stream", "/response", "/cancel"])
# Paths shaped like the queue's (a prefix, /v1/queue/, a model id, /requests/, an id, a tail)
# and paths of any pieces at all.
_SHAPED = st.tuples(
    _PREFIXES,
    st.sampled_from(["/v1/queue/", "/v1/queue", "/v1/queue//", "/v2/queue/"]),
    _SEGMENTS,
    st.sampled_from(["", "/requests/", "/requests//", "/requests/requests/"]),
    _SEGMENTS,
    _TAILS,
).map("".join)
_MOUNTS = st.sampled_from(["/model", "/seacloud/model", "/odirouter/model"])
_STATUS_LIKE = st.tuples(
    _MOUNTS, st.just("/v1/queue/"), _SEGMENTS, st.just("/requests/"), _PIECES, _TAILS
).map("".join)
_SUBMIT_LIKE = st.tuples(_MOUNTS, st.just("/v1/queue/"), _SEGMENTS).map("".join)
_FREE = st.lists(
    st.sampled_from(["model", "seacloud", "odirouter", "v1", "queue", "requests", "status", "r"])
    | _PIECES,
    max_size=9,
).map(lambda pieces: "/" + "/".join(pieces))


def _scope(method: str, path: str, root_path: str = "") -> dict[str, Any]:
    return {
        "type": "http",
        "method": method,
        "path": root_path + path,
        "root_path": root_path,
        "headers": [],
        "query_string": b"",
    }


def _router_match(app: Starlette, scope: dict[str, Any]) -> tuple[Any, dict[str, Any]] | None:
    """The route the router takes for ``scope`` (its first full match) and its path params."""
    for route in app.router.routes:
        match, child = route.matches(scope)
        if match is Match.FULL:
            return route, child["path_params"]
    return None


@settings(max_examples=1000)
@given(
    method=st.sampled_from(["POST", "GET", "HEAD", "PUT"]),
    path=_STATUS_LIKE | _SUBMIT_LIKE | _SHAPED | _FREE,
    root_path=st.sampled_from(["", "/proxy", "/model", "/seacloud"]),
    under_root=st.booleans(),
    odirouter=st.booleans(),
)
def test_the_front_takes_a_path_only_as_the_router_would(
    method: str, path: str, root_path: str, under_root: bool, odirouter: bool
) -> None:
    app, front = (_ODI_APP, _ODI_FRONT) if odirouter else (_APP, _FRONT)
    scope = _scope(method, path, root_path)
    if not under_root:  # a root path the path does not start with is not taken off
        scope["path"] = path
    taken = front.match(scope)
    if taken is not None:
        assert _router_match(app, scope) == taken, path


@pytest.mark.parametrize(
    ("method", "path", "kind", "params"),
    [
        ("POST", "/model/v1/queue/gpt_image_1", "submit", {"model_id": "gpt_image_1"}),
        ("POST", "/seacloud/model/v1/queue/x y", "submit", {"model_id": "x y"}),
        ("POST", "/model/v1/queue/m\n", "submit", {"model_id": "m\n"}),
        (
            "GET",
            "/odirouter/model/v1/queue/a/b/requests/r1/status",
            "status",
            {"model_id": "a/b", "request_id": "r1"},
        ),
        (
            "GET",
            "/model/v1/queue//requests/r/status",
            "status",
            {"model_id": "", "request_id": "r"},
        ),
        (
            "GET",
            "/model/v1/queue/m/requests/requests/r/status",
            "status",
            {"model_id": "m/requests", "request_id": "r"},
        ),
    ],
)
def test_hot_paths_are_taken(method: str, path: str, kind: str, params: dict[str, str]) -> None:
    taken = _FRONT.match(_scope(method, path))
    assert taken is not None
    route, found = taken
    assert found == params
    assert route == _router_match(_APP, _scope(method, path))[0]  # type: ignore[index]
    assert (
        type(route.endpoint).__name__
        == {"submit": "SubmitEndpoint", "status": "StatusEndpoint"}[kind]
    )


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/model/v1/queue/gpt_image_1"),  # a 405, the router's
        ("HEAD", "/model/v1/queue/m/requests/r/status"),
        ("POST", "/model/v1/queue/m/requests/r/status"),
        ("GET", "/model/v1/queue/m/requests/r/status/stream"),
        ("GET", "/model/v1/queue/m/requests/r/status\n"),  # ``$`` takes the newline: the router's
        ("GET", "/model/v1/queue/a\nb/requests/r/status"),  # ``.*`` stops at a newline
        ("GET", "/model/v1/queue/m/requests//status"),
        ("POST", "/model/v1/queue/"),
        ("POST", "/other/v1/queue/m"),
        ("GET", "/v1/images/generations"),
    ],
)
def test_other_paths_go_to_the_router(method: str, path: str) -> None:
    assert _FRONT.match(_scope(method, path)) is None


@pytest.mark.parametrize(
    ("path", "root_path", "model"),
    [
        ("/proxy/model/v1/queue/m", "/proxy", "m"),  # the root path is taken off
        ("/model/v1/queue/m", "/proxy", "m"),  # a path outside the root path is matched whole
        ("/proxyx/model/v1/queue/m", "/proxy", None),  # the root path ends at a slash
        ("/proxy", "/proxy", None),
        ("/model", "/model", None),
    ],
)
def test_the_root_path_as_the_router_takes_it(path: str, root_path: str, model: str | None) -> None:
    scope = {**_scope("POST", path), "root_path": root_path}
    taken = _FRONT.match(scope)
    assert (taken[1]["model_id"] if taken else None) == model
    assert _router_match(_APP, scope) == taken or taken is None


def test_every_queue_mount_has_its_hot_routes() -> None:
    table = hot_routes(_APP.router.routes)
    assert sorted(table) == ["/model", "/odirouter/model", "/seacloud/model"]
    assert all(hot.submit is not None and hot.status is not None for hot in table.values())


def test_a_route_that_might_match_first_leaves_the_path_to_the_router() -> None:
    async def other(scope: Any, receive: Any, send: Any) -> None:  # pragma: no cover
        pass

    app = make_app()
    app.router.routes.insert(0, Route("/model/{rest:path}", other, methods=["POST"]))
    table = hot_routes(app.router.routes)
    assert "/model" not in table
    assert sorted(table) == ["/odirouter/model", "/seacloud/model"]


# -- the same messages with and without the front --------------------------------------------


def _without_front(app: Starlette) -> Starlette:
    app.user_middleware = [m for m in app.user_middleware if m.cls is not QueueFront]
    return app


async def _call(
    app: Starlette, method: str, path: str, body: bytes = b"", **extra: Any
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    sent: list[dict[str, Any]] = []
    chunks = [body]

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": chunks.pop() if chunks else b""}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    headers = [(b"host", b"emu.test"), (b"authorization", b"Key k")]
    scope = {
        **_scope(method, path),
        "headers": headers + extra.pop("headers", []),
        "scheme": "http",
        "server": ("127.0.0.1", 8000),
        **extra,
    }
    await app(scope, receive, send)
    return sent, scope


def _routed(app: Starlette, scope: dict[str, Any]) -> tuple[Any, ...]:
    """What the router leaves in the scope, comparable across two apps."""
    route = scope.get("route")
    return (
        getattr(route, "path", None),
        type(scope.get("endpoint")).__name__,
        scope.get("path_params"),
        scope.get("router") is app.router,
    )


@pytest.mark.parametrize(
    "settings",
    [{}, {"steering": True}, {"cors_origins": ["*"]}, {"validation": "sync"}, {"slots": 1}],
)
async def test_answers_and_scope_are_the_routers(settings: dict[str, Any]) -> None:
    fronted, routed = make_app(**settings), _without_front(make_app(**settings))
    seed = json.dumps(SEED_GPT_IMAGE_1).encode()
    requests: list[tuple[str, str, bytes, dict[str, Any]]] = [
        ("POST", "/model/v1/queue/gpt_image_1", seed, {}),
        ("POST", "/seacloud/model/v1/queue/gpt_image_1", seed, {"query_string": b"a=1"}),
        ("POST", "/model/v1/queue/gpt_image_1", seed, {"headers": [(b"origin", b"http://o")]}),
        ("POST", "/model/v1/queue/gpt_image_1", b"{", {}),
        ("POST", "/model/v1/queue/gpt_image_1", b'{"n": 0}', {}),
        ("POST", "/model/v1/queue/nope", seed, {}),
        ("POST", "/model/v1/queue/gpt_image_1", seed, {"headers": [(b"x-imgemu-latency", b"x")]}),
    ]
    answers: list[list[Any]] = [[], []]
    for index, app in enumerate((fronted, routed)):
        ids = []
        for method, path, body, extra in requests:
            sent, scope = await _call(app, method, path, body, **dict(extra))
            answers[index].append((sent, _routed(app, scope)))
            if sent[0]["status"] == 200:
                ids.append(json.loads(sent[1]["body"])["request_id"])
        for step in (0.0, 30.0, 5000.0):
            clock_of(app).advance(step)
            for rid in ids:
                for path in (
                    f"/model/v1/queue/gpt_image_1/requests/{rid}/status",
                    f"/seacloud/model/v1/queue/gpt_image_1/requests/{rid}/status",
                    f"/odirouter/model/v1/queue/gpt_image_1/requests/{rid}/status",
                    f"/model/v1/queue/gpt_image_2/requests/{rid}/status",
                ):
                    for extra in ({}, {"query_string": b"logs=1"}, {"root_path": ""}):
                        sent, scope = await _call(app, "GET", path, **dict(extra))
                        answers[index].append((sent, _routed(app, scope)))
    assert answers[0] == answers[1]


# -- the raw answers are ``json_response``'s, the raw body read is ``Request.body()`` -------


async def _messages(app: Any) -> list[dict[str, Any]]:
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:  # pragma: no cover
        raise AssertionError("an answer reads nothing")

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app({"type": "http"}, receive, send)
    return sent


@pytest.mark.parametrize("status", [200, 202, 400, 404, 500])
@pytest.mark.parametrize("body", [{"a": 1}, {"detail": "é 漢字"}, [], {"n": 2**70}])
async def test_send_json_sends_what_json_response_sends(status: int, body: Any) -> None:
    async def raw(scope: Any, receive: Any, send: Any) -> None:
        await send_json(send, dump_json(body), status)

    assert await _messages(raw) == await _messages(json_response(body, status))


@pytest.mark.parametrize(
    "messages",
    [
        [{"type": "http.request", "body": b"abc"}],
        [{"type": "http.request"}],
        [{"type": "http.request", "body": b"a", "more_body": True}, {"type": "http.request"}],
        [
            {"type": "http.request", "body": b"a", "more_body": True},
            {"type": "http.request", "body": b"", "more_body": True},
            {"type": "http.request", "body": b"bc", "more_body": False},
        ],
        [{"type": "http.request", "body": b"a", "more_body": True}, {"type": "http.disconnect"}],
        [{"type": "http.disconnect"}],
    ],
)
async def test_read_body_reads_what_request_body_reads(messages: list[dict[str, Any]]) -> None:
    async def outcome(read: Any) -> Any:
        queue = list(messages)

        async def receive() -> dict[str, Any]:
            return queue.pop(0)

        try:
            return await read(receive)
        except ClientDisconnect:
            return ClientDisconnect

    def by_request(receive: Any) -> Any:
        return Request({"type": "http", "headers": []}, receive).body()

    assert await outcome(read_body) == await outcome(by_request)
