"""``imgemu serve`` as users run it: a child process started from another directory."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.helpers import free_port


@dataclass
class Serving:
    """A running ``imgemu serve``: its process, base URL and log file (stdout and stderr)."""

    process: subprocess.Popen[str]
    base_url: str
    log: Path

    def text(self) -> str:
        return self.log.read_text(encoding="utf-8")


@contextmanager
def imgemu_serve(
    tmp_path: Path, *flags: str, env: dict[str, str] | None = None
) -> Iterator[Serving]:
    """``imgemu serve`` in a child process (from another directory), until it is healthy;
    killed afterwards if it still runs."""
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
