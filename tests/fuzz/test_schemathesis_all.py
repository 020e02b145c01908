"""Schemathesis over every provider document: no server error, no answer off its document.

Each provider's document as the emulator serves it, in-process, through every phase of
Schemathesis' engine (examples, coverage, fuzzing, and stateful over the links it infers from
the answers), positive and negative data, with the one valid key so the auth checks bite
(tests/support/schemathesis_runs.py says which checks run and why three are replaced).

- The whole run (``slow``, CI): at least ``MIN_CASES`` requests per provider document and
  run. The queue runs twice: with the documented asynchronous validation on an emulator whose
  jobs finish at once (results, cancels of finished jobs), and with ``validation=sync`` on a
  stopped virtual clock (jobs waiting in the queue). The Images providers run in load mode:
  the answers' shapes are the same, the pixels are stamped instead of rendered, so the budget
  goes to requests; rendering from bad inputs is fuzzed on its own (test_image_inputs.py,
  test_bad_requests.py) and by the everyday run below.
- The everyday run (not ``slow``): examples, fuzzing and stateful, a few hundred requests per
  provider, the Images providers rendering every image.
"""

from __future__ import annotations

from typing import Any

import pytest
from starlette.applications import Starlette

from tests.helpers import fast_app, make_app
from tests.support import schemathesis_runs as runs

KEY = "sk-fuzz"
MIN_CASES = 2000
EVERYDAY_PHASES = ("examples", "fuzzing", "stateful")


def app_for(provider: str, validation: str = "async", *, load_mode: bool = False) -> Starlette:
    """The emulator the run targets: only ``KEY`` valid for ``provider``."""
    keys = {provider: (KEY,)}
    if validation == "sync":
        return make_app(api_keys=keys, validation="sync")  # a stopped clock: jobs stay queued
    return fast_app(api_keys=keys, load_mode=load_mode)


# (provider, validation, Hypothesis examples per operation and phase): each run sends at least
# MIN_CASES requests (the queue's 24 operations need few each; AGCloud's one needs them all).
WHOLE = [
    ("seacloud", "async", 45),
    ("seacloud", "sync", 45),
    ("odirouter", "async", 45),
    ("odirouter", "sync", 45),
    ("openai", "async", 850),
    ("agcloud", "async", 2000),
    ("aa", "async", 900),
]
EVERYDAY = [
    ("seacloud", "async", 4),
    ("odirouter", "sync", 4),
    ("openai", "async", 80),
    ("agcloud", "async", 150),
    ("aa", "async", 25),
]


def _run(provider: str, validation: str, examples: int, **options: Any) -> runs.Run:
    load_mode = options.pop("load_mode", False)
    app = app_for(provider, validation, load_mode=load_mode)
    return runs.run(
        provider,
        app,
        key=KEY,
        examples=examples,
        sync_validation=validation == "sync",
        **options,
    )


# ~2 minutes on two cores for the 7 runs (15,000 requests); the everyday test_everyday_run
# below runs the same checks on a few hundred requests per provider.
@pytest.mark.slow
@pytest.mark.parametrize(("provider", "validation", "examples"), WHOLE)
def test_whole_run(provider: str, validation: str, examples: int) -> None:
    found = _run(provider, validation, examples, load_mode=provider not in runs.QUEUE)
    assert not found.failures, found.report()
    assert not found.errors, found.report()
    assert found.total >= MIN_CASES, found.report()


@pytest.mark.parametrize(("provider", "validation", "examples"), EVERYDAY)
def test_everyday_run(provider: str, validation: str, examples: int) -> None:
    found = _run(provider, validation, examples, phases=EVERYDAY_PHASES)
    assert not found.failures, found.report()
    assert not found.errors, found.report()
    assert found.total >= 100, found.report()
