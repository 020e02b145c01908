"""The domain's rate limits: which windows a request counts in, what a refusal carries, what a
request asks for as the limits count it, and that limits left off cost no store call."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from emulator.domain.clock import VirtualClock
from emulator.domain.errors import RateLimited
from emulator.domain.gateway import Gateway, owner_of
from emulator.domain.images import Upload
from emulator.domain.limits import NOMINAL_ALLOWANCE, NOMINAL_QUOTA, Allowance, Quota
from emulator.settings import RateLimit, Settings
from emulator.state import build, limit_policy
from emulator.store import MemoryStore

pytestmark = pytest.mark.anyio

KEY = "sk-domain"


def gateway(**settings: Any) -> Gateway:
    chosen = Settings(**settings)
    return Gateway({}, chosen.rate_limit, limit_policy(chosen))


async def test_limits_left_off_take_no_store_call() -> None:
    store, clock = MemoryStore(), VirtualClock(1000.0)
    gate = gateway()
    assert gate.limiting == frozenset()
    for provider in ("seacloud", "aa"):
        await gate.admit(store, provider, KEY, clock)
    assert await gate.admit_images(store, "openai", KEY, "gpt-image-1", 10, clock) is NOMINAL_QUOTA
    assert not store._windows


async def test_the_images_windows_are_per_key_and_model() -> None:
    store, clock = MemoryStore(), VirtualClock(1000.0)
    gate = gateway(openai_rpm=2, openai_ipm=3)
    assert gate.limiting == frozenset()  # OpenAI counts in its handler, once the model is known
    quota = await gate.admit_images(store, "openai", KEY, "gpt-image-1", 2, clock)
    assert quota == Quota(Allowance(2, 1, 60.0), Allowance(3, 1, 60.0))
    clock.advance(6)
    with pytest.raises(RateLimited) as refused:
        await gate.admit_images(store, "openai", KEY, "gpt-image-1", 2, clock)
    exc = refused.value
    assert (exc.kind, exc.limit, exc.used, exc.requested, exc.model) == (
        "images",
        3,
        2,
        2,
        "gpt-image-1",
    )
    assert exc.retry_after == pytest.approx(54.0)
    assert exc.owner == owner_of(KEY)
    assert exc.quota == Quota(Allowance(2, 1, 54.0), Allowance(3, 1, 54.0))
    # Another model or key: other windows; AGCloud's limits are its own (off here).
    assert (await gate.admit_images(store, "openai", KEY, "gpt-image-2", 3, clock)).images == (
        Allowance(3, 0, 60.0)
    )
    await gate.admit_images(store, "openai", "sk-other", "gpt-image-1", 3, clock)
    assert await gate.admit_images(store, "agcloud", KEY, "gpt-image-1", 9, clock) is NOMINAL_QUOTA
    # The requests window refuses first, and names itself.
    await gate.admit_images(store, "openai", KEY, "gpt-image-1", 1, clock)
    with pytest.raises(RateLimited) as refused:
        await gate.admit_images(store, "openai", KEY, "gpt-image-1", 1, clock)
    assert (refused.value.kind, refused.value.used) == ("requests", 2)


async def test_the_gateway_counts_the_queues_and_aas_requests_per_key() -> None:
    store, clock = MemoryStore(), VirtualClock(1000.0)
    gate = gateway(queue_rpm=1, aa_rpm=2)
    assert gate.limiting == {"seacloud", "odirouter", "aa"}
    await gate.admit(store, "seacloud", KEY, clock)
    await gate.admit(store, "odirouter", KEY, clock)  # each provider its own window
    with pytest.raises(RateLimited) as refused:
        await gate.admit(store, "seacloud", KEY, clock)
    assert (refused.value.kind, refused.value.limit, refused.value.quota) == ("requests", 1, None)
    await gate.admit(store, "aa", KEY, clock)
    await gate.admit(store, "aa", KEY, clock)
    with pytest.raises(RateLimited):
        await gate.admit(store, "aa", KEY, clock)


async def test_the_generic_window_still_counts_for_every_provider() -> None:
    store, clock = MemoryStore(), VirtualClock(1000.0)
    gate = gateway(rate_limit=RateLimit(limit=1, window_seconds=30), queue_rpm=5)
    assert gate.limiting == {"seacloud", "odirouter", "openai", "agcloud", "aa"}
    await gate.admit(store, "openai", KEY, clock)
    with pytest.raises(RateLimited) as refused:
        await gate.admit(store, "openai", KEY, clock)
    exc = refused.value
    assert (exc.kind, exc.limit, exc.window, exc.retry_after) == ("window", 1, 30.0, 30.0)
    # Shown on OpenAI's answers as its requests limit; the images one stays nominal.
    assert exc.quota == Quota(Allowance(1, 0, 30.0), NOMINAL_ALLOWANCE)
    await gate.admit(store, "seacloud", KEY, clock)
    with pytest.raises(RateLimited) as refused:
        await gate.admit(store, "seacloud", KEY, clock)
    assert refused.value.kind == "window"


# -- what a request asks for, as the limits count it ---------------------------------------------

IMAGES = build(Settings()).images
JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-5, 20) | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=2) | st.dictionaries(st.text(), inner, max_size=2),
    max_leaves=4,
)


@given(JSON)
def test_n_counts_when_it_is_a_valid_count_else_as_one(n: Any) -> None:
    valid = isinstance(n, int) and not isinstance(n, bool) and 1 <= n <= 10
    model, counted = IMAGES.requested("openai", "images.generate", {"model": "x", "n": n})
    assert model == ""  # an unknown model counts under none: OpenAI's model has no default
    assert counted == (n if valid else 1)


@given(st.text(max_size=4) | st.sampled_from(["²", "٣", "10", "11", "0", "007"]))
def test_a_forms_n_counts_when_it_is_digits_of_a_valid_count(n: str) -> None:
    upload = Upload(fields={"n": n, "model": "gpt-image-2"}, files={})
    model, counted = IMAGES.requested("openai", "images.edit", None, upload)
    valid = n.isascii() and n.isdigit() and 1 <= int(n) <= 10
    assert (model, counted) == ("gpt-image-2", int(n) if valid else 1)


def test_a_body_that_is_not_an_object_counts_as_one_image_of_the_default_model() -> None:
    # Neither OpenAI's nor AGCloud's edits name a default model: such a request counts under
    # none.
    assert IMAGES.requested("openai", "images.edit", ["n", 4]) == ("", 1)
    assert IMAGES.requested("agcloud", "images.edit", None) == ("", 1)
