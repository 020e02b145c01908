"""Short, readable texts for JSON Schema errors; never the whole (possibly huge) instance."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

# JSON Schema type names as a sentence says them.
TYPE_NAMES = {
    "string": "a string",
    "integer": "an integer",
    "number": "a number",
    "array": "an array",
    "object": "an object",
    "boolean": "a boolean",
    "null": "null",
}


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _or_list(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " or " + items[-1]


def describe(error: Any) -> tuple[str, str]:
    """``(kind, message)`` for one ``jsonschema_rs.ValidationError``."""
    kind = type(error.kind).__name__
    facts = error.kind.as_dict()
    value = error.instance
    if kind == "AnyOf":
        # Report the branch that got furthest: one whose failure is not merely its type.
        for branch in facts["context"]:
            if branch and type(branch[0].kind).__name__ != "Type":
                return describe(branch[0])
        types = [t for branch in facts["context"] for t in branch[0].kind.as_dict()["types"]]
        return "type", f"Input should be {_or_list([TYPE_NAMES.get(t, t) for t in types])}"
    messages: dict[str, Callable[[], str]] = {
        "Enum": lambda: (
            f"Input should be {_or_list([repr(o) for o in facts['options']])}, got {_short(value)}"
        ),
        "Type": lambda: (
            f"Input should be {_or_list([TYPE_NAMES.get(t, t) for t in facts['types']])}"
        ),
        "Minimum": lambda: f"Input should be greater than or equal to {facts['limit']}",
        "Maximum": lambda: f"Input should be less than or equal to {facts['limit']}",
        "MinLength": lambda: f"String should have at least {facts['limit']} character(s)",
        "MaxLength": lambda: f"String should have at most {facts['limit']} characters",
        "MinItems": lambda: f"List should have at least {facts['limit']} item(s)",
        "MaxItems": lambda: f"List should have at most {facts['limit']} items",
        "Pattern": lambda: f"String should match pattern '{facts['pattern']}', got {_short(value)}",
        "Required": lambda: "Field required",
    }
    make = messages.get(kind)
    text: str = make() if make is not None else str(error.message)
    if len(text) > 200:
        text = text[:197] + "..."
    return kind.lower(), text
