"""Schemathesis over both queue documents against the app: no server error, nothing off-spec.

Two passes per document. With the documented async validation, invalid input is accepted and
fails later (``REQUEST_INVALID``), so negative data is not refused at submit: that pass runs
every check but ``negative_data_rejection``. With ``validation=sync`` every schema violation is
refused with 422, so that pass runs ``negative_data_rejection``; there a schema-valid body can
still break a semantic rule (``x-imgemu-rules``, e.g. a gpt-image-2 size not divisible by 16),
so it leaves out ``positive_data_acceptance``.
"""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import negative_data_rejection, positive_data_acceptance
from schemathesis.generation.case import Case

from tests.helpers import AUTH, examples, make_app

KEY = AUTH["Authorization"].split(" ", 1)[1]
# Only the test key is valid, so Schemathesis' ignored-auth check has something to find.
KEYS = {"seacloud": (KEY,), "odirouter": (KEY,)}
APPS = {
    ("seacloud", "async"): make_app(api_keys=KEYS),
    ("odirouter", "async"): make_app(api_keys=KEYS),
    ("seacloud", "sync"): make_app(api_keys=KEYS, validation="sync"),
    ("odirouter", "sync"): make_app(api_keys=KEYS, validation="sync"),
}


def load(provider: str, mode: str) -> schemathesis.schemas.BaseSchema:
    schema = schemathesis.openapi.from_asgi(f"/openapi/{provider}.json", APPS[(provider, mode)])
    return schema


seacloud_async = load("seacloud", "async")
odirouter_async = load("odirouter", "async")
seacloud_sync = load("seacloud", "sync")
odirouter_sync = load("odirouter", "sync")

# Whole Schemathesis runs: slow (CI runs them); the everyday loop keeps the contract plugin's
# one item per check and operation (tests/contracts/test_contract_plugin.py).
pytestmark = pytest.mark.slow
SETTINGS = settings(
    max_examples=examples(0.5), deadline=None, suppress_health_check=list(HealthCheck)
)
HEADERS = {"Authorization": f"Bearer {KEY}"}


@seacloud_async.parametrize()
@SETTINGS
def test_seacloud_async(case: Case) -> None:
    case.call_and_validate(headers=HEADERS, excluded_checks=[negative_data_rejection])


@odirouter_async.parametrize()
@SETTINGS
def test_odirouter_async(case: Case) -> None:
    case.call_and_validate(headers=HEADERS, excluded_checks=[negative_data_rejection])


@seacloud_sync.parametrize()
@SETTINGS
def test_seacloud_sync(case: Case) -> None:
    case.call_and_validate(headers=HEADERS, excluded_checks=[positive_data_acceptance])


@odirouter_sync.parametrize()
@SETTINGS
def test_odirouter_sync(case: Case) -> None:
    case.call_and_validate(headers=HEADERS, excluded_checks=[positive_data_acceptance])
