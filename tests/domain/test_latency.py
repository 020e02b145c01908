"""The latency model: defaults near the published figures, seeded jitter, time scale."""

from __future__ import annotations

import pytest

from emulator.domain.latency import LatencyModel


def test_defaults_without_jitter_match_published_figures() -> None:
    model = LatencyModel(sigma=0.0)
    assert model.service_time("gpt-image-2", "medium", 1024, 1024, 1, 0, "r") == 80.0
    assert model.service_time("gpt-image-2", "high", 1024, 1024, 1, 0, "r") == 195.0
    assert model.service_time("gpt-image-1.5", "medium", 1536, 1024, 1, 0, "r") == pytest.approx(
        24.5, abs=0.1
    )


def test_bigger_and_more_images_take_longer() -> None:
    model = LatencyModel(sigma=0.0)
    one = model.service_time("gpt-image-2", "low", 1024, 1024, 1, 0, "r")
    assert model.service_time("gpt-image-2", "low", 2048, 2048, 1, 0, "r") == pytest.approx(2 * one)
    assert model.service_time("gpt-image-2", "low", 1024, 1024, 3, 0, "r") == pytest.approx(
        1.6 * one
    )


def test_jitter_is_seeded_by_seed_and_request() -> None:
    model = LatencyModel()
    a = model.service_time("gpt-image-1", "medium", 1024, 1024, 1, 1, "mmsu_a")
    assert a == model.service_time("gpt-image-1", "medium", 1024, 1024, 1, 1, "mmsu_a")
    assert a != model.service_time("gpt-image-1", "medium", 1024, 1024, 1, 1, "mmsu_b")
    assert a != model.service_time("gpt-image-1", "medium", 1024, 1024, 1, 2, "mmsu_a")
    draws = [
        model.service_time("gpt-image-2", "medium", 1024, 1024, 1, 0, f"r{i}") for i in range(400)
    ]
    assert 70 < sorted(draws)[200] < 90  # the median stays near the base


def test_time_scale_multiplies() -> None:
    fast = LatencyModel(sigma=0.0, time_scale=0.01)
    assert fast.service_time("gpt-image-2", "medium", 1024, 1024, 1, 0, "r") == pytest.approx(0.8)
