"""``imgemu generate | status | cancel`` against real emulator servers.

Results (the written paths, a status line) go to stdout, progress to stderr; every error is one
line on stderr, exit 1 for a provider, job, network or file error and 2 for misuse.
"""

from __future__ import annotations

import argparse
import io
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image
from starlette.applications import Starlette

from clients import cli as client_cli
from clients.cli import PlainReporter
from imgemu.cli import main, parser
from tests.helpers import RunningServer, fast_app, free_port, make_app, mask_bytes, png_bytes

pytestmark = pytest.mark.server
Serve = Callable[[Starlette], RunningServer]
KEY_VARIABLES = (
    "IMGEMU_URL",
    "SEACLOUD_API_KEY",
    "ODIROUTER_API_KEY",
    "OPENAI_API_KEY",
    "AGCLOUD_API_KEY",
    "AA_API_KEY",
    "OPENAI_BASE_URL",
)
MODELS = {
    "seacloud": "gpt_image_1",
    "odirouter": "gpt_image_1",
    "openai": "gpt-image-1",
    "agcloud": "gpt-image-2",
    "aa": "gpt-image-1.5",
}


@pytest.fixture(autouse=True)
def _no_keys_in_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in KEY_VARIABLES:
        monkeypatch.delenv(name, raising=False)


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _paths(out: str) -> list[Path]:
    """stdout holds the saved images' paths and nothing else."""
    paths = [Path(line) for line in out.splitlines()]
    assert paths
    assert all(path.suffix in (".png", ".jpeg", ".webp") and path.is_file() for path in paths)
    return paths


def _one_error_line(err: str, *words: str) -> str:
    """The error: the last line of stderr, the only one saying ``imgemu:`` (progress before it)."""
    assert err.endswith("\n")
    assert "Traceback" not in err
    *progress, line = err.splitlines()
    assert line.startswith("imgemu: ")
    assert not any(text.startswith("imgemu: ") for text in progress)
    for word in words:
        assert word in line, (word, line)
    return line


def _input(tmp_path: Path, size: tuple[int, int] = (1024, 1024)) -> Path:
    path = tmp_path / "in.png"
    path.write_bytes(png_bytes(size))
    return path


def _jobs(server: RunningServer) -> list[dict[str, Any]]:
    jobs: list[dict[str, Any]] = httpx.get(server.base_url + "/_emulator/jobs").json()["jobs"]
    return jobs


# Generation end to end, on every provider


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
    assert code == 0
    assert "COMPLETED, 2 image(s)" in err.splitlines()[-1]  # progress: on stderr only
    files = _paths(out)  # paths: on stdout only
    assert len(files) == 2
    for path in files:
        assert str(path) not in err
        with Image.open(path) as image:
            assert (image.format, image.size) == ("JPEG", (1536, 1024))


@pytest.mark.parametrize("progress", ["plain", "rich"])
def test_an_openai_stream_reports_each_event(
    serve: Serve, capsys: pytest.CaptureFixture[str], tmp_path: Path, progress: str
) -> None:
    server = serve(fast_app())
    code, out, err = _run(
        capsys,
        "generate", "--provider", "openai", "--base-url", server.base_url + "/v1",
        "--api-key", "k", "--model", "gpt-image-1", "--prompt", "a red apple", "--stream",
        "--partial-images", "2", "--progress", progress, "--out", str(tmp_path),
    )  # fmt: skip
    assert code == 0
    if progress == "plain":
        assert [line.rsplit(" ", 1)[0] for line in err.splitlines()[:3]] == [
            "image 1: partial 0",
            "image 1: partial 1",
            "image 1: completed",
        ]
    else:  # one line redrawn in place, ending on the summary
        assert "\x1b[2K" in err
        assert "done in " in err
    assert "\x1b" not in out
    (path,) = _paths(out)
    with Image.open(path) as image:
        assert image.size == (1024, 1024)


def test_an_agcloud_edit_with_image_and_mask(
    serve: Serve, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    server = serve(fast_app())
    image = _input(tmp_path)
    mask = tmp_path / "mask.png"
    mask.write_bytes(mask_bytes((1024, 1024), (0, 0, 512, 512)))
    code, out, err = _run(
        capsys,
        "generate", "--provider", "agcloud", "--base-url", server.base_url, "--api-key", "k",
        "--model", "gpt-image-2", "--prompt", "make it green", "--image", str(image),
        "--mask", str(mask), "--size", "1536x864", "--out", str(tmp_path / "out"),
    )  # fmt: skip
    assert code == 0
    assert "done in " in err
    (path,) = _paths(out)
    with Image.open(path) as result:
        assert result.size == (1536, 864)


def test_a_task_of_aa_with_an_input_image_and_a_mask(
    serve: Serve, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    server = serve(fast_app())
    image = _input(tmp_path, (1024, 1536))
    mask = tmp_path / "mask.png"
    mask.write_bytes(mask_bytes((1024, 1536), (0, 0, 512, 512)))
    code, out, err = _run(
        capsys,
        "generate", "--provider", "aa", "--base-url", server.base_url, "--api-key", "k",
        "--model", "gpt-image-1.5", "--prompt", "on a white table", "--image", str(image),
        "--mask", str(mask), "--out", str(tmp_path / "out"),
    )  # fmt: skip
    assert code == 0
    assert "succeeded" in err
    (path,) = _paths(out)
    with Image.open(path) as result:
        assert result.size == (1024, 1536)  # auto follows the input


# Base URLs: both forms; without --base-url, the emulator's mount for each provider


@pytest.mark.parametrize(
    ("provider", "written"),
    [
        ("openai", "/v1"),
        ("openai", ""),
        ("agcloud", "/v1"),
        ("agcloud", ""),
        ("seacloud", "/seacloud/model"),
        ("seacloud", "/seacloud"),
        ("odirouter", "/odirouter/model"),
        ("odirouter", "/odirouter"),
        ("aa", ""),
    ],
)
def test_base_url_takes_both_forms(
    serve: Serve, capsys: pytest.CaptureFixture[str], tmp_path: Path, provider: str, written: str
) -> None:
    server = serve(fast_app())
    code, out, err = _run(
        capsys,
        "generate", "--provider", provider, "--base-url", server.base_url + written,
        "--api-key", "k", "--model", MODELS[provider], "--prompt", "an apple",
        "--image", str(_input(tmp_path)), "--out", str(tmp_path / "out"),
    )  # fmt: skip
    assert code == 0, err
    assert len(_paths(out)) == 1


@pytest.mark.parametrize("provider", list(MODELS))
def test_without_base_url_each_provider_reaches_its_mount_on_the_emulator(
    serve: Serve, capsys: pytest.CaptureFixture[str], tmp_path: Path, provider: str
) -> None:
    # odirouter owns the bare /model path: seacloud is only seacloud at /seacloud/model.
    server = serve(fast_app(queue_provider="odirouter"))
    extra = ["--image", str(_input(tmp_path))] if provider in ("agcloud", "aa") else []
    code, out, err = _run(
        capsys,
        "generate", "--provider", provider, "--emulator-url", server.base_url,
        "--model", MODELS[provider], "--prompt", "an apple", *extra,
        "--out", str(tmp_path / "out"),
    )  # fmt: skip
    assert code == 0, err
    assert len(_paths(out)) == 1
    if provider in ("seacloud", "odirouter"):
        (job,) = _jobs(server)
        assert job["provider"] == provider
        common = ["--provider", provider, "--emulator-url", server.base_url]
        common += ["--model", "gpt_image_1"]
        code, out, _ = _run(capsys, "status", *common, job["request_id"])
        assert (code, out) == (0, f"{job['request_id']} COMPLETED\n")
        code, out, _ = _run(capsys, "cancel", *common, job["request_id"])
        assert (code, out) == (1, f"{job['request_id']} ALREADY_COMPLETED\n")


@pytest.mark.parametrize("provider", ["odirouter", "openai"])
def test_imgemu_url_names_the_local_emulator(
    serve: Serve,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    provider: str,
) -> None:
    server = serve(fast_app())
    monkeypatch.setenv("IMGEMU_URL", server.base_url)
    code, out, err = _run(
        capsys,
        "generate", "--provider", provider, "--model", MODELS[provider], "--prompt", "an apple",
        "--out", str(tmp_path),
    )  # fmt: skip
    assert code == 0, err
    assert len(_paths(out)) == 1
    monkeypatch.setenv("IMGEMU_URL", f"http://127.0.0.1:{free_port()}")  # the flag wins
    code, out, err = _run(
        capsys,
        "generate", "--provider", provider, "--model", MODELS[provider], "--prompt", "an apple",
        "--emulator-url", server.base_url, "--out", str(tmp_path),
    )  # fmt: skip
    assert code == 0, err
    monkeypatch.setenv("IMGEMU_URL", "nowhere")
    code, _, err = _run(capsys, "status", "--provider", "aa", "task")
    assert code == 2
    _one_error_line(err, "IMGEMU_URL takes an http:// or https:// URL, not 'nowhere'")


def test_the_default_emulator_mounts() -> None:
    expected = {
        "openai": "http://127.0.0.1:8000/v1",
        "agcloud": "http://127.0.0.1:8000/v1",
        "seacloud": "http://127.0.0.1:8000/seacloud/model",
        "odirouter": "http://127.0.0.1:8000/odirouter/model",
        "aa": "http://127.0.0.1:8000",
    }
    for provider, base in expected.items():
        args = parser().parse_args(
            ["status", "--provider", provider, "job"]  # defaults only: no --base-url
        )
        assert client_cli._connection(args) == (base, client_cli.LOCAL_KEY)


# Status and cancel


def _slow_server(serve: Serve) -> RunningServer:
    # Real time at full scale: a gpt_image_2 high job takes minutes; a cancel ends it at once.
    return serve(
        make_app(clock="real", clock_start=None, time_scale=1.0, queue_cancel_running="cancel")
    )


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
    assert _run(capsys, "cancel", *common, rid) == (0, f"{rid} CANCELLATION_REQUESTED\n", "")
    assert _run(capsys, "cancel", *common, rid) == (1, f"{rid} ALREADY_COMPLETED\n", "")
    code, out, _ = _run(capsys, "status", *common, rid)
    assert out == f"{rid} COMPLETED CANCELED: Request was canceled\n"


def test_status_of_an_aa_task(serve: Serve, capsys: pytest.CaptureFixture[str]) -> None:
    server = serve(fast_app())
    response = httpx.post(
        server.base_url + "/api/v1/image/generation",
        json={
            "model": "gpt-image-1.5",
            "prompt": "x",
            "async": True,
            "images": [{"image_url": "https://example.com/in.png"}],
        },
        headers={"Authorization": "Bearer k"},
    )
    task_id = response.json()["data"]["task_id"]
    common = ["--provider", "aa", "--emulator-url", server.base_url, "--api-key", "k"]
    code, out, err = _run(capsys, "status", *common, task_id)
    assert (code, err) == (0, "")
    assert out.startswith(f"{task_id} ")


# Misuse: exit 2, one line naming the flag, nothing sent

DEAD = "http://127.0.0.1:9"  # nothing listens: a check that let misuse through would exit 1
GENERATE = ["generate", "--prompt", "x", "--out", "OUT"]
MISUSE = [
    ([*GENERATE, "--provider", "openai", "--model", "m", "--timeout", "5"], "--timeout"),
    ([*GENERATE, "--provider", "openai", "--model", "m", "--interval", "1"], "--interval"),
    (
        [*GENERATE, "--provider", "agcloud", "--model", "m", "--image", "a.png", "--timeout", "5"],
        "--timeout",
    ),
    ([*GENERATE, "--provider", "seacloud", "--model", "m", "--stream"], "--stream"),
    ([*GENERATE, "--provider", "odirouter", "--model", "m", "--partial-images", "1"], "--partial"),
    ([*GENERATE, "--provider", "aa", "--model", "m", "--stream"], "--stream"),
    ([*GENERATE, "--provider", "aa", "--model", "m", "--partial-images", "1"], "--partial-images"),
    ([*GENERATE, "--provider", "openai", "--model", "m", "--partial-images", "1"], "--stream"),
    ([*GENERATE, "--provider", "openai", "--model", "m", "--mask", "m.png"], "--mask"),
    ([*GENERATE, "--provider", "seacloud", "--model", "m", "--mask", "m.png"], "--mask"),
    ([*GENERATE, "--provider", "agcloud", "--model", "m"], "--image"),
    ([*GENERATE, "--provider", "openai", "--model", "m", "--param", "oops"], "--param"),
    ([*GENERATE, "--provider", "openai", "--model", "m", "--param", "stream=true"], "--stream"),
    ([*GENERATE, "--provider", "seacloud", "--model", "m", "--param", "n=2"], "--n"),
    ([*GENERATE, "--provider", "seacloud", "--model", "m", "--timeout", "0"], "--timeout"),
    ([*GENERATE, "--provider", "aa", "--model", "m", "--interval", "-1"], "--interval"),
    ([*GENERATE, "--provider", "openai", "--model", "m", "--base-url", "localhost"], "--base-url"),
    (
        [
            *GENERATE,
            "--provider",
            "openai",
            "--model",
            "m",
            "--base-url",
            DEAD,
            "--emulator-url",
            DEAD,
        ],
        "--emulator-url",
    ),
    ([*GENERATE, "--provider", "openai", "--model", "m", "--emulator-url", "x"], "--emulator-url"),
    (["status", "--provider", "openai", "--logs", "job"], "--logs"),
    (["status", "--provider", "aa", "--logs", "job"], "--logs"),
    (["status", "--provider", "aa", "--model", "m", "job"], "--model"),
    (["status", "--provider", "seacloud", "job"], "--model"),
    (["status", "--provider", "openai", "job"], "--provider"),
    (["status", "--provider", "agcloud", "job"], "--provider"),
    (["cancel", "--provider", "aa", "job"], "--provider"),
    (["cancel", "--provider", "openai", "--model", "m", "job"], "--provider"),
    (["cancel", "--provider", "agcloud", "job"], "--provider"),
    (["cancel", "--provider", "odirouter", "job"], "--model"),
]


@pytest.mark.parametrize(("argv", "flag"), MISUSE, ids=[" ".join(a) for a, _ in MISUSE])
def test_misuse_is_one_line_naming_the_flag(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, argv: list[str], flag: str
) -> None:
    out_dir = tmp_path / "out"
    argv = [str(out_dir) if word == "OUT" else word for word in argv]
    if "--base-url" not in argv and "--emulator-url" not in argv:
        argv += ["--emulator-url", DEAD]
    code, out, err = _run(capsys, *argv)
    assert (code, out) == (2, "")
    assert err.count("\n") == 1
    _one_error_line(err, flag)
    assert not out_dir.exists()


@pytest.mark.parametrize(
    ("provider", "variable"), [("seacloud", "SEACLOUD_API_KEY"), ("openai", "OPENAI_API_KEY")]
)
def test_a_real_provider_needs_a_key(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, provider: str, variable: str
) -> None:
    code, _, err = _run(
        capsys,
        "generate", "--provider", provider, "--base-url", DEAD, "--model", "m",
        "--prompt", "x", "--out", str(tmp_path),
    )  # fmt: skip
    assert code == 2
    assert err == f"imgemu: no API key: pass --api-key or set {variable}\n"
    assert "api_key=" not in err


# Provider, job, network and file errors: exit 1, one line


def test_a_refused_request_names_the_provider_and_the_request(
    serve: Serve, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    server = serve(fast_app())
    code, out, err = _run(
        capsys,
        "generate", "--provider", "openai", "--base-url", server.base_url + "/v1",
        "--api-key", "k", "--model", "gpt-image-1", "--prompt", "x", "--n", "11",
        "--out", str(tmp_path),
    )  # fmt: skip
    assert (code, out) == (1, "")
    _one_error_line(err, "openai answered 400 integer_above_max_value: ", "(request req_")


@pytest.mark.parametrize("provider", ["seacloud", "openai", "aa"])
def test_an_unknown_key_is_one_line_pointing_at_the_key(
    serve: Serve, capsys: pytest.CaptureFixture[str], tmp_path: Path, provider: str
) -> None:
    server = serve(fast_app(api_keys={name: ("good",) for name in MODELS}))
    code, out, err = _run(
        capsys,
        "generate", "--provider", provider, "--emulator-url", server.base_url,
        "--api-key", "bad", "--model", MODELS[provider], "--prompt", "x", "--out", str(tmp_path),
    )  # fmt: skip
    assert (code, out) == (1, "")
    _one_error_line(err, f"{provider} answered 401", "--api-key")


def test_a_failed_job_is_one_line(
    serve: Serve, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    server = serve(fast_app(blocked_terms=("forbidden",)))
    code, out, err = _run(
        capsys,
        "generate", "--provider", "odirouter", "--emulator-url", server.base_url,
        "--model", "gpt_image_1", "--prompt", "a forbidden apple", "--interval", "0.05",
        "--out", str(tmp_path),
    )  # fmt: skip
    assert (code, out) == (1, "")
    (job,) = _jobs(server)
    assert len(err.splitlines()) > 1  # the progress lines first
    _one_error_line(err, f"job {job['request_id']} failed: CONTENT_BLOCKED")
    assert not list(tmp_path.iterdir())


def test_a_timeout_cancels_the_job(
    serve: Serve, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    server = _slow_server(serve)
    code, out, err = _run(
        capsys,
        "generate", "--provider", "seacloud", "--base-url", server.base_url + "/seacloud/model",
        "--api-key", "k", "--model", "gpt_image_2", "--prompt", "x", "--quality", "high",
        "--timeout", "0.5", "--interval", "0.1", "--progress", "plain", "--out", str(tmp_path),
    )  # fmt: skip
    assert (code, out) == (1, "")
    _one_error_line(err, "gave up on mmsu_", "still IN_PROGRESS", "(--timeout); cancelled it")
    jobs = [job for job in _jobs(server) if job["model"] == "gpt_image_2"]
    assert [(job["status"], job["error_type"]) for job in jobs] == [("COMPLETED", "CANCELED")]
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize(
    "argv",
    [
        ["generate", "--provider", "openai", "--model", "m", "--prompt", "x"],
        # The client retries a refused connection for about three seconds: one command in
        # the everyday loop, the other commands (the same message path) slow.
        *(
            pytest.param(argv, marks=pytest.mark.slow)
            for argv in (
                ["generate", "--provider", "seacloud", "--model", "m", "--prompt", "x"],
                ["status", "--provider", "aa"],
                ["cancel", "--provider", "odirouter", "--model", "m"],
            )
        ),
    ],
    ids=lambda argv: " ".join(argv[:3]),
)
def test_an_unreachable_target_is_one_line(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, argv: list[str]
) -> None:
    port = free_port()  # free: nothing listens there
    tail = ["--out", str(tmp_path)] if argv[0] == "generate" else ["job"]
    for target in ("--base-url", "--emulator-url"):
        code, out, err = _run(
            capsys, *argv, target, f"http://127.0.0.1:{port}", "--api-key", "k", *tail
        )
        assert (code, out) == (1, "")
        _one_error_line(err, f"cannot reach http://127.0.0.1:{port}: connection refused")
        assert ("imgemu serve" in err) == (target == "--emulator-url")


def test_file_errors_name_the_flag_and_send_nothing(
    serve: Serve, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    server = serve(fast_app())
    image = _input(tmp_path)
    not_a_dir = tmp_path / "file"
    not_a_dir.write_text("x")
    common = ["--emulator-url", server.base_url, "--prompt", "x"]
    cases = [
        (["--provider", "openai", "--model", "gpt-image-1", "--image", str(tmp_path / "none.png")],
         str(tmp_path), "cannot read --image"),
        (["--provider", "seacloud", "--model", "gpt_image_1", "--image", str(image),
          "--mask", str(tmp_path / "none.png")], str(tmp_path), "cannot read --mask"),
        (["--provider", "aa", "--model", "gpt-image-1.5"], str(not_a_dir), "cannot write to --out"),
        (["--provider", "odirouter", "--model", "gpt_image_1"], str(not_a_dir / "sub"),
         "cannot write to --out"),
    ]  # fmt: skip
    for argv, out_dir, words in cases:
        code, out, err = _run(capsys, "generate", *common, *argv, "--out", out_dir)
        assert (code, out) == (1, "")
        _one_error_line(err, words)
    assert _jobs(server) == []


def test_any_other_failure_is_one_line_too() -> None:
    def boom(args: argparse.Namespace, out: Any, err: Any) -> int:
        raise ValueError("first line\nsecond line")

    def interrupted(args: argparse.Namespace, out: Any, err: Any) -> int:
        raise KeyboardInterrupt

    for handler, expected, code in (
        (boom, "imgemu: unexpected ValueError: first line second line\n", 1),
        (interrupted, "imgemu: interrupted\n", 130),
    ):
        out, err = io.StringIO(), io.StringIO()
        args = argparse.Namespace(handler=handler, provider="openai")
        assert client_cli.run(args, out, err) == code
        assert (out.getvalue(), err.getvalue()) == ("", expected)


# Help


def test_every_flag_has_help() -> None:
    root = parser()
    (sub,) = [a for a in root._actions if isinstance(a, argparse._SubParsersAction)]
    for name in ("generate", "status", "cancel"):
        command = sub.choices[name]
        assert command.description
        for action in command._actions:
            assert action.help, f"imgemu {name} {action.option_strings or action.dest}"
            assert "=" not in re.sub(r"KEY=VALUE", "", action.help), action.help
    help_text = sub.choices["generate"].format_help()
    assert "--emulator-url" in help_text
    assert "http://127.0.0.1:8000" in help_text


def test_plain_progress_prints_a_line_per_change() -> None:
    out = io.StringIO()
    report = PlainReporter(out)
    for text in ("a", "a", "b", "b", "a"):
        report.update(text)
    report.done("end")
    assert out.getvalue() == "a\nb\na\nend\n"
