"""Memory and the event loop of a real ``imgemu serve`` process under hostile inputs, measured
by the kernel (peak resident memory) and by a client polling the health route meanwhile.

Before these limits, a 344 KB PNG bomb edited with ``n=3`` took the process from 170 MB to
4.33 GB, kept 857 MB and stalled the loop 2.5 s; 100 MB JSON bodies peaked at 0.77 and 1.73 GB.
The bounds below leave room for the machine's noise, not for a regression of that order.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from tests.helpers import free_port, png_bytes, wait_healthy
from tests.support.images import BEARER, error_of
from tests.support.security import loop_watch, png_bomb, reset_peak, rss_mb

# Each case starts its own server and renders large images: some 5-15 s in all.
pytestmark = [pytest.mark.server, pytest.mark.slow]

MB = 1024 * 1024


@contextmanager
def imgemu(tmp_path: Path) -> Iterator[tuple[int, str]]:
    """``imgemu serve`` (generations finish at once) in a child process: (pid, base URL)."""
    port = free_port()
    log = tmp_path / f"serve-{port}.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith("IMGEMU_")}
    env.update({"IMGEMU_TIME_SCALE": "0.000001", "IMGEMU_LOG_REQUESTS": "off"})
    with log.open("w") as sink:
        process = subprocess.Popen(
            [sys.executable, "-m", "imgemu", "serve", "--port", str(port)],
            cwd=tmp_path,
            env=env,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(base, process, log.read_text)
        with httpx.Client(base_url=base, headers=BEARER, timeout=60) as client:  # warm up
            warm = client.post(
                "/v1/images/edits",
                files=[("image", ("in.png", png_bytes((1536, 1024)), "image/png"))],
                data={"prompt": "warm up", "model": "gpt-image-1"},
            )
            assert warm.status_code == 200, warm.text
        yield process.pid, base
    finally:
        process.kill()
        process.wait(timeout=10)


def edit(base: str, image: bytes, n: int) -> httpx.Response:
    with httpx.Client(base_url=base, headers=BEARER, timeout=120) as client:
        return client.post(
            "/v1/images/edits",
            files=[("image", ("in.png", image, "image/png"))],
            data={"prompt": "p", "model": "gpt-image-1", "n": str(n), "size": "1024x1024"},
        )


def test_the_bomb_edit_with_three_outputs_costs_nothing(tmp_path: Path) -> None:
    bomb = png_bomb(9400, 9400)
    with imgemu(tmp_path) as (pid, base):
        before, _ = rss_mb(pid)
        reset_peak(pid)
        with loop_watch(base) as latencies:
            response = edit(base, bomb, 3)
        after, peak = rss_mb(pid)
    assert response.status_code == 400
    assert error_of(response)["code"] == "image_too_large"
    assert peak - before < 50, (before, peak, after)
    assert max(latencies) < 0.5, max(latencies)


def test_an_image_just_within_the_pixel_limit_is_decoded_once_and_given_back(
    tmp_path: Path,
) -> None:
    image = png_bomb(7000, 7000)  # 49 megapixels: 196 MB of RGBA once decoded
    with imgemu(tmp_path) as (pid, base):
        before, _ = rss_mb(pid)
        reset_peak(pid)
        start = time.perf_counter()
        with loop_watch(base) as latencies:
            response = edit(base, image, 3)
        seconds = time.perf_counter() - start
        time.sleep(0.5)
        after, peak = rss_mb(pid)
    assert response.status_code == 200, response.text
    assert len(response.json()["data"]) == 3
    # One decode of 196 MB at most, whatever n is; the memory goes back once it is done.
    assert peak - before < 300, (before, peak, after, seconds)
    assert after - before < 60, (before, peak, after)
    assert max(latencies) < 1.0, (max(latencies), seconds)


def test_a_100_mb_body_is_refused_without_being_read(tmp_path: Path) -> None:
    junk = b'{"prompt": "' + b"x" * (100 * MB) + b'"}'
    with imgemu(tmp_path) as (pid, base):
        before, _ = rss_mb(pid)
        reset_peak(pid)
        with httpx.Client(base_url=base, timeout=120) as client:
            queue = client.post(
                "/model/v1/queue/gpt_image_1",
                content=junk,
                headers={"Authorization": "Key k", "content-type": "application/json"},
            )
            openai = client.post(
                "/v1/images/edits",
                content=junk,
                headers={**BEARER, "content-type": "application/json"},
            )
            jobs = client.get("/_emulator/jobs").json()
        _, peak = rss_mb(pid)
    assert queue.status_code == 413
    assert queue.json() == {"detail": "Request body too large: the limit is 1 MB"}
    assert openai.status_code == 413
    assert error_of(openai)["code"] == "request_too_large"
    assert jobs["total"] == 0
    assert peak - before < 30, (before, peak)
