"""The built wheel, installed as a user installs it: a fresh venv, run from another directory.

Builds the wheel from a copy of the tracked files (as an sdist would hold them), installs it
with the ``contract`` extra into a new virtual environment, and from an empty directory runs
``imgemu --version``, ``imgemu serve`` with its embedded defaults, the seeds' example requests
over real sockets, ``imgemu generate`` and ``imgemu contract`` for every provider.
"""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import sys
import venv
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from PIL import Image

from tests.helpers import decode, follow_job, free_port, png_bytes, wait_healthy
from tests.seeds import SEED_GPT_IMAGE_1, SEED_GPT_IMAGE_2_EDIT

pytestmark = [pytest.mark.package, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("imgemu", "emulator", "clients", "contracts")


@dataclass
class Installed:
    wheel: Path
    bin: Path
    home: Path  # an empty directory, far from the checkout

    def run(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(self.bin / "imgemu"), *args],
            cwd=self.home,
            env=_clean_env(),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )


def _clean_env() -> dict[str, str]:
    keep = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "PIP_INDEX_URL", "PIP_CACHE_DIR")
    return {k: v for k, v in os.environ.items() if k in keep}


def _tracked() -> list[str]:
    """The files of the working tree that git tracks or would track (not the ignored ones)."""
    listing = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout.decode()
    return [name for name in listing.split("\0") if name and (ROOT / name).is_file()]


def _tracked_copy(destination: Path) -> Path:
    for name in _tracked():
        target = destination / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, target)
    return destination


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Installed:
    work = tmp_path_factory.mktemp("wheel")
    source = _tracked_copy(work / "source")
    dist = work / "dist"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", str(dist), "."],
        cwd=source,
        check=True,
        timeout=300,
    )
    (wheel,) = dist.glob("imgemu-*.whl")
    env_dir = work / "venv"
    venv.create(env_dir, with_pip=True)
    pip = [str(env_dir / "bin" / "python"), "-m", "pip", "install", "--quiet"]
    subprocess.run(
        [*pip, "--disable-pip-version-check", f"{wheel}[contract]"], check=True, timeout=600
    )
    home = work / "home"
    home.mkdir()
    return Installed(wheel, env_dir / "bin", home)


def test_the_wheel_holds_every_module_and_document(installed: Installed) -> None:
    names = set(zipfile.ZipFile(installed.wheel).namelist())
    expected = {name for name in _tracked() if name.startswith(PACKAGES) and name.endswith(".py")}
    documents = {f"emulator/openapi/{p.name}" for p in (ROOT / "openapi").glob("*.yaml")}
    assert len(documents) == 5
    assert expected - names == set()
    assert documents - names == set()
    assert {f"{p}/py.typed" for p in PACKAGES} <= names
    assert not any(name.startswith(("tests/", "openapi/")) for name in names)


def test_version_and_import(installed: Installed) -> None:
    result = installed.run("--version")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "imgemu 0.1.0"
    probe = subprocess.run(
        [
            str(installed.bin / "python"),
            "-c",
            "import imgemu, emulator; print(imgemu.__version__, imgemu.create_app is not None,"
            " imgemu.QueueClient.__module__, emulator.__file__)",
        ],
        cwd=installed.home,
        env=_clean_env(),
        capture_output=True,
        text=True,
        check=True,
    )
    version, has_app, client_module, location = probe.stdout.split()
    assert (version, has_app, client_module) == ("0.1.0", "True", "clients._queue")
    assert "site-packages" in location
    assert str(ROOT) not in location


@pytest.fixture(scope="module")
def served(installed: Installed) -> Iterator[str]:
    port = free_port()
    log = installed.home / "serve.log"
    with log.open("w") as sink:
        process = subprocess.Popen(
            [str(installed.bin / "imgemu"), "serve", "--port", str(port), "--time-scale", "0.01"],
            cwd=installed.home,
            env=_clean_env(),
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(base, process, log.read_text)
        yield base
    finally:
        process.terminate()
        process.wait(timeout=15)
    assert process.returncode in (0, -15), log.read_text()
    assert "Traceback" not in log.read_text()


@pytest.mark.parametrize(
    ("path", "model", "body", "auth"),
    [
        ("/model", "gpt_image_1", SEED_GPT_IMAGE_1, "Key k"),
        ("/seacloud/model", "gpt_image_2_edit", SEED_GPT_IMAGE_2_EDIT, "Key k"),
        ("/odirouter/model", "gpt_image_2_edit", SEED_GPT_IMAGE_2_EDIT, "Bearer k"),
    ],
)
def test_queue_seed_requests(
    served: str, path: str, model: str, body: dict[str, object], auth: str
) -> None:
    with httpx.Client(base_url=served, headers={"Authorization": auth}) as client:
        submitted = client.post(f"{path}/v1/queue/{model}", json=body).json()
        follow_job(client, submitted["status_url"], timeout=60)
        result = client.get(submitted["response_url"]).json()
        outputs = result["outputs"]
        assert isinstance(outputs, list)
        assert len(outputs) == 1
        image = decode(httpx.get(outputs[0]["url"]).content)
        assert (image.format, image.size) == ("JPEG", (1024, 1024))


def test_images_seed_requests(served: str) -> None:
    headers = {"Authorization": "Bearer sk-any"}
    generated = httpx.post(
        f"{served}/v1/images/generations",
        headers=headers,
        json={"model": "gpt-image-1.5", "prompt": "A red apple", "size": "1536x1024"},
        timeout=60,
    )
    assert generated.status_code == 200, generated.text
    image = decode(generated.json()["data"][0]["b64_json"])
    assert image.size == (1536, 1024)
    edited = httpx.post(  # seed 003: AGCloud's multipart edit
        f"{served}/v1/image/edits",
        headers=headers,
        data={"model": "gpt-image-2", "prompt": "Make it green", "size": "1536x864"},
        files={"image": ("in.png", png_bytes((640, 480)), "image/png")},
        timeout=60,
    )
    assert edited.status_code == 200, edited.text
    image = decode(edited.json()["data"][0]["b64_json"])
    assert image.size == (1536, 864)
    envelope = httpx.post(  # seed 004: 典名词元
        f"{served}/api/v1/image/generation",
        headers=headers,
        json={
            "model": "gpt-image-1.5",
            "prompt": "Put it on a white table",
            "images": [{"image_url": "https://example.com/product.png"}],
        },
        timeout=60,
    ).json()
    assert (envelope["code"], envelope["data"]["task_status"]) == (0, "succeeded")
    picture = httpx.get(envelope["data"]["urls"][0])
    assert picture.status_code == 200
    Image.open(io.BytesIO(picture.content)).verify()


def test_the_installed_command_line_generates(installed: Installed, served: str) -> None:
    out = installed.home / "out"
    result = installed.run(
        "generate",
        "--provider",
        "openai",
        "--base-url",
        f"{served}/v1",
        "--api-key",
        "sk-any",
        "--model",
        "gpt-image-1.5",
        "--prompt",
        "A red apple",
        "--out",
        str(out),
    )
    assert result.returncode == 0, result.stderr
    (written,) = result.stdout.split()
    with Image.open(written) as image:
        assert image.size == (1024, 1024)


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
def test_the_installed_contract_suite_passes_against_the_installed_emulator(
    installed: Installed, served: str, provider: str, target: str
) -> None:
    result = installed.run(
        "contract",
        "--provider",
        provider,
        "--target",
        served + target,
        "--max-spend-usd",
        "0.05",
        "--examples",
        "3",
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]


def test_the_wheel_registers_both_pytest_plugins(installed: Installed) -> None:
    with zipfile.ZipFile(installed.wheel) as wheel:
        (name,) = [n for n in wheel.namelist() if n.endswith(".dist-info/entry_points.txt")]
        text = wheel.read(name).decode()
    section = text.split("[pytest11]", 1)[1].split("\n[", 1)[0]
    points = dict(line.split(" = ") for line in section.strip().splitlines())
    assert points == {"imgemu": "imgemu.pytest_plugin", "imgemu_contract": "contracts.plugin"}


USER_TEST = """
import os

import httpx
import pytest

from imgemu import ImagesClient, RateLimitError, RetryPolicy


@pytest.mark.imgemu(patch_env=True)
def test_the_fixture(imgemu_server):
    imgemu_server.faults.add(
        match={"provider": "openai"}, action={"kind": "error", "status": 429}, times=1
    )
    with ImagesClient("openai", retry=RetryPolicy(max_retries=0)) as images:  # from the env
        assert images.base_url == os.environ["OPENAI_BASE_URL"] == imgemu_server.url("openai")
        with pytest.raises(RateLimitError):
            images.generate("A red apple")
        assert images.generate("A red apple").images


def test_in_process(imgemu_app):
    with imgemu_app.client("aa") as http:
        assert http.get("/api/v1/image/generation/task_x").status_code == 404
    with httpx.Client(transport=imgemu_app.transport, base_url=imgemu_app.base_url) as http:
        assert http.get("/_emulator/health").json() == {"status": "ok"}
"""


def test_the_installed_plugin_runs_a_users_tests(installed: Installed) -> None:
    """pytest comes with the contract extra (Schemathesis); the plugin with imgemu."""
    tests = installed.home / "user_tests"
    tests.mkdir()
    (tests / "test_user.py").write_text(USER_TEST, encoding="utf-8")
    result = subprocess.run(
        [str(installed.bin / "python"), "-m", "pytest", "-q", "-p", "no:cacheprovider", "."],
        cwd=tests,
        env=_clean_env(),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert "2 passed" in result.stdout
