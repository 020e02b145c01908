"""The layers import in one direction: domain and store never import Starlette or the HTTP layer."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1] / "emulator"
FORBIDDEN = ("starlette", "uvicorn", "emulator.http", "emulator.app")


def imports_of(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


@pytest.mark.parametrize(
    "path",
    sorted([*ROOT.joinpath("domain").rglob("*.py"), *ROOT.joinpath("store").rglob("*.py")]),
    ids=lambda p: str(p.relative_to(ROOT)),
)
def test_domain_and_store_stay_below_http(path: Path) -> None:
    bad = {name for name in imports_of(path) if name.startswith(FORBIDDEN)}
    assert not bad, f"{path.name} imports {sorted(bad)}"


def test_the_check_sees_files() -> None:
    assert len(list(ROOT.joinpath("domain").rglob("*.py"))) > 10


@pytest.mark.parametrize("path", sorted(ROOT.rglob("*.py")), ids=lambda p: str(p.relative_to(ROOT)))
def test_the_emulator_imports_neither_the_clients_nor_the_contract_suite(path: Path) -> None:
    bad = {
        name
        for name in imports_of(path)
        if name.split(".")[0] in ("clients", "contracts", "imgemu")
    }
    assert not bad, f"{path.relative_to(ROOT)} imports {sorted(bad)}: only imgemu joins the parts"
