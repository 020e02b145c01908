"""``imgemu serve`` as users run it: a real process, its start-up lines, logs and shutdown."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from emulator.settings import Settings, describe, env_name, load
from imgemu.cli import main
from tests.helpers import events, free_port, wait_healthy

pytestmark = pytest.mark.server

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Serving:
    process: subprocess.Popen[str]
    base_url: str
    log: Path

    def text(self) -> str:
        return self.log.read_text(encoding="utf-8")


@contextmanager
def imgemu_serve(
    tmp_path: Path, *flags: str, env: dict[str, str] | None = None
) -> Iterator[Serving]:
    """``imgemu serve`` in a child process (from another directory), until it is healthy."""
    port = free_port()
    log = tmp_path / f"serve-{port}.log"
    environ = {k: v for k, v in os.environ.items() if not k.startswith("IMGEMU_")}
    environ.update(env or {})
    with log.open("w", encoding="utf-8") as sink:
        process = subprocess.Popen(
            [sys.executable, "-m", "imgemu", "serve", "--port", str(port), *flags],
            cwd=tmp_path,
            env=environ,
            stdout=sink,
            stderr=subprocess.STDOUT,
            text=True,
        )
    serving = Serving(process, f"http://127.0.0.1:{port}", log)
    try:
        deadline = time.monotonic() + 20
        while "imgemu " not in serving.text() or "every provider" not in serving.text():
            assert process.poll() is None, serving.text()
            assert time.monotonic() < deadline, f"imgemu serve did not start:\n{serving.text()}"
            time.sleep(0.05)
        yield serving
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=10)


def test_start_up_lines_say_where_each_provider_lives(tmp_path: Path) -> None:
    with imgemu_serve(tmp_path, env={"IMGEMU_SED": "1"}) as server:
        text = server.text()
        base = server.base_url
        assert f"openai     {base}/v1" in text
        assert f"agcloud    {base}/v1" in text
        assert f"seacloud   {base}/model  (also {base}/seacloud/model)" in text
        assert f"odirouter  {base}/odirouter/model" in text
        assert f"aa         {base}\n" in text
        assert f"export OPENAI_BASE_URL={base}/v1" in text
        # an unknown variable is a warning, not a refusal to start
        assert "IMGEMU_SED is not a setting and is ignored (did you mean IMGEMU_SEED?)" in text
        assert httpx.get(f"{base}/_emulator/health").status_code == 200


def test_refused_requests_are_logged_with_their_reason_as_json(tmp_path: Path) -> None:
    with imgemu_serve(tmp_path, "--log-format", "json") as server:
        bad = httpx.post(
            f"{server.base_url}/v1/images/generations",
            headers={"Authorization": "Bearer k"},
            json={"prompt": "x", "size": "3x3"},
        )
        assert bad.status_code == 400
        ok = httpx.get(f"{server.base_url}/_emulator/health")
        assert ok.status_code == 200
        deadline = time.monotonic() + 5
        while "imgemu.requests" not in server.text():
            assert time.monotonic() < deadline, server.text()
            time.sleep(0.05)
        lines = [json.loads(line) for line in server.text().splitlines() if line.startswith("{")]
    assert lines, "no JSON lines"
    assert all({"time", "level", "logger", "message"} <= set(line) for line in lines)
    (refused,) = [line for line in lines if line["logger"] == "imgemu.requests"]
    assert refused["status"] == 400
    assert refused["method"] == "POST"
    assert refused["path"] == "/v1/images/generations"
    assert refused["reason"].startswith("invalid_value: Invalid value: '3x3'.")
    assert refused["level"] == "warning"
    start = [line for line in lines if line["logger"] == "imgemu"]
    assert start[0]["providers"]["openai"] == f"{server.base_url}/v1"


@pytest.mark.slow  # two servers; refused-request logging stays everyday (above)
def test_all_requests_can_be_logged_and_none(tmp_path: Path) -> None:
    with imgemu_serve(tmp_path, "--log-requests", "all") as server:
        httpx.get(f"{server.base_url}/_emulator/health")
        deadline = time.monotonic() + 5
        while '"GET /_emulator/health" 200' not in server.text():
            assert time.monotonic() < deadline, server.text()
            time.sleep(0.05)
    with imgemu_serve(tmp_path, "--log-requests", "off") as server:
        httpx.get(f"{server.base_url}/nowhere")
        time.sleep(0.3)
        assert "imgemu.requests" not in server.text()


@pytest.mark.slow  # SIGTERM's 503 for a waiting call stays everyday (below)
def test_sigterm_ends_open_streams_with_an_error_event_and_exits_in_time(tmp_path: Path) -> None:
    # On a virtual clock nobody moves, the stream would wait forever.
    with imgemu_serve(tmp_path, "--clock", "virtual", "--shutdown-timeout", "5") as server:
        body = {"model": "gpt-image-1", "prompt": "x", "stream": True, "partial_images": 2}
        with httpx.stream(
            "POST",
            f"{server.base_url}/v1/images/generations",
            json=body,
            headers={"Authorization": "Bearer k"},
            timeout=30,
        ) as stream:
            assert stream.status_code == 200
            time.sleep(0.2)
            started = time.monotonic()
            server.process.send_signal(signal.SIGTERM)
            text = "".join(stream.iter_text())
            server.process.wait(timeout=10)
            took = time.monotonic() - started
    found = events(text)
    assert [name for name, _ in found] == ["error"], text
    error = found[0][1]
    assert error["type"] == "error"
    assert error["error"]["type"] == "server_error"
    assert error["error"]["message"] == "The server is shutting down. Please retry your request."
    assert took < 5, f"stopping took {took:.1f}s: the stream held it to the timeout"


def test_sigterm_answers_a_waiting_call_503_in_its_dialect(tmp_path: Path) -> None:
    calls = {
        "openai": ("/v1/images/generations", {"model": "gpt-image-1", "prompt": "x"}),
        "aa": (
            "/api/v1/image/generation",
            {
                "model": "gpt-image-1.5",
                "prompt": "x",
                "images": [{"image_url": "https://example.com/a.png"}],
            },
        ),
    }
    answers: dict[str, httpx.Response] = {}
    with imgemu_serve(tmp_path, "--clock", "virtual") as server:

        def call(name: str) -> None:
            path, body = calls[name]
            headers = {"Authorization": "Bearer k"}
            answers[name] = httpx.post(server.base_url + path, json=body, headers=headers)

        with ThreadPoolExecutor(2) as pool:
            waiting = [pool.submit(call, name) for name in calls]
            time.sleep(0.5)  # both calls now wait on a clock that does not move
            assert not answers
            server.process.send_signal(signal.SIGTERM)
            for future in waiting:
                future.result(timeout=10)
    assert answers["openai"].status_code == 503, answers["openai"].text
    assert answers["openai"].json()["error"] == {
        "message": "The server is shutting down. Please retry your request.",
        "type": "server_error",
        "param": None,
        "code": "server_error",
    }
    assert answers["openai"].headers["x-request-id"].startswith("req_")
    assert answers["aa"].status_code == 503
    body = answers["aa"].json()
    assert (body["code"], body["message"], body["data"]) == (
        503,
        "Service is shutting down, please retry.",
        None,
    )


def test_help_lists_every_setting_with_its_variable(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["serve", "--help"])
    assert exit_info.value.code == 0
    text = " ".join(capsys.readouterr().out.split())
    for name, *_ in describe():
        assert f"--{name.replace('_', '-')}" in text, name
        assert f"[env {env_name(name)};" in text, name
    assert "[env IMGEMU_CONFIG]" in text


def test_flags_set_every_kind_of_setting(tmp_path: Path) -> None:
    with imgemu_serve(
        tmp_path,
        "--clock",
        "virtual",
        "--api-keys",
        '{"openai": ["sk-a"]}',
        "--rate-limit",
        '{"limit": 3, "window_seconds": 10}',
        "--blocked-terms",
        "apple,pear",
        "--steering",
    ) as server:
        capabilities = httpx.get(f"{server.base_url}/_emulator/capabilities").json()
        assert (capabilities["clock"], capabilities["steering"]) == ("virtual", True)
        refused = httpx.post(
            f"{server.base_url}/v1/images/generations",
            headers={"Authorization": "Bearer sk-b"},
            json={"prompt": "x"},
        )
        assert refused.status_code == 401


def test_bad_flag_values_are_one_line(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "imgemu", "serve", "--api-keys", '{"nobody": ["k"]}'],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
        cwd=tmp_path,
    )
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1, result.stderr
    assert result.stderr == (
        "imgemu: --api-keys: unknown provider 'nobody': one of seacloud, odirouter, openai, "
        "agcloud, aa\n"
    )
    assert "Traceback" not in result.stderr


def test_the_example_file_lists_every_setting_at_its_default() -> None:
    example = ROOT / "imgemu.example.toml"
    text = example.read_text(encoding="utf-8")
    for name, *_ in describe():
        assert f"{name} =" in text or f"[{name}]" in text or f"# {name} =" in text, name
        assert env_name(name) in text, name
    assert load(config=example, environ={}) == Settings()


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0
    from imgemu import __version__

    assert capsys.readouterr().out.strip() == f"imgemu {__version__}"
    assert __version__[0].isdigit()


def test_another_server_builds_the_app_from_the_environment(tmp_path: Path) -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("IMGEMU_")}
    env.update({"IMGEMU_CLOCK": "virtual", "IMGEMU_SEED": "7"})
    command = ["uvicorn", "--factory", "imgemu:from_environment", "--port", str(port)]
    process = subprocess.Popen(
        [sys.executable, "-m", *command, "--log-level", "warning"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        wait_healthy(base, process)
        capabilities = httpx.get(f"{base}/_emulator/capabilities").json()
        assert capabilities["clock"] == "virtual"
        assert httpx.get(f"{base}/").json()["seed"] == 7
    finally:
        process.terminate()
        process.wait(timeout=10)
