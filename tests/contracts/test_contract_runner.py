"""The real emulator keeps every provider's contract; the spend cap skips paid checks."""

from __future__ import annotations

import asyncio

import pytest

from contracts import REGISTRY, checks_for, run_contract
from contracts._context import PROFILES
from tests.helpers import RunningServer
from tests.support.contracts import EXAMPLES, KEY, PROVIDERS, target_of


# The queue providers' whole runs take seconds each: slow. The everyday loop keeps the images
# providers' whole runs and, for the queue, tests/contracts/test_contract_drift.py's odirouter
# run of the queue and image checks and test_contract_lifecycle.py's queue machines.
@pytest.mark.parametrize(
    "provider",
    [
        pytest.param(p, marks=pytest.mark.slow) if p in ("seacloud", "odirouter") else p
        for p in PROVIDERS
    ],
)
def test_the_emulator_passes_every_check(emulator: RunningServer, provider: str) -> None:
    report = run_contract(
        provider, target_of(emulator, provider), api_key=KEY, examples=EXAMPLES, derandomize=True
    )
    assert report.ok, [(o.check, o.operation, o.detail) for o in report.failures()]
    ran = {o.check for o in report.outcomes}
    assert ran == {c.name for c in checks_for(PROFILES[provider])}
    assert report.counts()["skipped"] == 0
    assert report.spent_usd > 0  # the paid checks were priced
    # Every passed outcome of an operation with x-imgemu-assumption names it.
    assert all(o.assumptions for o in report.outcomes if o.status == "assumed")


def test_a_tiny_budget_skips_the_paid_checks_and_says_so(emulator: RunningServer) -> None:
    report = run_contract(
        "openai",
        emulator.base_url,
        api_key=KEY,
        max_spend_usd=0.0001,
        examples=EXAMPLES,
        derandomize=True,
    )
    assert report.ok
    paid = {name for name, c in REGISTRY.items() if c.paid}
    skipped = [o for o in report.outcomes if o.status == "skipped"]
    assert skipped
    assert {o.check for o in skipped} <= paid
    assert all(o.detail.startswith("skipped: budget") for o in skipped)
    # The free negative checks ran, and every paid check is reported as skipped.
    assert {o.status for o in report.by_check("spec_negative")} <= {"verified", "assumed"}
    assert {"stream_events", "image_properties"} <= {o.check for o in skipped}
    assert report.spent_usd <= 0.0001


def test_a_budget_for_one_image_stops_before_the_second(emulator: RunningServer) -> None:
    report = run_contract(
        "openai",
        emulator.base_url,
        api_key=KEY,
        max_spend_usd=0.003,  # one gpt-image-1-mini 1024x1024 low image costs $0.002176
        checks=["image_properties"],
    )
    statuses = [o.status for o in report.outcomes]
    assert statuses == ["assumed", "skipped"], report.outcomes
    assert report.spent_usd == pytest.approx(0.002176)


def test_the_registry_describes_every_check() -> None:
    # The provider-specific fidelity modules' checks are described by their own tests.
    kinds = {name: (c.kind, c.paid) for name, c in REGISTRY.items() if not c.providers}
    assert kinds == {
        "spec_negative": ("spec", False),
        "auth_enforced": ("auth", False),
        "spec_conformance": ("spec", True),
        "queue_lifecycle": ("lifecycle", True),
        "stream_events": ("stream", True),
        "stream_lifecycle": ("stream", True),
        "image_properties": ("image", True),
        "edit_refusals": ("spec", False),
        "edit_undeclared_parts": ("spec", False),
        "aa_stream_events": ("stream", True),
        "queue_status_codes": ("lifecycle", True),
        "queue_cancel_running": ("lifecycle", True),
        "queue_start_deadline": ("lifecycle", True),
        "queue_not_offered": ("spec", False),
        "queue_mask_format": ("spec", True),
    }
    order = [c.name for c in checks_for(PROFILES["seacloud"])]
    assert order[0] == "spec_negative"  # free first
    assert "stream_events" not in order
    assert all(c.doc for c in REGISTRY.values())


@pytest.mark.slow  # a whole paid Schemathesis pass; the budget tests above stay everyday
def test_under_a_cap_paid_spec_cases_are_sent_at_the_cheapest_settings(
    emulator: RunningServer,
) -> None:
    seen: list[dict[str, object]] = []
    jobs = emulator.app.state.emulator.store

    report = run_contract(
        "seacloud",
        target_of(emulator, "seacloud"),
        api_key=KEY,
        max_spend_usd=5.0,
        examples=EXAMPLES,
        checks=["spec_conformance"],
        derandomize=True,
    )
    assert report.ok, [(o.check, o.operation, o.detail) for o in report.failures()]
    for job in asyncio.run(jobs.jobs(0, 10_000)):
        if job.started_at is not None:  # accepted (a refused job keeps no parameters)
            seen.append(job.params)
    assert seen  # Schemathesis' positive cases, as the emulator received them
    for params in seen:
        assert (params["quality"], params["n"], params["size"]) == ("low", 1, "1024x1024")
    # The documented price of what was booked stays well under the cap.
    assert report.spent_usd < 5.0
