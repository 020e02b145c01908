"""The README's examples, run as a user runs them against the README's own ``imgemu serve``.

Every ``sh`` and ``python`` block is read from README.md; the only change made to what it says
is the port (the emulator runs on a free one, not 8000). Commands that cannot run here are left
out by rule, each rule named below: placeholders for ids the reader fills in, a real provider's
host, and the install, container and server-starting commands that other tests cover.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import free_port, mask_bytes, png_bytes, wait_healthy

pytestmark = [pytest.mark.slow, pytest.mark.server]

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")
BLOCK = re.compile(r"^```(\w+)\n(.*?)^```", re.M | re.S)
# What a command may contain for this test to leave it out, and why.
LEFT_OUT = {
    "<status_url>": "a placeholder the reader fills in",
    "<response_url>": "a placeholder the reader fills in",
    "mmsu_...": "a placeholder the reader fills in",
    "api.openai.com": "a real provider (the contract suite's own tests use emulators)",
    "imgemu serve": "starts a server: this test's is already running",
    "scripts/": "the quick start: tests/test_readme.py runs scripts/serve itself",
    "pip ": "installing: tests/packaging builds and installs the wheel",
    "docker ": "the container: tests/container builds and runs it with podman",
    "imgemu --version": "covered by tests/packaging",
    "locust ": "a load run: tests/load runs the scenarios against imgemu serve",
    "redis-server": "a shared store: tests/server/test_workers.py and tests/load run it",
}


def blocks(language: str) -> list[str]:
    return [body for lang, body in BLOCK.findall(README) if lang == language]


def scripts() -> list[str]:
    """The Python blocks that are scripts; a block defining tests is a test file for pytest,
    which tests/plugin runs through pytest as written."""
    return [body for body in blocks("python") if not re.search(r"^(async )?def test_", body, re.M)]


def commands(block: str) -> Iterator[str]:
    """Shell commands, continuation lines and multi-line quotes joined."""
    current: list[str] = []
    for line in block.splitlines():
        if not current and (not line.strip() or line.lstrip().startswith("#")):
            continue
        current.append(line)
        text = "\n".join(current)
        if not line.endswith("\\") and text.count("'") % 2 == 0 and text.count('"') % 2 == 0:
            yield text
            current = []
    assert not current, f"an unfinished command: {current}"


def runnable(command: str) -> bool:
    return not any(marker in command for marker in LEFT_OUT)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The README's quick-start server, ``./scripts/serve``, on a free port."""
    port = free_port()
    log = tmp_path_factory.mktemp("readme") / "serve.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith("IMGEMU_")}
    with log.open("w") as sink:
        process = subprocess.Popen(
            [str(ROOT / "scripts" / "serve"), "--port", str(port)],
            env=env,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    base = f"127.0.0.1:{port}"
    try:  # the first run installs the runtime dependencies
        wait_healthy(f"http://{base}", process, log.read_text, timeout=120)
        yield base
    finally:
        process.terminate()
        process.wait(timeout=15)


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    """A user's directory with the input files the examples name."""
    (tmp_path / "in.png").write_bytes(png_bytes((1024, 1024)))
    (tmp_path / "mask.png").write_bytes(mask_bytes((1024, 1024), (200, 200, 600, 600)))
    return tmp_path


def _env(server: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("IMGEMU_", "OPENAI_"))}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["IMGEMU_URL"] = f"http://{server}"  # the CLI's emulator, where the README says 8000
    return env


SHELL = [c for block in blocks("sh") for c in commands(block) if runnable(c)]


def test_the_readme_has_examples_of_every_kind() -> None:
    kinds = {c.split()[0] + (" " + c.split()[1] if c.startswith("imgemu") else "") for c in SHELL}
    assert {"curl", "imgemu generate", "imgemu contract"} <= kinds, kinds
    assert len(scripts()) == 2


def _run(argv: list[str], server: str, workdir: Path) -> subprocess.CompletedProcess[str]:
    """An example run as a user runs it, in ``workdir``; it must exit 0."""
    result = subprocess.run(
        argv, cwd=workdir, env=_env(server), capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    return result


@pytest.mark.parametrize("command", SHELL, ids=lambda c: c.split("\n")[0][:60])
def test_shell_example(command: str, server: str, workdir: Path) -> None:
    script = command.replace("127.0.0.1:8000", server)
    result = _run(["bash", "-euo", "pipefail", "-c", script], server, workdir)
    if command.startswith("curl"):
        body = json.loads(result.stdout)
        assert "error" not in body, body
        assert body.get("code", 0) == 0, body
        assert "detail" not in body, body


@pytest.mark.parametrize("index", range(len(scripts())))
def test_python_example(index: int, server: str, workdir: Path) -> None:
    code = scripts()[index].replace("127.0.0.1:8000", server)
    result = _run([sys.executable, "-c", code], server, workdir)
    assert "Traceback" not in result.stderr
