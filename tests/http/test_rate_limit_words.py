"""The words and headers of a reached rate limit, per dialect: OpenAI's messages for each of its
limits, its durations (Go's form, as in ``x-ratelimit-reset-*`` and "try again in"), and the
queue's and 典名词元's refusals, which name no limit."""

from __future__ import annotations

import json

import pytest

from emulator.domain.errors import RateLimited
from emulator.domain.limits import NOMINAL_QUOTA, Allowance, Quota
from emulator.http.aa import render as aa_render
from emulator.http.images import render as images_render
from emulator.http.queue import render as queue_render


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0.0, "0s"),
        (-1.0, "0s"),
        (0.0004, "1ms"),
        (0.24, "240ms"),
        (0.9999, "1s"),
        (1.0, "1s"),
        (7.188, "7.188s"),
        (7.1881, "7.189s"),  # rounded up: a wait is never shown shorter than it is
        (20.0, "20s"),
        (59.9996, "1m0s"),
        (60.0, "1m0s"),
        (90.5, "1m30.5s"),
        (360.0, "6m0s"),
        (3723.5, "1h2m3.5s"),
    ],
)
def test_durations_are_written_as_openai_writes_them(seconds: float, text: str) -> None:
    assert images_render.duration(seconds) == text


def test_the_quota_headers() -> None:
    quota = Quota(Allowance(3, 1, 45.0), Allowance(5, 0, 0.25))
    assert images_render.quota_headers(quota) == [
        (b"x-ratelimit-limit-requests", b"3"),
        (b"x-ratelimit-remaining-requests", b"1"),
        (b"x-ratelimit-reset-requests", b"45s"),
        (b"x-ratelimit-limit-images", b"5"),
        (b"x-ratelimit-remaining-images", b"0"),
        (b"x-ratelimit-reset-images", b"250ms"),
    ]
    nominal = dict(images_render.quota_headers(NOMINAL_QUOTA))
    assert nominal[b"x-ratelimit-limit-images"] == nominal[b"x-ratelimit-remaining-images"]
    assert nominal[b"x-ratelimit-reset-requests"] == b"0s"


def _openai(exc: RateLimited) -> tuple[int, dict[str, object], dict[str, str]]:
    response = images_render.error_response(exc)
    return response.status_code, json.loads(response.body)["error"], dict(response.headers)


def test_openai_words_for_images_per_minute() -> None:
    exc = RateLimited(12.0, 5, "images", used=4, requested=2, owner="0f2c10bf3d128c71")
    status, error, headers = _openai(exc)
    assert status == 429
    assert error == {
        "message": "Rate limit exceeded for images per minute in organization "
        "org-0f2c10bf3d128c71. Limit: 5/1min. Current: 6/1min. Please visit "
        "https://platform.openai.com/docs/guides/rate-limits to learn how to increase your "
        "rate limit.",
        "type": "requests",
        "param": None,
        "code": "rate_limit_exceeded",
    }
    assert (headers["retry-after"], headers["retry-after-ms"]) == ("12", "12000")
    # The x-ratelimit-* headers are the gateway middleware's, from the key's quota.
    assert not any(name.startswith("x-ratelimit") for name in headers)


def test_openai_words_for_requests_per_minute() -> None:
    exc = RateLimited(0.24, 3, "requests", used=3, model="gpt-image-2", owner="ab")
    _, error, headers = _openai(exc)
    assert error["message"] == (
        "Rate limit reached for gpt-image-2 in organization org-ab on requests per min (RPM): "
        "Limit 3, Used 3, Requested 1. Please try again in 240ms. Visit "
        "https://platform.openai.com/account/rate-limits to learn more."
    )
    assert (headers["retry-after"], headers["retry-after-ms"]) == ("1", "240")


def test_openai_words_for_the_generic_window() -> None:
    exc = RateLimited(7.5, 10, "window", used=10, window=30.0, owner="ab")
    assert _openai(exc)[1]["message"] == (
        "Rate limit reached in organization org-ab on requests per 30s: Limit 10, Used 10, "
        "Requested 1. Please try again in 7.5s. Visit "
        "https://platform.openai.com/account/rate-limits to learn more."
    )


@pytest.mark.parametrize("kind", ["requests", "concurrency", "window"])
def test_the_queue_and_aa_refuse_every_limit_alike(kind: str) -> None:
    exc = RateLimited(34.2, 2, kind, used=2)  # type: ignore[arg-type]
    queue = queue_render.error_response(
        exc, provider="seacloud", operation="submit", request_id="r"
    )
    assert (queue.status_code, json.loads(queue.body)) == (
        429,
        {
            "error": {
                "code": "RATE_LIMIT_EXCEEDED",
                "message": "Rate limit exceeded, please try again later",
            },
            "request_id": "r",
        },
    )
    assert queue.headers["retry-after"] == "35"
    aa = aa_render.error_response(exc, "req_1")
    assert (aa.status_code, json.loads(aa.body)["message"], aa.headers["retry-after"]) == (
        429,
        "Rate limit exceeded, please try again later.",
        "35",
    )
