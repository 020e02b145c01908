"""``imgemu generate | status | cancel`` against real emulator servers."""

from __future__ import annotations

import io
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image
from starlette.applications import Starlette

from imgemu.cli import main
from tests.conftest import RunningServer, make_app
from tests.http.images.conftest import fast_app, mask_bytes, png_bytes

pytestmark = pytest.mark.server
Serve = Callable[[Starlette], RunningServer]


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _files(out: str) -> list[Path]:
    """The saved images' paths (terminal control sequences stripped)."""
    text = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", out)
    return [Path(line) for line in text.splitlines() if line.endswith((".png", ".jpeg", ".webp"))]


def test_a_queue_job_runs_to_its_images_with_plain_progress(
    serve: Serve, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    server = serve(fast_app())
    code, out, err = _run(
        capsys,
        "generate", "--provider", "seacloud", "--base-url", server.base_url + "/seacloud/model",
        "--api-key", "k", "--model", "gpt_image_1", "--prompt", "a red apple",
        "--size", "1536x1024", "--format", "jpeg", "--n", "2", "--out", str(tmp_path),
    )  # fmt: skip
    assert (code, err) == (0, "")
    lines = out.splitlines()
    assert "COMPLETED" in lines[-3]  # the last progress line, then one path per image
    files = _files(out)
    assert len(files) == 2
    for path in files:
        with Image.open(path) as image:
            assert (image.format, image.size) == ("JPEG", (1536, 1024))


@pytest.mark.parametrize("progress", ["plain", "rich"])
def test_an_openai_stream_reports_each_event(
    serve: Serve, capsys: pytest.CaptureFixture[str], tmp_path: Path, progress: str
) -> None:
    server = serve(fast_app())
    code, out, _ = _run(
        capsys,
        "generate", "--provider", "openai", "--base-url", server.base_url, "--api-key", "k",
        "--model", "gpt-image-1", "--prompt", "a red apple", "--stream",
        "--partial-images", "2", "--progress", progress, "--out", str(tmp_path),
    )  # fmt: skip
    assert code == 0
    if progress == "plain":
        assert [line.rsplit(" ", 1)[0] for line in out.splitlines()[:3]] == [
            "image 1: partial 0",
            "image 1: partial 1",
            "image 1: completed",
        ]
    else:  # one line redrawn in place, ending on the summary
        assert "\x1b[2K" in out
        assert "done in " in out
    (path,) = _files(out)
    with Image.open(path) as image:
        assert image.size == (1024, 1024)


def test_an_agcloud_edit_with_image_and_mask(
    serve: Serve, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    server = serve(fast_app())
    image = tmp_path / "in.png"
    image.write_bytes(png_bytes((1024, 1024)))
    mask = tmp_path / "mask.png"
    mask.write_bytes(mask_bytes((1024, 1024), (0, 0, 512, 512)))
    code, out, _ = _run(
        capsys,
        "generate", "--provider", "agcloud", "--base-url", server.base_url, "--api-key", "k",
        "--model", "gpt-image-2", "--prompt", "make it green", "--image", str(image),
        "--mask", str(mask), "--size", "1536x864", "--out", str(tmp_path / "out"),
    )  # fmt: skip
    assert code == 0
    (path,) = _files(out)
    with Image.open(path) as result:
        assert result.size == (1536, 864)


def test_a_task_of_aa_with_an_input_image(
    serve: Serve, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    server = serve(fast_app())
    image = tmp_path / "in.png"
    image.write_bytes(png_bytes((1024, 1536)))
    code, out, _ = _run(
        capsys,
        "generate", "--provider", "aa", "--base-url", server.base_url, "--api-key", "k",
        "--model", "gpt-image-1.5",
        "--prompt", "on a white table", "--image", str(image), "--out", str(tmp_path / "out"),
    )  # fmt: skip
    assert code == 0
    assert "succeeded" in out
    (path,) = _files(out)
    with Image.open(path) as result:
        assert result.size == (1024, 1536)  # auto follows the input


def _slow_server(serve: Serve) -> RunningServer:
    # Real time at full scale: a gpt_image_2 high job takes minutes.
    return serve(make_app(clock="real", clock_start=None, time_scale=1.0))


def _submit(base: str) -> str:
    response = httpx.post(
        base + "/seacloud/model/v1/queue/gpt_image_2",
        json={"prompt": "x", "quality": "high"},
        headers={"Authorization": "Key k"},
    )
    request_id: str = response.json()["request_id"]
    return request_id


def test_status_and_cancel_of_a_queue_job(serve: Serve, capsys: pytest.CaptureFixture[str]) -> None:
    server = _slow_server(serve)
    rid = _submit(server.base_url)
    common = ["--provider", "seacloud", "--base-url", server.base_url + "/seacloud/model"]
    common += ["--api-key", "k", "--model", "gpt_image_2"]
    code, out, _ = _run(capsys, "status", *common, "--logs", rid)
    assert code == 0
    assert out.splitlines()[0] == f"{rid} IN_PROGRESS"
    assert "Worker started on gpt_image_2" in out
    assert _run(capsys, "cancel", *common, rid)[:2] == (0, f"{rid} CANCELLATION_REQUESTED\n")
    assert _run(capsys, "cancel", *common, rid)[:2] == (1, f"{rid} ALREADY_COMPLETED\n")
    code, out, _ = _run(capsys, "status", *common, rid)
    assert out == f"{rid} COMPLETED CANCELED: Request was canceled\n"
    code, _, err = _run(capsys, "status", *common[:-2], rid)  # no --model
    assert (code, err) == (2, "imgemu: status of a queue job needs --model\n")


def test_a_timeout_cancels_the_job(
    serve: Serve, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    server = _slow_server(serve)
    code, _, err = _run(
        capsys,
        "generate", "--provider", "seacloud", "--base-url", server.base_url + "/seacloud/model",
        "--api-key", "k", "--model", "gpt_image_2", "--prompt", "x", "--quality", "high",
        "--timeout", "0.5", "--interval", "0.1", "--out", str(tmp_path),
    )  # fmt: skip
    assert code == 1
    assert err.startswith("imgemu: JobTimeoutError: ")
    records = httpx.get(server.base_url + "/_emulator/jobs").json()["jobs"]
    jobs: list[dict[str, Any]] = [job for job in records if job["model"] == "gpt_image_2"]
    assert [(job["status"], job["error_type"]) for job in jobs] == [("COMPLETED", "CANCELED")]
    assert not list(tmp_path.iterdir())


def test_errors_and_misuse(
    serve: Serve, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    server = serve(fast_app())
    code, _, err = _run(
        capsys,
        "generate", "--provider", "openai", "--base-url", server.base_url, "--api-key", "k",
        "--model", "gpt-image-1", "--prompt", "x", "--n", "11", "--out", str(tmp_path),
    )  # fmt: skip
    assert code == 1
    assert err.startswith("imgemu: InvalidRequestError: 400 integer_above_max_value: ")
    code, _, err = _run(capsys, "cancel", "--provider", "openai", "--model", "m", "job")
    assert (code, err) == (2, "imgemu: openai has no cancel: only the queue providers do\n")
    code, _, err = _run(
        capsys,
        "generate", "--provider", "openai", "--base-url", server.base_url, "--api-key", "k",
        "--model", "gpt-image-1", "--prompt", "x", "--param", "oops", "--out", str(tmp_path),
    )  # fmt: skip
    assert (code, err) == (2, "imgemu: --param takes KEY=VALUE, not 'oops'\n")
    code, _, err = _run(
        capsys,
        "generate", "--provider", "openai", "--base-url", server.base_url, "--model",
        "gpt-image-1", "--prompt", "x", "--out", str(tmp_path),
    )  # fmt: skip
    assert (code, err) == (2, "imgemu: no API key: pass api_key= or set OPENAI_API_KEY\n")
    code, _, err = _run(
        capsys,
        "generate", "--provider", "openai", "--base-url", "http://127.0.0.1:9", "--api-key",
        "k", "--model", "gpt-image-1", "--prompt", "x", "--out", str(tmp_path),
    )  # fmt: skip
    assert code == 1
    assert err.startswith("imgemu: TransportError: ")


def test_plain_progress_prints_a_line_per_change() -> None:
    from clients.cli import PlainReporter

    out = io.StringIO()
    report = PlainReporter(out)
    for text in ("a", "a", "b", "b", "a"):
        report.update(text)
    report.done("end")
    assert out.getvalue() == "a\nb\na\nend\n"
