"""Unique node ids: a run whose collected items share a node id fails, naming them.

Two items with one id are one line in a report, one entry in ``--lf`` and ``--deselect``, one
row in JUnit: a failure of one hides behind the other. Pytest makes parametrized ids unique,
but a plugin that builds its own items may not: Schemathesis' items (one per API operation) are
named ``test_x[METHOD /path]`` while their id, which pytest 9.2 derives from the function's
name, is ``test_x`` for all of them. ``pytest_collection_modifyitems`` gives such an item the id
its name says, then checks every collected item (deselected ones too)."""

from __future__ import annotations

from collections import Counter

import pytest
from _pytest.nodeid import NodeId
from schemathesis.pytest.plugin import SchemathesisFunction


def duplicates(nodeids: list[str]) -> dict[str, int]:
    """The ids that occur more than once, with their counts, in order of first occurrence."""
    return {nodeid: n for nodeid, n in Counter(nodeids).items() if n > 1}


def _name_in_id(item: pytest.Item) -> None:
    """Give a Schemathesis item the id of its name (``test_x[METHOD /path]``)."""
    expected = f"{item.parent.nodeid}::{item.name}" if item.parent else item.nodeid
    if item.nodeid != expected:
        item._id = NodeId.parse(expected)  # type: ignore[attr-defined]


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if isinstance(item, SchemathesisFunction):
            _name_in_id(item)
    shared = duplicates([item.nodeid for item in items])
    if shared:
        listed = "\n".join(f"  {nodeid} ({n} items)" for nodeid, n in shared.items())
        raise pytest.UsageError(
            f"{len(shared)} node id(s) are shared by several collected items:\n{listed}\n"
            "Give each its own id (pytest.param(..., id=...), or ids= in parametrize)."
        )
