"""The pytest plugin: inert by default; one item per check and operation; failures, skips, JUnit."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections.abc import Callable
from importlib.metadata import entry_points
from typing import Any

import httpcore  # noqa: F401  (see above)
import pytest

# Imported here (Schemathesis with it), so the module snapshot of each pytester run keeps them.
# httpx imports httpcore on first use and maps its exceptions once: were httpcore first imported
# inside a pytester run, a later run would import it afresh and its ConnectError go unmapped.
import contracts._spec
import contracts.plugin
from contracts.report import Outcome
from tests.helpers import RunningServer, free_port
from tests.support.contracts import KEY, Reshape, contract_app, halved

GENERATIONS = "POST /v1/images/generations"
EDITS = "POST /v1/images/edits"
CHEAP = ["--contract-examples", "2", "--contract-derandomize", "-p", "no:cacheprovider"]


def _contract(target: str, *checks: str, key: bool = True) -> list[str]:
    args = ["--contract-provider", "openai", "--contract-target", target, *CHEAP]
    if key:
        args += ["--contract-api-key", KEY]
    for name in checks:
        args += ["--contract-check", name]
    return args


def json_rewrite(app: Any, rewrite: Callable[[str, Any], Any]) -> Reshape:
    """``rewrite(path, data)`` gets each JSON answer's decoded body; others pass as they are."""

    def reshape(scope: Any, status: int, headers: Any, body: bytes) -> Any:
        if not dict(headers).get(b"content-type", b"").startswith(b"application/json"):
            return status, headers, body
        return status, headers, json.dumps(rewrite(scope["path"], json.loads(body))).encode()

    return Reshape(app, lambda scope: True, reshape)


def half_size(path: str, data: Any) -> Any:
    """Generated images at half the size asked."""
    if path == "/v1/images/generations" and isinstance(data, dict):
        for item in data.get("data") or []:
            item["b64_json"] = halved(item["b64_json"])
    return data


def no_error_key(path: str, data: Any) -> Any:
    """Error answers without their documented ``error`` object."""
    if isinstance(data, dict) and "error" in data:
        data = {k: v for k, v in data.items() if k != "error"}
    return data


def _outcomes(reprec: pytest.HookRecorder) -> dict[str, pytest.TestReport]:
    """Each item's deciding report (the call's, or the setup's when it did not pass)."""
    found: dict[str, pytest.TestReport] = {}
    for report in reprec.getreports("pytest_runtest_logreport"):
        assert isinstance(report, pytest.TestReport)
        if report.when == "call" or (report.when == "setup" and not report.passed):
            found[report.nodeid] = report
    return found


def test_the_entry_point_registers_the_plugin() -> None:
    (point,) = [e for e in entry_points(group="pytest11") if e.name == "imgemu_contract"]
    assert point.value == "contracts.plugin"


def test_without_a_provider_it_is_inert(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        def test_plain(pytestconfig):
            assert pytestconfig.pluginmanager.has_plugin("imgemu_contract")
            assert pytestconfig.getoption("contract_provider") is None
        """
    )
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
    assert "imgemu contract" not in result.stdout.str()


def test_the_emulator_passes_with_one_item_per_check_and_operation(
    pytester: pytest.Pytester,
    emulator: RunningServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", KEY)  # the default of --contract-api-key
    junit = pytester.path / "contract.xml"
    md = pytester.path / "contract.md"
    args = _contract(emulator.base_url, "spec_negative", "image_properties", key=False)
    reprec = pytester.inline_run(*args, f"--junitxml={junit}", f"--contract-report={md}")
    outcomes = _outcomes(reprec)
    assert set(outcomes) == {
        f"openai::spec_negative::{GENERATIONS}",
        f"openai::spec_negative::{EDITS}",
        f"openai::image_properties::{GENERATIONS}",
    }
    assert all(r.passed for r in outcomes.values())
    # The image check asks twice of one operation: one item, its assumptions recorded once.
    props = outcomes[f"openai::image_properties::{GENERATIONS}"].user_properties
    assert ("status", "assumed") in props
    assumptions = [v for k, v in props if k == "assumption"]
    assert assumptions
    assert len(assumptions) == len(set(assumptions))

    root = ET.parse(junit).getroot()
    cases = {(c.get("classname"), c.get("name")): c for c in root.iter("testcase")}
    assert set(cases) == {
        ("openai.spec_negative", GENERATIONS),
        ("openai.spec_negative", EDITS),
        ("openai.image_properties", GENERATIONS),
    }
    for case in cases.values():
        names = [p.get("name") for p in case.iter("property")]
        assert "status" in names
        assert "assumption" in names
    assert md.read_text(encoding="utf-8").startswith("# Contract report: openai")


def test_a_wrong_image_size_fails_its_item_with_the_exchange(
    pytester: pytest.Pytester, serve: Callable[[Any], RunningServer]
) -> None:
    server = serve(json_rewrite(contract_app(), half_size))
    result = pytester.runpytest(*_contract(server.base_url, "image_properties"), "-rf")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines([f"FAILED openai::image_properties::{GENERATIONS}*"])
    reprec = pytester.inline_run(*_contract(server.base_url, "image_properties"))
    (failed,) = reprec.getfailures()
    assert isinstance(failed, pytest.TestReport)
    assert failed.nodeid == f"openai::image_properties::{GENERATIONS}"
    text = failed.longreprtext
    assert "size 512x512, asked 1024x1024" in text
    assert "--- request\nPOST http" in text
    assert "'authorization': '<redacted>'" in text
    assert "--- response\n200" in text
    assert ("status", "failed") in failed.user_properties
    assert KEY not in text


def test_a_dropped_error_key_fails_the_negative_items(
    pytester: pytest.Pytester, serve: Callable[[Any], RunningServer]
) -> None:
    server = serve(json_rewrite(contract_app(), no_error_key))
    reprec = pytester.inline_run(*_contract(server.base_url, "spec_negative"))
    outcomes = _outcomes(reprec)
    failed = {nodeid for nodeid, r in outcomes.items() if r.failed}
    assert f"openai::spec_negative::{GENERATIONS}" in failed
    report = outcomes[f"openai::spec_negative::{GENERATIONS}"]
    assert "curl -X POST" in report.longreprtext  # the request, as Schemathesis replays it
    assert reprec.ret == pytest.ExitCode.TESTS_FAILED


def test_a_tiny_budget_skips_with_the_reason(
    pytester: pytest.Pytester, emulator: RunningServer
) -> None:
    args = [*_contract(emulator.base_url, "image_properties"), "--contract-max-spend-usd", "0.003"]
    outcomes = _outcomes(pytester.inline_run(*args))
    passed = outcomes[f"openai::image_properties::{GENERATIONS}"]
    skipped = outcomes["openai::image_properties::(image_properties)"]
    assert passed.passed
    assert skipped.skipped
    assert isinstance(skipped.longrepr, tuple)
    assert skipped.longrepr[2].startswith("Skipped: skipped: budget")


def test_collect_only_lists_the_checks_without_calling_the_target(
    pytester: pytest.Pytester,
) -> None:
    args = _contract("http://127.0.0.1:9", "spec_negative", "stream_events")
    result = pytester.runpytest(*args, "--collect-only", "-q")
    assert result.ret == pytest.ExitCode.OK
    result.stdout.fnmatch_lines(
        [
            "openai::spec_negative::(not run: --collect-only)",
            "openai::stream_events::(not run: --collect-only)",
        ]
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--contract-provider", "openai"], "*--contract-provider needs --contract-target URL*"),
        (["--contract-target", "http://x"], "*--contract-target needs --contract-provider*"),
        (
            [*_contract("http://x"), "--contract-check", "no_such_check"],
            "*unknown checks: no_such_check*",
        ),
        (
            _contract("http://x", "queue_lifecycle"),
            "*queue_lifecycle does not apply to openai (its checks: spec_negative, *",
        ),
        (
            _contract("http://x", "image_properties", "queue_lifecycle"),
            "*queue_lifecycle does not apply to openai*",
        ),
        (
            [*_contract("http://x"), "--contract-max-spend-usd", "-1"],
            "*--contract-max-spend-usd must not be negative*",
        ),
    ],
)
def test_misuse_is_a_usage_error(pytester: pytest.Pytester, args: list[str], message: str) -> None:
    result = pytester.runpytest(*args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([message])


def test_outcomes_are_grouped_by_check_then_operation_in_order() -> None:
    def outcome(check: str, operation: str) -> Outcome:
        return Outcome(check, operation, "verified")

    grouped = contracts.plugin.group_outcomes(
        [outcome("b", "GET /x"), outcome("a", "GET /y"), outcome("b", "GET /x")]
    )
    assert list(grouped) == ["b", "a"]
    assert [len(v) for v in grouped["b"].values()] == [2]


def test_an_unreachable_target_is_one_collection_error(pytester: pytest.Pytester) -> None:
    target = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    result = pytester.runpytest(*_contract(target, "image_properties"))
    assert result.ret == pytest.ExitCode.INTERRUPTED
    result.stdout.fnmatch_lines([f"*imgemu contract: cannot reach {target}/v1: ConnectError*"])
    result.stdout.no_fnmatch_line("*Traceback*")
