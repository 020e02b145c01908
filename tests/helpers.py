"""Plain helpers the tests import (fixtures come through pytest: see the root conftest)."""

from __future__ import annotations

from hypothesis import settings


def examples(scale: float = 1.0) -> int:
    """The active Hypothesis profile's ``max_examples`` (``ci`` or ``dev``, tests/conftest.py)
    times ``scale``, at least one: a test that needs more or fewer examples than the profile's
    default scales it rather than hard-coding a count, so every test follows the profile."""
    return max(1, round(settings().max_examples * scale))
