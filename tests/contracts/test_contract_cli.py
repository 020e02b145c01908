"""``imgemu contract``: exit codes, JUnit XML and the markdown summary."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from contracts import checks_for
from contracts._context import PROFILES
from imgemu.cli import main
from tests.helpers import RunningServer
from tests.support.contracts import KEY, contract_app, wrong_image_size


def _contract(target: str, *extra: str) -> list[str]:
    base = ["contract", "--provider", "openai", "--target", target, "--api-key", KEY]
    return [*base, "--examples", "3", "--derandomize", *extra]


def test_a_passing_run_exits_0_and_writes_both_reports(
    emulator: RunningServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    junit, md = tmp_path / "contract.xml", tmp_path / "contract.md"
    code = main(_contract(emulator.base_url, "--junit", str(junit), "--report", str(md)))
    assert code == 0
    root = ET.parse(junit).getroot()
    suites = {s.get("name"): s for s in root.iter("testsuite")}
    assert set(suites) >= {
        "spec_negative",
        "auth_enforced",
        "spec_conformance",
        "stream_events",
        "stream_lifecycle",
        "image_properties",
    }
    assert set(suites) == {c.name for c in checks_for(PROFILES["openai"])}
    assert all(s.get("failures") == "0" for s in suites.values())
    cases = list(root.iter("testcase"))
    assert all(c.find("failure") is None for c in cases)
    statuses = {p.get("value") for p in root.iter("property") if p.get("name") == "status"}
    assert statuses == {"assumed"}
    text = md.read_text(encoding="utf-8")
    assert text.startswith("# Contract report: openai")
    # 2 + 1 + 2 + 1 + 1 + 2 outcomes of the common checks, one per OpenAI fidelity check
    assert f"| 0 | {len(cases)} | 0 | 0 |" in text
    assert len(cases) == 9 + sum(1 for c in checks_for(PROFILES["openai"]) if c.providers)
    assert "## Failures" not in text
    assert "Contract report" in capsys.readouterr().out


def test_a_failing_run_exits_1_with_the_exchange_in_the_reports(
    serve: Callable[[Any], RunningServer], tmp_path: Path
) -> None:
    server = serve(wrong_image_size(contract_app()))
    junit, md = tmp_path / "contract.xml", tmp_path / "contract.md"
    args = ["--check", "image_properties", "--junit", str(junit), "--report", str(md)]
    assert main(_contract(server.base_url, *args)) == 1
    failures = list(ET.parse(junit).getroot().iter("failure"))
    assert len(failures) == 1
    assert "--- request" in (failures[0].text or "")
    assert "--- response" in (failures[0].text or "")
    text = md.read_text(encoding="utf-8")
    assert "## Failures" in text
    assert "image_properties" in text


def test_a_tiny_budget_is_reported_as_skipped(emulator: RunningServer, tmp_path: Path) -> None:
    md = tmp_path / "contract.md"
    args = ["--max-spend-usd", "0.0001", "--report", str(md)]
    assert main(_contract(emulator.base_url, *args)) == 0
    text = md.read_text(encoding="utf-8")
    assert "skipped: budget" in text
    assert "cap: $0.0001" in text


@pytest.mark.parametrize(
    "extra", [["--max-spend-usd", "-1"], ["--check", "no_such_check"], ["--examples", "0"]]
)
def test_misuse_exits_2(emulator: RunningServer, extra: list[str]) -> None:
    assert main(_contract(emulator.base_url, *extra)) == 2
