"""Hypothesis profiles, chosen by ``HYPOTHESIS_PROFILE`` (``dev`` by default, ``ci`` in
``scripts/test``): no deadline; ``ci`` twice the examples and no example database.

A test that needs more or fewer examples scales the profile's count with
``tests.helpers.examples`` rather than hard-coding one."""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

settings.register_profile(
    "ci",
    deadline=None,
    max_examples=60,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile(
    "dev", deadline=None, max_examples=30, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev"))
