"""The Locust scenarios (docker/locust/locustfile.py), headless against a real ``imgemu serve``."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.helpers import free_port, wait_healthy

pytestmark = [pytest.mark.server, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
LOCUSTFILE = ROOT / "docker" / "locust" / "locustfile.py"
QUEUE = {"queue submit", "queue status", "queue result", "queue image"}
IMAGES = {"images generate"}
STREAM = {"images stream"}
AA = {"aa submit", "aa task", "aa image"}


def _serve(tmp_path: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    environ = {k: v for k, v in os.environ.items() if not k.startswith("IMGEMU_")}
    with (tmp_path / "serve.log").open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "imgemu", "serve", "--port", str(port), "--time-scale", "0.01"],
            cwd=tmp_path,
            env=environ,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    base_url = f"http://127.0.0.1:{port}"
    wait_healthy(base_url, process, lambda: (tmp_path / "serve.log").read_text())
    return process, base_url


def run_locust(tmp_path: Path, host: str, seconds: int, *options: str) -> dict[str, dict[str, str]]:
    """Run the scenarios headless; the CSV statistics row of each request name. The ids of
    the queue jobs the emulator accepted are in ``accepted.txt`` (see ``accepted``)."""
    prefix = tmp_path / "load"
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "locust",
            "-f",
            str(LOCUSTFILE),
            "--headless",
            "--users",
            "12",
            "--spawn-rate",
            "12",
            "--run-time",
            f"{seconds}s",
            "--stop-timeout",
            "20",
            "--host",
            host,
            "--csv",
            str(prefix),
            "--html",
            f"{prefix}.html",
            "--think-seconds",
            "0.2",
            "--accepted-file",
            str(tmp_path / "accepted.txt"),
            *options,
        ],
        capture_output=True,
        text=True,
        timeout=seconds + 60,
        cwd=tmp_path,
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert Path(f"{prefix}.html").stat().st_size > 1000
    with open(f"{prefix}_stats.csv", newline="", encoding="utf-8") as rows:
        return {row["Name"]: row for row in csv.DictReader(rows) if row["Name"] != "Aggregated"}


def accepted(tmp_path: Path) -> list[str]:
    """The queue jobs the last ``run_locust`` in ``tmp_path`` saw accepted."""
    return (tmp_path / "accepted.txt").read_text(encoding="utf-8").split()


def assert_none_lost(base_url: str, request_ids: list[str]) -> None:
    """Every accepted job answers its status (through ``base_url``: any replica will do)."""
    assert request_ids
    with httpx.Client(base_url=base_url, headers={"Authorization": "Bearer sk-imgemu-load"}) as c:
        for request_id in request_ids:
            answer = c.get(f"/model/v1/queue/gpt_image_1_5/requests/{request_id}/status")
            assert answer.status_code == 200, (request_id, answer.text)


@pytest.fixture
def emulator(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    process, base_url = _serve(tmp_path)
    yield process, base_url
    process.terminate()
    process.wait(timeout=15)


def test_every_scenario_runs_without_a_failure_and_no_accepted_job_is_lost(
    tmp_path: Path, emulator: tuple[subprocess.Popen[bytes], str]
) -> None:
    _, base_url = emulator
    stats = run_locust(tmp_path, base_url, 12)
    assert set(stats) == QUEUE | IMAGES | STREAM | AA
    for name, row in stats.items():
        assert int(row["Request Count"]) > 0, name
        assert int(row["Failure Count"]) == 0, (name, row)
    # Every submit Locust saw accepted is a job the emulator still holds. (It may hold a few
    # more: submits in flight when Locust stopped, whose answers it never counted.)
    ids = accepted(tmp_path)
    assert len(set(ids)) == len(ids) >= int(stats["queue submit"]["Request Count"]) > 0
    assert_none_lost(base_url, ids)


def test_a_user_kind_of_weight_zero_is_left_out(
    tmp_path: Path, emulator: tuple[subprocess.Popen[bytes], str]
) -> None:
    _, base_url = emulator
    stats = run_locust(tmp_path, base_url, 4, "--stream-weight", "0", "--aa-weight", "0")
    assert set(stats) == QUEUE | IMAGES
