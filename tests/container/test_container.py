"""The container image (docker/Dockerfile), built with podman from this repository and run.

Needs podman, runc and the local base image ``localhost/debian-python:bookworm``:
``scripts/ci-system-deps`` installs them (CI runs it). Without them these tests fail, on
purpose; deselect them with ``-m 'not container'``.

The image is built once per module with a unique tag and removed afterwards; every container
is removed too. Containers share the machine's network (``--network host``: no container
networks here), so each one serves on a free loopback port given through ``IMGEMU_PORT``,
which the image's HEALTHCHECK follows as well.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.helpers import decode, free_port

pytestmark = [pytest.mark.container, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
BASE = "localhost/debian-python:bookworm"
# The settings these machines need (see scripts/podman): runc, and cgroupfs (no systemd).
PODMAN = ("podman", "--runtime", "runc", "--cgroup-manager=cgroupfs")
CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")  # pip inside the build needs it
BUILD_TIMEOUT = 900.0  # seconds; pip downloads the dependencies from PyPI
AUTH = {"Authorization": "Key any-key"}
STOP_GRACE = 10  # seconds podman waits after SIGTERM before SIGKILL


def podman(
    *args: str, timeout: float = 60.0, check: bool = True
) -> subprocess.CompletedProcess[str]:
    """Run one podman command; a failure reports its output."""
    command = [*PODMAN, *args]
    result = subprocess.run(
        command, capture_output=True, text=True, timeout=timeout, check=False, cwd=REPO
    )
    if check and result.returncode != 0:
        pytest.fail(
            f"{' '.join(command)} exited {result.returncode}\n"
            f"stdout:\n{result.stdout[-4000:]}\nstderr:\n{result.stderr[-4000:]}"
        )
    return result


@dataclass(frozen=True)
class Container:
    name: str
    base_url: str


@pytest.fixture(scope="module")
def image() -> Iterator[str]:
    """The image built from the repository's working tree, with a unique tag."""
    if shutil.which("podman") is None:
        pytest.fail(
            "podman is not installed: run scripts/ci-system-deps (installs podman, runc and "
            "debootstrap, then makes the base image), or deselect with -m 'not container'"
        )
    if podman("image", "exists", BASE, check=False).returncode != 0:
        pytest.fail(f"the base image {BASE} is missing: run scripts/container-base")
    tag = f"localhost/imgemu-test:{uuid.uuid4().hex[:12]}"
    mount = ["-v", f"{CA_BUNDLE}:{CA_BUNDLE}:ro"] if CA_BUNDLE.exists() else []
    try:
        podman(
            "build",
            # The docker format keeps HEALTHCHECK (the OCI format drops it); no cached
            # layers, so removing the tag leaves no intermediate images behind.
            "--format=docker",
            "--layers=false",
            "--isolation=chroot",
            "--network=host",
            *mount,
            "--build-arg",
            f"BASE={BASE}",
            "--file",
            "docker/Dockerfile",
            "--tag",
            tag,
            ".",
            timeout=BUILD_TIMEOUT,
        )
        yield tag
    finally:
        podman("rmi", "--force", tag, check=False)


def start(image: str, *env: str) -> Container:
    """Run the image's own entry point on a free loopback port; wait until it is healthy."""
    name = f"imgemu-test-{uuid.uuid4().hex[:12]}"
    port = free_port()
    env_args = [arg for item in (f"IMGEMU_PORT={port}", *env) for arg in ("--env", item)]
    # The image's command binds 0.0.0.0; on the host network the test keeps it on loopback.
    podman(
        "run",
        "--detach",
        "--name",
        name,
        "--network=host",
        *env_args,
        image,
        "serve",
        "--host",
        "127.0.0.1",
    )
    container = Container(name, f"http://127.0.0.1:{port}")
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(f"{container.base_url}/_emulator/health", timeout=2).status_code == 200:
                return container
        except httpx.TransportError:
            pass
        state = inspect(name)["State"]
        if not state["Running"] or time.monotonic() > deadline:
            logs = podman("logs", name, check=False)
            remove(name)
            pytest.fail(
                f"the container did not answer /_emulator/health (state {state['Status']}, "
                f"exit code {state['ExitCode']})\n{logs.stdout[-4000:]}{logs.stderr[-4000:]}"
            )
        time.sleep(0.2)


def inspect(name: str) -> dict[str, Any]:
    (data,) = json.loads(podman("inspect", "--type", "container", name).stdout)
    assert isinstance(data, dict)
    return data


def remove(name: str) -> None:
    podman("rm", "--force", "--time", "0", name, check=False)


@pytest.fixture(scope="module")
def container(image: str) -> Iterator[Container]:
    running = start(image)
    try:
        yield running
    finally:
        remove(running.name)


def test_image_declares_its_entry_point_port_user_and_healthcheck(image: str) -> None:
    (data,) = json.loads(podman("image", "inspect", image).stdout)
    config = data["Config"]
    assert config["Entrypoint"] == ["imgemu"]
    assert config["Cmd"] == ["serve", "--host", "0.0.0.0"]
    assert "8000/tcp" in config["ExposedPorts"]
    assert config["User"] not in ("", "0", "root")
    # podman reports the (docker-format) healthcheck beside Config, docker inside it.
    healthcheck = data.get("Healthcheck") or config.get("Healthcheck")
    assert healthcheck, "the image declares no HEALTHCHECK"
    test = healthcheck["Test"]
    assert test[0] == "CMD"  # exec form: runs without a shell
    assert "/_emulator/health" in " ".join(test)


def test_the_server_runs_as_a_non_root_user_as_pid_1(container: Container) -> None:
    uid = podman("exec", container.name, "id", "-u").stdout.strip()
    assert uid.isdigit()
    assert int(uid) != 0
    cmdline = podman("exec", container.name, "cat", "/proc/1/cmdline").stdout.split("\0")
    # No shell in between: PID 1 is imgemu's Python, so SIGTERM reaches uvicorn.
    assert Path(cmdline[0]).name.startswith("python")
    assert cmdline[1:4] == ["/opt/imgemu/bin/imgemu", "serve", "--host"]


def test_the_healthcheck_passes(container: Container) -> None:
    # Scheduled healthchecks need systemd timers (absent here: podman logs an error and
    # schedules none), but one run on demand executes the image's HEALTHCHECK command.
    result = podman("healthcheck", "run", container.name, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert inspect(container.name)["State"]["Health"]["Status"] == "healthy"


@pytest.mark.parametrize("provider", ["seacloud", "odirouter", "openai", "agcloud", "aa"])
def test_the_wheel_ships_the_openapi_documents(container: Container, provider: str) -> None:
    answer = httpx.get(f"{container.base_url}/openapi/{provider}.json", timeout=10)
    assert answer.status_code == 200, answer.text
    assert answer.json()["openapi"].startswith("3.")


def test_a_queued_generation_completes_and_its_image_downloads(container: Container) -> None:
    body = {
        "prompt": "A clean product photo of a red apple",
        "size": "1024x1024",
        "quality": "low",
        "output_format": "png",
    }
    with httpx.Client(base_url=container.base_url, headers=AUTH, timeout=10) as client:
        submitted = client.post("/model/v1/queue/gpt_image_1", json=body)
        assert submitted.status_code == 200, submitted.text
        status_url = submitted.json()["status_url"]
        deadline = time.monotonic() + 60
        while (status := client.get(status_url).json())["status"] != "COMPLETED":
            assert status["status"] in ("IN_QUEUE", "IN_PROGRESS"), status
            assert time.monotonic() < deadline, f"still {status['status']} after 60 s"
            time.sleep(0.25)
        result = client.get(status["response_url"])
        assert result.status_code == 200, result.text
        output = result.json()["outputs"][0]
        download = client.get(output["url"])
    assert download.status_code == 200
    picture = decode(download.content)  # loads it whole: a truncated file fails here
    assert picture.format == "PNG"
    assert picture.size == (1024, 1024)


def test_sigterm_stops_the_container_cleanly_within_the_grace_period(image: str) -> None:
    running = start(image)
    try:
        began = time.monotonic()
        podman("stop", "--time", str(STOP_GRACE), running.name, timeout=STOP_GRACE + 30)
        elapsed = time.monotonic() - began
        state = inspect(running.name)["State"]
    finally:
        remove(running.name)
    assert state["Status"] == "exited"
    assert elapsed < STOP_GRACE, f"stopping took {elapsed:.1f} s"
    # uvicorn shuts down and re-raises SIGTERM, which the kernel ignores for a PID 1 without
    # a handler: the exit code is 0 (measured here). 143 would be SIGTERM's conventional code;
    # 137 would mean SIGKILL after the grace period.
    assert state["ExitCode"] in (0, 143), state
