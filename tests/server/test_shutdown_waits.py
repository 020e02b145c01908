"""SIGTERM ends every wait a client can hold open, within ``--shutdown-timeout``, on either clock.

A real ``imgemu serve`` process is given one of each: a streamed OpenAI generation, synchronous
OpenAI and 典名词元 generations, edits of each protocol waiting for a slow remote input image
(``fetch_remote=allowlist``), and bodies still arriving (an OpenAI generation, a queue submit,
a 典名词元 upload). On SIGTERM each client gets its provider's error (a 503, or the stream's
``error`` event) at once, and the process exits well within the timeout. What no provider
answers (a control-plane call whose body never comes) is cut at the timeout, which still bounds
the exit.
"""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from tests.helpers import RunningServer, events
from tests.support.origin import Tally, origin_app
from tests.support.serve import Serving, imgemu_serve

pytestmark = pytest.mark.server

TIMEOUT = 5  # --shutdown-timeout
MARGIN = 1.5  # seconds beyond it that interpreter exit may take on a busy machine
KEY = {"Authorization": "Bearer sk-test"}
OPENAI_STOPPING = {
    "message": "The server is shutting down. Please retry your request.",
    "type": "server_error",
    "param": None,
    "code": "server_error",
}
AA_STOPPING = "Service is shutting down, please retry."
QUEUE_STOPPING = {"detail": "Service is shutting down, please retry"}


def raw_call(base_url: str, head: str, partial: bytes) -> tuple[int, dict[str, str], bytes]:
    """Send ``head`` (a request line and headers, ``\\r\\n``-separated, promising a longer
    body) and the first ``partial`` bytes of the body, then never the rest; the answer's
    status, headers and body, read until the server closes the connection."""
    host, port = base_url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        sock.sendall(head.encode("latin-1") + b"\r\n\r\n" + partial)
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
    top, _, body = received.partition(b"\r\n\r\n")
    status_line, *lines = top.decode("latin-1").split("\r\n")
    headers = {k.lower(): v.strip() for k, v in (line.split(":", 1) for line in lines)}
    return int(status_line.split()[1]), headers, body


def slow_bodies(base: str) -> dict[str, Callable[[], Any]]:
    """Calls whose bodies stop halfway, one per protocol."""
    boundary = "imgemu-test"
    form = (
        f"--{boundary}\r\nContent-Disposition: form-data; name=file; filename=a.png\r\n"
        "Content-Type: image/png\r\n\r\n\x89PNG"
    ).encode("latin-1")
    return {
        "openai.slow_body": lambda: raw_call(
            base,
            "POST /v1/images/generations HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer sk-test\r\n"
            "Content-Type: application/json\r\nContent-Length: 1000",
            b'{"model": "gpt-image-1", "prompt": "',
        ),
        "odirouter.slow_body": lambda: raw_call(
            base,
            "POST /odirouter/model/v1/queue/gpt_image_1 HTTP/1.1\r\nHost: x\r\n"
            "Authorization: Bearer sk-test\r\nContent-Type: application/json\r\n"
            "Content-Length: 1000",
            b'{"prompt": "',
        ),
        "aa.slow_upload": lambda: raw_call(
            base,
            "POST /api/v1/files HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer sk-test\r\n"
            f"Content-Type: multipart/form-data; boundary={boundary}\r\n"
            "Content-Length: 100000",
            form,
        ),
    }


def waits(base: str, slow_url: str) -> dict[str, Callable[[], Any]]:
    """Every kind of wait, each a call that returns what its client got."""

    def post(path: str, body: dict[str, Any]) -> Callable[[], httpx.Response]:
        return lambda: httpx.post(base + path, json=body, headers=KEY, timeout=30)

    def stream() -> str:
        body = {"model": "gpt-image-1", "prompt": "x", "stream": True, "partial_images": 2}
        with httpx.stream(
            "POST", f"{base}/v1/images/generations", json=body, headers=KEY, timeout=30
        ) as answer:
            assert answer.status_code == 200
            return "".join(answer.iter_text())

    image = [{"image_url": slow_url}]
    return {
        "openai.stream": stream,
        "openai.sync": post("/v1/images/generations", {"model": "gpt-image-1", "prompt": "x"}),
        "openai.fetch": post(
            "/v1/images/edits", {"model": "gpt-image-1.5", "prompt": "x", "images": image}
        ),
        "aa.sync": post(
            "/api/v1/image/generation",
            {
                "model": "gpt-image-1.5",
                "prompt": "x",
                "images": [{"image_url": "https://example.com/a.png"}],  # a placeholder
            },
        ),
        "aa.fetch": post(
            "/api/v1/image/generation", {"model": "gpt-image-1.5", "prompt": "x", "images": image}
        ),
        "seacloud.fetch": post(
            "/model/v1/queue/gpt_image_1_5_edit", {"prompt": "x", "images": [slow_url]}
        ),
        **slow_bodies(base),
    }


def assert_provider_errors(got: dict[str, Any]) -> None:
    """Each client got its provider's shutdown answer, none a cut connection."""
    found = events(got["openai.stream"])
    assert [name for name, _ in found][-1:] == ["error"], got["openai.stream"]
    assert all(name == "image_generation.partial_image" for name, _ in found[:-1])
    assert found[-1][1] == {"type": "error", "error": OPENAI_STOPPING}
    for name in ("openai.sync", "openai.fetch"):
        answer: httpx.Response = got[name]
        assert answer.status_code == 503, (name, answer.text)
        assert answer.json() == {"error": OPENAI_STOPPING}
        assert answer.headers["x-request-id"].startswith("req_")
    for name in ("aa.sync", "aa.fetch"):
        answer = got[name]
        assert answer.status_code == 503, (name, answer.text)
        body = answer.json()
        assert (body["code"], body["message"], body["data"]) == (503, AA_STOPPING, None)
        assert body["request_id"] == answer.headers["x-request-id"]
    assert got["seacloud.fetch"].status_code == 503
    assert got["seacloud.fetch"].json() == QUEUE_STOPPING
    status, headers, raw = got["openai.slow_body"]
    assert (status, json.loads(raw)) == (503, {"error": OPENAI_STOPPING})
    assert headers["x-request-id"].startswith("req_")
    status, _, raw = got["odirouter.slow_body"]
    assert (status, json.loads(raw)) == (503, QUEUE_STOPPING)
    status, _, raw = got["aa.slow_upload"]
    body = json.loads(raw)
    assert (status, body["code"], body["message"]) == (503, 503, AA_STOPPING)


def stop(server: Serving) -> float:
    """Send SIGTERM; the seconds until the process is gone."""
    started = time.monotonic()
    server.process.send_signal(signal.SIGTERM)
    try:
        server.process.wait(timeout=TIMEOUT + 30)
    except subprocess.TimeoutExpired:  # the failure this file exists to catch
        pytest.fail(f"imgemu serve did not stop:\n{server.text()}")
    return time.monotonic() - started


@pytest.mark.parametrize("clock", ["virtual", "real"])
def test_sigterm_ends_every_wait_with_the_providers_error_within_the_timeout(
    tmp_path: Path, serve: Callable[[Starlette], RunningServer], clock: str
) -> None:
    tally = Tally()
    origin = serve(origin_app(tally))
    slow_url = f"{origin.base_url}/slow.png?seconds=60"
    flags = [
        *("--clock", clock, "--time-scale", "1", "--shutdown-timeout", str(TIMEOUT)),
        *("--fetch-remote", "allowlist", "--fetch-allowlist", "127.0.0.1"),
        *("--fetch-timeout", "60"),
    ]
    with imgemu_serve(tmp_path, *flags) as server:
        calls = waits(server.base_url, slow_url)
        with ThreadPoolExecutor(len(calls)) as pool:
            running: dict[str, Future[Any]] = {name: pool.submit(f) for name, f in calls.items()}
            deadline = time.monotonic() + 10
            while tally.active < 3:  # the three fetches wait at the origin
                assert time.monotonic() < deadline, tally
                time.sleep(0.02)
            time.sleep(0.3)  # and the other calls, sent at the same time, wait too
            assert not [name for name, f in running.items() if f.done()]
            took = stop(server)
            got = {name: future.result(timeout=10) for name, future in running.items()}
    assert_provider_errors(got)
    assert took < TIMEOUT + MARGIN, f"stopping took {took:.1f}s"
    # Nothing waited for the timeout: every wait ended when the server began to stop.
    assert took < 2.5, f"stopping took {took:.1f}s: something held it"
    assert "Traceback" not in server.text(), server.text()


@pytest.mark.parametrize("timeout", [0, 2])
def test_sigterm_cuts_what_no_provider_answers_at_the_timeout(tmp_path: Path, timeout: int) -> None:
    with imgemu_serve(tmp_path, "--clock", "virtual", "--shutdown-timeout", str(timeout)) as server:
        head = (
            "POST /_emulator/clock HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            "Content-Length: 1000"
        )
        with ThreadPoolExecutor(1) as pool:
            held = pool.submit(raw_call, server.base_url, head, b'{"advance": ')
            time.sleep(0.3)
            took = stop(server)
            status, _, _ = held.result(timeout=10)
    assert status == 500  # uvicorn's answer for a call cut at the timeout
    assert timeout - 0.2 < took < timeout + MARGIN, f"stopping took {took:.1f}s"
