"""Two emulators on one Redis answer as one, over real HTTP; an unreachable Redis stops
``imgemu serve`` with one readable line."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from PIL import Image
from starlette.applications import Starlette

from emulator.app import create_app
from emulator.settings import Settings, SettingsError
from tests.helpers import RunningServer, follow_job, free_port
from tests.seeds import SEED_GPT_IMAGE_1

pytestmark = pytest.mark.server

QUEUE = "/model/v1/queue/gpt_image_1"


def shared_app(url: str, seed: int, **values: Any) -> Starlette:
    # Two apps with one seed would issue the same request ids (the ids' discriminator across
    # processes is not there yet), so the second takes another seed. Result URLs are signed
    # with the random key the first of them stored in Redis: no secret needs configuring.
    settings = Settings(store=url, seed=seed, steering=True, log_requests="off", **values)
    return create_app(settings)


def on(server: RunningServer, url: str) -> str:
    """``url`` (absolute, as another server wrote it) pointed at ``server``."""
    path = url.split("/", 3)[3]
    return f"{server.base_url}/{path}"


def test_a_job_submitted_through_one_emulator_is_read_through_the_other(
    serve: Callable[[Starlette], RunningServer], redis_url: str
) -> None:
    # Positions counted (SeaCloud's page fixes them at 0 by default), and a running job canceled
    # ends at once (by default it runs to its end), so the jobs behind it move up.
    counted = {
        "time_scale": 1.0,
        "model_slots": {"gpt_image_1": 1},
        "queue_position_zero": (),
        "queue_cancel_running": "cancel",
    }
    one = serve(shared_app(redis_url, 0, **counted))
    two = serve(shared_app(redis_url, 1, **counted))
    auth = {"Authorization": "Key k"}
    with httpx.Client(headers=auth, timeout=10) as client:
        # Three slow jobs on one slot through the first: one runs, two wait.
        submitted = [
            client.post(one.base_url + QUEUE, json=SEED_GPT_IMAGE_1).json() for _ in range(3)
        ]
        ids = [s["request_id"] for s in submitted]
        assert len(set(ids)) == 3
        statuses = [client.get(on(two, s["status_url"])).json() for s in submitted]
        assert [s["status"] for s in statuses] == ["IN_PROGRESS", "IN_QUEUE", "IN_QUEUE"]
        assert [s.get("queue_position") for s in statuses[1:]] == [0, 1]
        # A job submitted through the second queues behind the first's, in the same pool.
        fourth = client.post(two.base_url + QUEUE, json=SEED_GPT_IMAGE_1).json()
        assert fourth["request_id"] not in ids
        assert client.get(on(one, fourth["status_url"])).json()["queue_position"] == 2
        # Canceled through the second, seen through the first: the queue moves up.
        assert client.put(on(two, submitted[0]["cancel_url"])).status_code == 202
        after = [client.get(s["status_url"]).json() for s in submitted]
        assert [s["status"] for s in after] == ["COMPLETED", "IN_PROGRESS", "IN_QUEUE"]
        assert after[0]["error_type"] == "CANCELED"
        assert after[2]["queue_position"] == 0
        # The control plane of either lists every job.
        listed = client.get(two.base_url + "/_emulator/jobs").json()
        assert listed["total"] == 4

        # A quick job (steered latency) through the first, its result and image from the second.
        quick = client.post(
            one.base_url + "/model/v1/queue/gpt_image_2",
            json={**SEED_GPT_IMAGE_1, "output_format": "png"},
            headers={"X-Imgemu-Latency": "0.05"},
        ).json()
        final = follow_job(client, on(two, quick["status_url"]))
        assert "error" not in final, final
        result = client.get(on(two, quick["response_url"])).json()
        (output,) = result["outputs"]
        assert output["url"].startswith(two.base_url)
        image = client.get(output["url"], headers={"Authorization": ""})
        assert image.status_code == 200
        assert Image.open(io.BytesIO(image.content)).format == "PNG"
        again = client.get(on(one, output["url"]), headers={"Authorization": ""})
        assert again.status_code == 200  # (the bytes differ: the drawing follows each seed)


def test_settings_refuse_a_store_that_is_no_redis_url() -> None:
    with pytest.raises(SettingsError, match="store: must be 'memory' or a redis://"):
        Settings(store="postgres://db/0")


def test_serve_with_an_unreachable_redis_says_so_in_one_line() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("IMGEMU_")}
    command = [sys.executable, "-m", "imgemu", "serve", "--port", str(free_port())]
    result = subprocess.run(
        [*command, "--store", "redis://127.0.0.1:1/0"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1
    assert result.stderr.startswith("imgemu: cannot reach the store redis://127.0.0.1:1/0: ")
    assert result.stderr.count("\n") == 1, result.stderr
    assert "Traceback" not in result.stderr
