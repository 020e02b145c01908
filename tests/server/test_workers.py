"""``imgemu serve --workers N``: several processes on one port, one emulator through Redis."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
import redis

from tests.load.topology import Process, free_port, start_replica

pytestmark = pytest.mark.server

AUTH = {"Authorization": "Key workers"}
SUBMIT = "/model/v1/queue/gpt_image_1"


def _nodes(redis_url: str) -> list[bytes]:
    client = redis.Redis.from_url(redis_url)
    try:
        return sorted(client.keys("imgemu:*:node:*"))
    finally:
        client.close()


def _wait_for_workers(served: Process, redis_url: str, count: int) -> None:
    deadline = time.monotonic() + 30
    while len(_nodes(redis_url)) < count:
        assert time.monotonic() < deadline, served.output()
        time.sleep(0.1)


def _status_code(answer: httpx.Response) -> int:
    """The code a status read should have: 202 while the job waits, 200 once completed."""
    return 200 if answer.json().get("status") == "COMPLETED" else 202


def _submit_many(base_url: str, count: int) -> list[str]:
    def submit(_: int) -> str:
        # A new connection each time, so the kernel spreads them over the workers.
        answer = httpx.post(base_url + SUBMIT, json={"prompt": "p"}, headers=AUTH, timeout=10)
        assert answer.status_code == 200, answer.text
        request_id: str = answer.json()["request_id"]
        return request_id

    with ThreadPoolExecutor(8) as pool:
        return list(pool.map(submit, range(count)))


def test_more_workers_than_one_need_a_shared_store(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("IMGEMU_")}
    result = subprocess.run(
        [sys.executable, "-m", "imgemu", "serve", "--workers", "2", "--port", str(free_port())],
        capture_output=True,
        text=True,
        timeout=30,
        cwd=tmp_path,
        env=env,
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "imgemu: --workers: 2 workers need a shared store (--store redis://HOST:PORT/DB): with "
        "the memory store each worker would keep jobs the others cannot see (got 2)"
    ]


@pytest.mark.slow
def test_workers_serve_one_emulator_with_ids_apart_and_stop_on_sigterm(
    tmp_path: Path, redis_url: str
) -> None:
    served = start_replica(tmp_path, "workers", "--workers", "2", "--store", redis_url)
    try:
        _wait_for_workers(served, redis_url, 2)  # each holds its own node number once up
        ids = _submit_many(served.url, 200)
        assert len(set(ids)) == len(ids), "two workers issued the same id"
        with httpx.Client(base_url=served.url, headers=AUTH) as client:
            for request_id in ids:  # every worker answers for every job
                answer = client.get(f"{SUBMIT}/requests/{request_id}/status")
                assert answer.status_code == _status_code(answer), answer.text
        started = time.monotonic()
        served.process.send_signal(signal.SIGTERM)
        served.process.wait(timeout=20)
        assert time.monotonic() - started < 10
        assert served.process.returncode == 0, served.output()
        assert _nodes(redis_url) == []  # the node numbers were let go
    finally:
        served.kill()


@pytest.mark.slow
def test_a_worker_killed_is_replaced_and_nothing_it_accepted_is_lost(
    tmp_path: Path, redis_url: str
) -> None:
    served = start_replica(tmp_path, "workers", "--workers", "2", "--store", redis_url)
    try:
        _wait_for_workers(served, redis_url, 2)
        before = _submit_many(served.url, 50)
        children = subprocess.run(
            ["pgrep", "-P", str(served.process.pid)], capture_output=True, text=True, check=True
        ).stdout.split()
        workers = [pid for pid in children if "spawn_main" in _cmdline(pid)]
        assert len(workers) == 2, children
        os.kill(int(workers[0]), signal.SIGKILL)
        deadline = time.monotonic() + 30
        while "starting another" not in served.output():
            assert time.monotonic() < deadline, served.output()
            time.sleep(0.1)
        after = _submit_many(served.url, 50)
        with httpx.Client(base_url=served.url, headers=AUTH) as client:
            for request_id in before + after:
                answer = client.get(f"{SUBMIT}/requests/{request_id}/status")
                assert answer.status_code == _status_code(answer), answer.text
    finally:
        served.stop()


def _cmdline(pid: str) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_text().replace("\0", " ")
    except OSError:
        return ""


@pytest.mark.slow
def test_a_lone_process_on_redis_repeats_the_memory_stores_ids(
    tmp_path: Path, redis_url: str
) -> None:
    flags = ("--seed", "7", "--clock", "virtual", "--clock-start", "1800000000")
    runs: list[list[str]] = []
    for store in ("memory", redis_url):
        replica: Process = start_replica(tmp_path, f"lone-{len(runs)}", "--store", store, *flags)
        try:
            runs.append([_submit_many(replica.url, 1)[0] for _ in range(3)])
        finally:
            replica.stop()
    assert runs[0] == runs[1]
