"""Against real servers: uvicorn on a free loopback port, and ``imgemu serve`` as a process."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable

import httpx
import pytest
from starlette.applications import Starlette

from emulator.app import create_app
from emulator.settings import Settings
from tests.helpers import RunningServer, decode, follow_job, free_port, wait_healthy
from tests.seeds import SEED_GPT_IMAGE_1, SEED_GPT_IMAGE_2_EDIT

pytestmark = pytest.mark.server


@pytest.mark.parametrize(
    ("prefix", "model", "body", "auth"),
    [
        ("/model", "gpt_image_1", SEED_GPT_IMAGE_1, "Key k"),
        ("/model", "gpt_image_2_edit", SEED_GPT_IMAGE_2_EDIT, "Bearer k"),
        ("/odirouter/model", "gpt_image_2_edit", SEED_GPT_IMAGE_2_EDIT, "Bearer k"),
    ],
)
def test_seed_requests_complete_over_real_sockets(
    serve: Callable[[Starlette], RunningServer],
    prefix: str,
    model: str,
    body: dict[str, object],
    auth: str,
) -> None:
    server = serve(create_app(Settings(time_scale=0.001)))
    with httpx.Client(base_url=server.base_url, headers={"Authorization": auth}) as client:
        response = client.post(f"{prefix}/v1/queue/{model}", json=body)
        assert response.status_code == 200
        submitted = response.json()
        assert submitted["status_url"].startswith(f"{server.base_url}{prefix}/v1/queue/{model}/")
        final = follow_job(client, submitted["status_url"])
        assert "error" not in final, final
        result = client.get(submitted["response_url"]).json()
        (output,) = result["outputs"]
        image = client.get(output["url"], headers={"Authorization": ""})
        decoded = decode(image.content)
        assert (decoded.format, decoded.size) == ("JPEG", (1024, 1024))


def test_urls_follow_the_host_the_client_used(serve: Callable[[Starlette], RunningServer]) -> None:
    server = serve(create_app(Settings(time_scale=0.001)))
    with httpx.Client(base_url=server.base_url, headers={"Authorization": "Key k"}) as client:
        response = client.post(
            "/model/v1/queue/gpt_image_1",
            json=SEED_GPT_IMAGE_1,
            headers={"Host": "images.internal:9000"},
        )
    assert response.json()["status_url"].startswith("http://images.internal:9000/model/v1/queue/")


def test_imgemu_serve_starts_with_embedded_defaults(tmp_path: object) -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("IMGEMU_")}
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "imgemu",
            "serve",
            "--port",
            str(port),
            "--time-scale",
            "0.001",
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        wait_healthy(base, process, lambda: process.stdout.read() if process.stdout else "")
        capabilities = httpx.get(f"{base}/_emulator/capabilities").json()
        assert capabilities["providers"]["seacloud"]["path"] == "/model"
        assert capabilities["clock"] == "real"
        document = httpx.get(f"{base}/openapi/seacloud.json").json()
        assert document["servers"][0]["url"] == f"{base}/model"
        with httpx.Client(base_url=base, headers={"Authorization": "Key k"}) as client:
            submitted = client.post("/model/v1/queue/gpt_image_1", json=SEED_GPT_IMAGE_1).json()
            follow_job(client, submitted["status_url"])
    finally:
        process.terminate()
        process.wait(timeout=10)
        if process.stdout:
            process.stdout.close()


# A bad flag's one line and exit 2 from the process stay everyday in
# tests/server/test_serve.py::test_bad_flag_values_are_one_line, this message in test_settings.py.
@pytest.mark.slow
def test_bad_settings_exit_with_a_clear_message() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "imgemu", "serve", "--time-scale", "0"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 2
    assert result.stderr == "imgemu: --time-scale: must be greater than 0 (got 0.0)\n"
