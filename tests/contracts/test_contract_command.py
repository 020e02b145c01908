"""``imgemu contract`` out of the box: the documented commands against a default ``imgemu serve``,
both forms of ``--target``, and one-line refusals (exit 2) before any call to the target: checks
that do not apply, an unreachable target, Schemathesis and Hypothesis missing."""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from clients._core import emulator_base_url
from contracts import Unreachable, run_contract
from contracts import cli as contract_cli
from imgemu.cli import main
from tests.helpers import RunningServer, free_port
from tests.support.contracts import KEY, PROVIDERS

HINT = "pip install 'imgemu[contract]'"
# Run first in a child interpreter: Schemathesis and Hypothesis cannot be imported, as in an
# environment where imgemu is installed without the ``contract`` extra.
BLOCKER = """
import sys

class Blocker:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("schemathesis", "hypothesis", "_hypothesis_pytestplugin"):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None

sys.meta_path.insert(0, Blocker())
"""


def _stderr_line(capsys: pytest.CaptureFixture[str]) -> str:
    captured = capsys.readouterr()
    lines = captured.err.splitlines()
    assert len(lines) == 1, captured.err
    assert captured.out == ""
    return lines[0]


@pytest.fixture
def listener() -> Iterator[tuple[str, Callable[[], bool]]]:
    """A root URL whose port listens but never answers, and whether anyone connected."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)

    def connected() -> bool:
        # Asked after the command returned: a connection it made is already queued (the
        # kernel accepts it before connect() returns), so a short wait suffices.
        sock.settimeout(0.05)
        try:
            sock.accept()[0].close()
        except TimeoutError:
            return False
        return True

    yield f"http://127.0.0.1:{sock.getsockname()[1]}", connected
    sock.close()


def _run_python(
    code: str, *args: str, cwd: Path | None = None, block: bool = True
) -> subprocess.CompletedProcess[str]:
    """``code`` in a child interpreter, Schemathesis and Hypothesis blocked unless ``block`` is
    false."""
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    prelude = BLOCKER if block else "import sys\n"
    return subprocess.run(
        [sys.executable, "-c", prelude + code, *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=cwd,
        env=env,
        check=False,
    )


# --- the command line --------------------------------------------------------------------------


def test_every_flag_has_help() -> None:
    sub = argparse.ArgumentParser().add_subparsers()
    contract_cli.register(sub)
    parser = sub.choices["contract"]
    flags = [a for a in parser._actions if a.option_strings and a.dest != "help"]
    assert {a.dest for a in flags} >= {"provider", "target", "api_key", "checks", "report"}
    for action in flags:
        assert action.help, action.option_strings


def test_argument_errors_are_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stopped:
        main(["contract", "--provider", "openai"])
    assert stopped.value.code == 2
    line = _stderr_line(capsys)
    assert line.startswith("imgemu contract: the following arguments are required: --target")


@pytest.mark.parametrize(
    ("provider", "check", "message"),
    [
        ("openai", "queue_lifecycle", "queue_lifecycle does not apply to openai (its checks: "),
        ("seacloud", "stream_events", "stream_events does not apply to seacloud (its checks: "),
        ("aa", "stream_lifecycle", "stream_lifecycle does not apply to aa (its checks: "),
        ("agcloud", "no_such_check", "unknown checks: no_such_check (known: spec_negative, "),
    ],
)
def test_a_check_that_does_not_apply_exits_2_before_any_call(
    listener: tuple[str, Callable[[], bool]],
    capsys: pytest.CaptureFixture[str],
    provider: str,
    check: str,
    message: str,
) -> None:
    root, connected = listener
    target = emulator_base_url(provider, root)
    args = ["contract", "--provider", provider, "--target", target, "--check", check]
    assert main([*args, "--check", "image_properties"]) == 2
    assert _stderr_line(capsys).startswith(f"imgemu contract: {message}")
    assert not connected()


def test_an_unreachable_target_exits_2_before_any_check(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    port = free_port()  # nothing listens there
    report = tmp_path / "contract.md"
    args = ["--provider", "openai", "--target", f"http://127.0.0.1:{port}", "--report", str(report)]
    assert main(["contract", *args]) == 2
    line = _stderr_line(capsys)
    assert line.startswith(
        f"imgemu contract: cannot reach http://127.0.0.1:{port}/v1: ConnectError"
    )
    assert not report.exists()  # no report: nothing ran, nothing was booked
    with pytest.raises(Unreachable, match="cannot reach"):
        run_contract("seacloud", f"http://127.0.0.1:{port}/seacloud/model", api_key=KEY)


def test_a_target_that_answers_anything_is_reachable(
    serve: Callable[[Any], RunningServer], capsys: pytest.CaptureFixture[str]
) -> None:
    async def teapot(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            await send({"type": "http.response.start", "status": 418, "headers": []})
            await send({"type": "http.response.body", "body": b""})

    server = serve(teapot)
    args = ["--provider", "aa", "--target", server.base_url, "--check", "auth_enforced"]
    assert main(["contract", *args]) == 1  # it ran, and found a teapot
    assert "auth_enforced" in capsys.readouterr().out


# --- both forms of --target --------------------------------------------------------------------


# Slow, with their everyday counterparts: a target with its suffix is what every run in
# test_contract_runner.py::test_the_emulator_passes_every_check gives (openai, agcloud);
# agcloud's bare root goes through the same suffixing as openai's (everyday here).
@pytest.mark.parametrize(
    ("provider", "suffix", "checks"),
    [
        pytest.param(
            "openai",
            "/v1",
            ("spec_negative", "stream_events", "image_properties"),
            marks=pytest.mark.slow,
        ),
        ("openai", "", ("spec_negative", "stream_events", "image_properties")),
        pytest.param(
            "agcloud", "/v1", ("stream_events", "image_properties"), marks=pytest.mark.slow
        ),
        pytest.param("agcloud", "", ("auth_enforced", "image_properties"), marks=pytest.mark.slow),
        # seacloud's negative pass takes seconds: slow (odirouter covers a queue target).
        pytest.param(
            "seacloud",
            "/seacloud/model",
            ("spec_negative", "image_properties"),
            marks=pytest.mark.slow,
        ),
        ("odirouter", "/odirouter", ("auth_enforced", "image_properties")),
        ("aa", "", ("spec_negative", "image_properties")),
    ],
)
def test_the_target_is_the_base_url_with_or_without_its_suffix(
    emulator: RunningServer, provider: str, suffix: str, checks: tuple[str, ...]
) -> None:
    report = run_contract(
        provider,
        emulator.base_url + suffix + "/",
        api_key=KEY,
        checks=list(checks),
        examples=2,
        derandomize=True,
    )
    assert report.ok, [(o.check, o.operation, o.detail[:300]) for o in report.failures()]
    assert {o.check for o in report.outcomes} == set(checks)
    assert report.target == emulator_base_url(provider, emulator.base_url)


# --- without the contract extra ----------------------------------------------------------------


def test_without_the_extras_the_command_exits_2_with_the_hint_before_any_call(
    listener: tuple[str, Callable[[], bool]],
) -> None:
    root, connected = listener
    code = "from imgemu.cli import main; sys.exit(main(sys.argv[1:]))"
    ran = _run_python(code, "contract", "--provider", "openai", "--target", root + "/v1")
    assert ran.returncode == 2, ran.stderr
    (line,) = ran.stderr.splitlines()
    assert line.startswith("imgemu contract: ")
    assert HINT in line
    assert ran.stdout == ""
    assert not connected()


# Each is a fresh interpreter without the extras: one in the everyday loop, the others slow.
@pytest.mark.parametrize(
    "args",
    [
        ["--help"],
        pytest.param(["contract", "--help"], marks=pytest.mark.slow),
        pytest.param(["serve", "--help"], marks=pytest.mark.slow),
    ],
)
def test_without_the_extras_help_still_works(args: list[str]) -> None:
    ran = _run_python("from imgemu.cli import main; sys.exit(main(sys.argv[1:]))", *args)
    assert ran.returncode == 0, ran.stderr
    assert "usage: imgemu" in ran.stdout
    assert ran.stderr == ""


def test_the_light_parts_import_neither_schemathesis_nor_hypothesis() -> None:
    """Installed or not, the command line and the plugin (loaded by every pytest run) leave
    them alone."""
    code = (
        "import importlib\n"
        "for name in ('contracts', 'contracts.cli', 'contracts.plugin', 'imgemu.cli'):\n"
        "    importlib.import_module(name)\n"
        "import contracts\n"
        "assert callable(contracts.checks_for) and 'spec_negative' in contracts.REGISTRY\n"
        "heavy = sorted(m for m in sys.modules if m.startswith(('schemathesis', 'hypothesis')))\n"
        "print(heavy)\n"
    )
    ran = _run_python(code, block=False)
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.strip() == "[]"


def test_without_the_extras_pytest_runs_and_the_plugin_asks_for_them(tmp_path: Path) -> None:
    (tmp_path / "pytest.ini").write_text("[pytest]\n", encoding="utf-8")
    (tmp_path / "test_plain.py").write_text("def test_plain():\n    pass\n", encoding="utf-8")
    code = "import pytest; sys.exit(pytest.main(sys.argv[1:]))"
    # Without the extra their plugins are not installed either: leave them out here too.
    base = ["-p", "no:hypothesispytest", "-p", "no:schemathesis", "-p", "no:cacheprovider"]
    plain = _run_python(code, *base, "-q", cwd=tmp_path)
    assert plain.returncode == 0, plain.stdout + plain.stderr
    assert "1 passed" in plain.stdout
    contract = ["--contract-provider", "openai", "--contract-target", "http://127.0.0.1:9"]
    asked = _run_python(code, *base, *contract, cwd=tmp_path)
    assert asked.returncode == pytest.ExitCode.USAGE_ERROR, asked.stdout + asked.stderr
    assert HINT in asked.stderr


# --- the documented commands against a default `imgemu serve` ----------------------------------


@pytest.fixture
def default_serve(tmp_path: Path) -> Iterator[str]:
    """A real ``imgemu serve`` with its defaults (a free port instead of 8000): its root URL."""
    port = free_port()
    script = Path(sys.executable).with_name("imgemu")
    command = [str(script)] if script.exists() else [sys.executable, "-m", "imgemu.cli"]
    log = (tmp_path / "serve.log").open("w")
    proc = subprocess.Popen(
        [*command, "serve", "--port", str(port)], stdout=log, stderr=subprocess.STDOUT
    )
    root = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            httpx.get(root, timeout=1)
            break
        except httpx.TransportError:
            assert proc.poll() is None, (tmp_path / "serve.log").read_text()
            assert time.monotonic() < deadline, "imgemu serve did not start"
            time.sleep(0.1)
    yield root
    proc.terminate()
    try:
        proc.wait(timeout=15)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        log.close()


@pytest.mark.slow
@pytest.mark.server
def test_the_documented_commands_pass_against_a_default_emulator(
    default_serve: str, capsys: pytest.CaptureFixture[str]
) -> None:
    for provider in PROVIDERS:
        target = emulator_base_url(provider, default_serve)
        code = main(["contract", "--provider", provider, "--target", target])
        out = capsys.readouterr()
        assert code == 0, (provider, out.err, out.out[-3000:])
        assert out.out.startswith(f"# Contract report: {provider}")
    # The README's example, under a cap.
    target = emulator_base_url("seacloud", default_serve)
    assert (
        main(["contract", "--provider", "seacloud", "--target", target, "--max-spend-usd", "0.05"])
        == 0
    )
