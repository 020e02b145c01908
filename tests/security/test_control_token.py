"""A lockable control plane: with ``control_token`` set, everything under ``/_emulator/`` and
``GET /metrics`` answers only a caller that sends the token; unset, all of it is open.

The token travels as ``Authorization: Bearer <token>`` or ``X-Imgemu-Control-Token: <token>``;
without it (or with another) the answer is a 401 in the control plane's shape, before any route
runs. With the token, each route answers exactly as on an open emulator. Provider routes,
documents and result files are not affected. ``imgemu serve`` says so in one line when it
listens beyond loopback with the control plane open.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st
from starlette.types import Receive, Scope, Send

from emulator.http.middleware.control_token import MISSING, WRONG, ControlToken
from emulator.server import loopback_only, open_control_warning
from emulator.settings import Settings, SettingsError, load
from tests.helpers import asgi_client, make_app
from tests.support.serve import imgemu_serve

pytestmark = pytest.mark.anyio

TOKEN = "ctl-5f3a9b2e7c1d"
OTHER = "ctl-0000000000000"
AUTHENTICATE = 'Bearer realm="imgemu control plane"'

# Every control route (each method it takes), one that does not exist, a method a route does
# not take, and the metrics.
CONTROL: list[tuple[str, str, Any]] = [
    ("GET", "/_emulator/health", None),
    ("GET", "/_emulator/capabilities", None),
    ("GET", "/_emulator/clock", None),
    ("POST", "/_emulator/clock", {"advance": 5}),
    ("GET", "/_emulator/jobs", None),
    ("GET", "/_emulator/jobs?offset=-1", None),
    ("GET", "/_emulator/jobs/mmsu_01jd5x3k7m9q2w4e6r8t0y1v3z", None),
    ("GET", "/_emulator/balances/sk-someone", None),
    ("PUT", "/_emulator/balances/sk-someone", {"usd": 2.5}),
    ("POST", "/_emulator/reset", None),
    ("GET", "/_emulator/nothing-here", None),
    ("GET", "/_emulator/reset", None),
    ("DELETE", "/_emulator/jobs", None),
    ("GET", "/metrics", None),
]
IDS = [f"{method} {path}" for method, path, _ in CONTROL]


async def call(http: httpx.AsyncClient, method: str, path: str, body: Any, **kw: Any) -> Any:
    return await http.request(method, path, json=body, **kw)


def outcome(response: httpx.Response) -> tuple[int, Any]:
    """What a control answer says, leaving out what moves with the clock or the counts."""
    kind = response.headers.get("content-type", "")
    if kind.startswith("application/json"):
        return response.status_code, response.json()
    return response.status_code, kind


def assert_refused(response: httpx.Response, detail: str) -> None:
    assert response.status_code == 401
    assert response.headers["content-type"] == "application/json"
    assert response.headers["www-authenticate"] == AUTHENTICATE
    assert response.json() == {"detail": detail}


@pytest.mark.parametrize(("method", "path", "body"), CONTROL, ids=IDS)
async def test_unset_everything_is_open_as_it_always_was(method: str, path: str, body: Any) -> None:
    async with asgi_client(make_app()) as http:
        response = await call(http, method, path, body)
    assert response.status_code != 401
    assert "www-authenticate" not in response.headers


@pytest.mark.parametrize(("method", "path", "body"), CONTROL, ids=IDS)
async def test_set_every_control_route_and_the_metrics_need_the_token(
    method: str, path: str, body: Any
) -> None:
    async with (
        asgi_client(make_app()) as open_http,
        asgi_client(make_app(control_token=TOKEN)) as http,
    ):
        assert_refused(await call(http, method, path, body), MISSING)
        for headers in (
            {"Authorization": f"Bearer {OTHER}"},
            {"X-Imgemu-Control-Token": OTHER},
            {"X-Imgemu-Control-Token": f"{TOKEN}x"},
            {"Authorization": f"Bearer {TOKEN[:-1]}"},
        ):
            assert_refused(await call(http, method, path, body, headers=headers), WRONG)
        # A key of a provider's scheme is no token: ``Key`` is the queue's, not the control's.
        refused = await call(http, method, path, body, headers={"Authorization": f"Key {TOKEN}"})
        assert_refused(refused, MISSING)

        expected = outcome(await call(open_http, method, path, body))
        for headers in (
            {"Authorization": f"Bearer {TOKEN}"},
            {"Authorization": f"bearer {TOKEN}"},
            {"X-Imgemu-Control-Token": TOKEN},
            # Either header may carry it: a provider's key beside the token is fine.
            {"Authorization": "Key sk-k", "X-Imgemu-Control-Token": TOKEN},
        ):
            answered = await call(http, method, path, body, headers=headers)
            assert answered.status_code != 401
            if path != "/metrics" and "clock" not in path:
                assert outcome(answered) == expected
            else:
                assert answered.status_code == expected[0]


async def test_the_token_works_the_control_plane_through_a_whole_session() -> None:
    app = make_app(control_token=TOKEN)
    control = {"X-Imgemu-Control-Token": TOKEN}
    async with asgi_client(app) as http:
        submitted = await http.post(
            "/model/v1/queue/gpt_image_1",
            json={"prompt": "a red apple"},
            headers={"Authorization": "Key sk-k"},
        )
        assert submitted.status_code == 200
        request_id = submitted.json()["request_id"]
        assert_refused(await http.get("/_emulator/jobs"), MISSING)
        listed = await http.get("/_emulator/jobs", headers=control)
        assert [job["request_id"] for job in listed.json()["jobs"]] == [request_id]
        assert_refused(await http.put("/_emulator/balances/sk-k", json={"usd": 0}), MISSING)
        assert (await http.get("/_emulator/balances/sk-k", headers=control)).json() == {"usd": None}
        assert_refused(await http.post("/_emulator/reset"), MISSING)
        assert (await http.get("/_emulator/jobs/" + request_id, headers=control)).status_code == 200
        assert (await http.post("/_emulator/reset", headers=control)).json() == {"status": "reset"}
        assert (await http.get("/_emulator/jobs", headers=control)).json()["total"] == 0
        metrics = await http.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
        assert metrics.status_code == 200
        assert "imgemu_requests_total" in metrics.text


PROVIDERS: list[tuple[str, str, dict[str, str], Any, int]] = [
    ("POST", "/model/v1/queue/gpt_image_1", {"Authorization": "Key sk-k"}, {"prompt": "x"}, 200),
    ("POST", "/model/v1/queue/gpt_image_1", {}, {"prompt": "x"}, 401),
    (
        "POST",
        "/v1/images/generations",
        {"Authorization": "Bearer sk-k", "X-Imgemu-Latency": "0"},
        {"model": "gpt-image-1-mini", "prompt": "x", "quality": "low"},
        200,
    ),
    ("GET", "/api/v1/image/generation/task_01jd5x3k7m9q2w4e6r8t0y1v3z", {}, None, 401),
    ("GET", "/openapi/seacloud.json", {}, None, 200),
    ("GET", "/", {}, None, 200),
    ("GET", "/_files/mmsu_01jd5x3k7m9q2w4e6r8t0y1v3z/0.png", {}, None, 403),
]


@pytest.mark.parametrize(
    ("method", "path", "headers", "body", "status"),
    PROVIDERS,
    ids=[f"{m} {p} {s}" for m, p, _, _, s in PROVIDERS],
)
async def test_provider_routes_documents_and_files_are_not_locked(
    method: str, path: str, headers: dict[str, str], body: Any, status: int
) -> None:
    async def answer(token: str, extra: dict[str, str]) -> tuple[int, Any]:
        app = make_app(control_token=token, steering=True, clock="real", clock_start=None)
        async with asgi_client(app, timeout=30) as http:
            response = await http.request(method, path, json=body, headers={**headers, **extra})
        body_of = response.json() if "json" in response.headers.get("content-type", "") else None
        if isinstance(body_of, dict):  # ids and times differ from one app to another
            body_of = sorted(body_of)
        return response.status_code, body_of

    locked = await answer(TOKEN, {})
    assert locked[0] == status
    assert locked == await answer("", {})
    # The control token is no provider key: a provider's gateway still wants its own.
    assert await answer(TOKEN, {"X-Imgemu-Control-Token": TOKEN}) == locked


# -- the check itself, property-tested on the middleware -----------------------------------------

TOKENS = st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1, max_size=40)
OFFERED = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=44)


async def _passed(scope: Scope, receive: Receive, send: Send) -> None:
    await send({"type": "http.response.start", "status": 204, "headers": []})
    await send({"type": "http.response.body", "body": b""})


def _status(token: str, headers: list[tuple[bytes, bytes]]) -> int:
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b""}

    async def send(message: Any) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "GET", "path": "/metrics", "headers": headers}
    asyncio.run(ControlToken(_passed, token=token)(scope, receive, send))
    status: int = sent[0]["status"]
    return status


@given(token=TOKENS, offered=OFFERED, scheme=st.sampled_from(["Bearer", "bearer", "BEARER"]))
def test_a_request_passes_exactly_when_it_offers_the_token(
    token: str, offered: str, scheme: str
) -> None:
    expected = 204 if offered.strip() == token else 401
    assert _status(token, [(b"x-imgemu-control-token", offered.encode())]) == expected
    authorization = f"{scheme} {offered}".encode()
    assert _status(token, [(b"authorization", authorization)]) == expected
    # One right header among wrong ones is enough; none at all is refused.
    both = [(b"authorization", b"Bearer " + offered.encode()), (b"x-imgemu-control-token",
             token.encode())]  # fmt: skip
    assert _status(token, both) == 204
    assert _status(token, []) == 401


@given(token=TOKENS)
def test_any_printable_token_without_spaces_is_a_setting(token: str) -> None:
    assert Settings(control_token=token).control_token == token


@given(
    token=st.text(min_size=1, max_size=20).filter(
        lambda text: any(not "!" <= ch <= "~" for ch in text)
    )
)
def test_a_token_that_cannot_travel_in_a_header_is_refused_without_being_repeated(
    token: str,
) -> None:
    with pytest.raises(SettingsError) as refused:
        load({"control_token": token}, environ={})
    message = str(refused.value)
    assert message.startswith("--control-token: must be printable ASCII without spaces")
    assert "got" not in message


def test_the_variable_sets_it() -> None:
    assert load(environ={"IMGEMU_CONTROL_TOKEN": TOKEN}).control_token == TOKEN


# -- imgemu serve ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.8.9.10", True),
        ("::1", True),
        ("[::1]", True),
        ("localhost", True),
        ("LocalHost", True),
        ("0.0.0.0", False),
        ("::", False),
        ("", False),
        ("192.168.1.20", False),
        ("10.0.0.1", False),
        ("example.internal", False),
    ],
)
def test_loopback_is_told_from_everything_else(host: str, loopback: bool) -> None:
    assert loopback_only(host) is loopback
    warning = open_control_warning(Settings(host=host))
    assert (warning is None) is loopback
    assert open_control_warning(Settings(host=host, control_token=TOKEN)) is None


@pytest.mark.server
def test_serve_warns_once_beyond_loopback_without_a_token(tmp_path: Path) -> None:
    line = "imgemu: warning: listening on 0.0.0.0 with no control token: anyone who reaches"
    with imgemu_serve(tmp_path, "--host", "0.0.0.0") as server:
        assert server.text().count(line) == 1, server.text()
        assert httpx.get(f"{server.base_url}/_emulator/health").status_code == 200
    env = {"IMGEMU_CONTROL_TOKEN": TOKEN}
    with imgemu_serve(tmp_path, "--host", "0.0.0.0", env=env) as server:
        assert "warning" not in server.text(), server.text()
        base = server.base_url
        assert_refused(httpx.get(f"{base}/_emulator/health"), MISSING)
        control = {"X-Imgemu-Control-Token": TOKEN}
        assert httpx.get(f"{base}/_emulator/health", headers=control).json() == {"status": "ok"}
        assert httpx.get(f"{base}/metrics", headers=control).status_code == 200
        assert_refused(httpx.get(f"{base}/metrics"), MISSING)
