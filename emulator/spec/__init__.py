"""The OpenAPI documents as the emulator uses them: operations, compiled validators, rules."""

from emulator.spec.loader import (
    Document,
    Operation,
    SpecError,
    document_text,
    load_document,
    parse_document,
    spec_dir,
)

__all__ = [
    "Document",
    "Operation",
    "SpecError",
    "document_text",
    "load_document",
    "parse_document",
    "spec_dir",
]
