"""``imgemu serve`` as users run it: a real process, its start-up lines, flags and logs (its
shutdown: test_shutdown_waits.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from emulator.settings import Settings, describe, env_name, load
from imgemu.cli import main
from tests.helpers import free_port, wait_healthy
from tests.support.serve import imgemu_serve

pytestmark = pytest.mark.server

ROOT = Path(__file__).resolve().parents[2]


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
            json={"model": "gpt-image-1.5", "prompt": "x", "size": "3x3"},
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
