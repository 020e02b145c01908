"""The scale-out topology as local processes: Redis, ``imgemu serve`` replicas sharing it and
HAProxy in front, as docker/compose.yaml's ``load`` profile runs it in containers.

Several processes behave as one emulator: any of them answers any job, the contract suite and a
Locust run pass through the balancer, and a replica killed with SIGKILL mid-load loses nothing it
had accepted.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from tests.load.test_locust import AA, IMAGES, QUEUE, STREAM, accepted, assert_none_lost, run_locust
from tests.load.topology import CONTROL, start_replica, topology

pytestmark = [pytest.mark.server, pytest.mark.slow]

AUTH = {"Authorization": "Key load-test"}
FLAGS = ("--time-scale", "0.01")


def test_a_job_submitted_through_one_replica_is_answered_by_every_other(
    tmp_path: Path, redis_url: str
) -> None:
    with topology(tmp_path, redis_url, 3, *FLAGS) as shape:
        submitted = httpx.post(
            f"{shape.replicas[0].url}/model/v1/queue/gpt_image_1",
            json={"prompt": "an apple", "quality": "low"},
            headers=AUTH,
        ).json()
        request_id = submitted["request_id"]
        for replica in shape.replicas:
            status = httpx.get(
                f"{replica.url}/model/v1/queue/gpt_image_1/requests/{request_id}/status",
                headers=AUTH,
            )
            # 202 while the job waits, 200 once it has completed (fal's inference API)
            expected = 200 if status.json().get("status") == "COMPLETED" else 202
            assert status.status_code == expected, (replica.name, status.text)
            assert status.json()["request_id"] == request_id


@pytest.mark.parametrize(
    ("provider", "target"),
    [
        ("seacloud", "/seacloud/model"),
        ("odirouter", "/odirouter/model"),
        ("openai", "/v1"),
        ("agcloud", "/v1"),
        ("aa", ""),
    ],
)
def test_the_contract_suite_passes_through_the_balancer(
    tmp_path: Path, redis_url: str, provider: str, target: str
) -> None:
    with topology(tmp_path, redis_url, 2) as shape:
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "imgemu",
                "contract",
                "--provider",
                provider,
                "--target",
                shape.url + target,
                "--max-spend-usd",
                "0.05",
                "--examples",
                "3",
            ],
            capture_output=True,
            text=True,
            timeout=600,
            cwd=tmp_path,
        )
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]


def test_locust_through_the_balancer_fails_nothing_and_loses_no_job(
    tmp_path: Path, redis_url: str
) -> None:
    with topology(tmp_path, redis_url, 2, *FLAGS) as shape:
        stats = run_locust(tmp_path, shape.url, 12)
        assert set(stats) == QUEUE | IMAGES | STREAM | AA
        for name, row in stats.items():
            assert int(row["Request Count"]) > 0, name
            assert int(row["Failure Count"]) == 0, (name, row)
        ids = accepted(tmp_path)
        assert len(set(ids)) == len(ids) > 0, "a request id was issued twice"
        for replica in shape.replicas:  # every replica answers every job
            assert_none_lost(replica.url, ids)


def test_a_replica_killed_mid_load_loses_no_accepted_job(tmp_path: Path, redis_url: str) -> None:
    with topology(tmp_path, redis_url, 2, *FLAGS) as shape:
        accepted: list[str] = []
        stop = threading.Event()

        def submit() -> None:
            with httpx.Client(base_url=shape.url, headers=AUTH, timeout=10) as client:
                while not stop.is_set():
                    try:
                        answer = client.post(
                            "/model/v1/queue/gpt_image_1", json={"prompt": "p", "quality": "low"}
                        )
                    except httpx.TransportError:
                        continue  # cut by the kill: never accepted
                    if answer.status_code == 200:
                        accepted.append(answer.json()["request_id"])

        workers = [threading.Thread(target=submit) for _ in range(8)]
        for worker in workers:
            worker.start()
        time.sleep(1.5)
        victim = shape.replicas[0]
        victim.kill()
        time.sleep(1.5)
        stop.set()
        for worker in workers:
            worker.join(timeout=20)
        assert len(accepted) > 100
        assert len(set(accepted)) == len(accepted), "a request id was issued twice"
        survivor = shape.replicas[1]
        restarted = start_replica(tmp_path, "imgemu-0-again", "--store", redis_url, *FLAGS)
        try:
            for url in (survivor.url, restarted.url):
                with httpx.Client(base_url=url, headers=AUTH, timeout=10) as client:
                    for request_id in accepted:
                        status = client.get(
                            f"/model/v1/queue/gpt_image_1/requests/{request_id}/status"
                        )
                        done = status.json().get("status") == "COMPLETED"
                        expected = 200 if done else 202  # 202 while the job waits
                        assert status.status_code == expected, (url, request_id, status.text)
                        assert status.json()["status"] in ("IN_QUEUE", "IN_PROGRESS", "COMPLETED")
                jobs = httpx.get(
                    f"{url}/_emulator/jobs", params={"limit": 1}, headers=CONTROL
                ).json()
                assert jobs["total"] >= len(accepted)
        finally:
            restarted.stop()
