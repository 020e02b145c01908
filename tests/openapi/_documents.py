"""Reading the provider documents in the document tests: a cached load, private copies."""

from __future__ import annotations

import copy
from functools import cache
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
METHODS = ("get", "put", "post", "delete", "patch", "head", "options", "trace")


@cache
def load(provider: str) -> dict[str, Any]:
    text = (ROOT / "openapi" / f"{provider}.yaml").read_text(encoding="utf-8")
    doc = yaml.safe_load(text)
    assert isinstance(doc, dict)
    return doc


def document(provider: str) -> dict[str, Any]:
    """A private copy, so no test can change what another one sees."""
    return copy.deepcopy(load(provider))


def operations(doc: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (path, method, item[method])
        for path, item in doc["paths"].items()
        for method in METHODS
        if method in item
    ]
