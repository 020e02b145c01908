"""Load an OpenAPI document once and compile what the emulator needs from it.

Each operation that carries ``x-imgemu-operation: {kind, model}`` becomes an ``Operation`` with
its request-body validator compiled once, the defaults of its body's properties, and the names
of the semantic rules (``x-imgemu-rules``) that JSON Schema cannot express.
"""

from __future__ import annotations

import contextlib
import copy
import json
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any

import jsonschema_rs
import yaml

from emulator.domain.errors import Violation
from emulator.spec.messages import describe

_METHODS = ("get", "put", "post", "delete", "patch")


class SpecError(RuntimeError):
    """A document is missing, malformed, or names a rule the emulator does not have."""


DOCUMENTS_PACKAGE = "emulator.openapi"


def spec_dir() -> Traversable:
    """The provider documents: the repository's ``openapi/``, shipped as ``emulator.openapi``.

    Read through ``importlib.resources`` so an installed wheel finds them as a checkout does.
    """
    return resources.files(DOCUMENTS_PACKAGE)


def document_text(provider: str) -> str:
    """The YAML text of ``provider``'s document."""
    return spec_dir().joinpath(f"{provider}.yaml").read_text(encoding="utf-8")


# libyaml's parser where PyYAML was built with it: ten times the pure-Python one's speed.
_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def parse_document(text: str) -> Any:
    """A YAML document's data (safe types only)."""
    return yaml.load(text, Loader=_YAML_LOADER)


Validate = Callable[[Any], tuple[Violation, ...]]


@dataclass(frozen=True, slots=True)
class FormSpec:
    """A ``multipart/form-data`` body: which parts are files, and how to type the others.

    Form fields arrive as text; ``coerce`` turns each into the type its schema declares
    (``"2"`` -> 2, ``"true"`` -> True) so one validator serves JSON and forms alike. Text that
    does not read as the declared type is left as text, for the validator to report.
    """

    validate: Validate
    defaults: Mapping[str, Any]
    file_fields: frozenset[str]
    field_types: Mapping[str, str]

    def coerce(self, fields: Mapping[str, str]) -> dict[str, Any]:
        """The form's text fields, typed as the schema declares them."""
        return {name: _coerce(text, self.field_types.get(name)) for name, text in fields.items()}


@dataclass(frozen=True, slots=True)
class Operation:
    """One operation of a document, ready to serve."""

    operation_id: str
    kind: str
    model: str
    method: str
    path: str
    validate: Validate | None = None  # the application/json body
    defaults: Mapping[str, Any] = field(default_factory=dict)
    rules: tuple[str, ...] = ()
    form: FormSpec | None = None  # the multipart/form-data body, if the operation takes one
    statuses: frozenset[int] = frozenset()  # every status the document gives an answer for
    streams: bool = False  # its answer may be a text/event-stream


@dataclass(frozen=True, slots=True)
class Document:
    """A provider's document and its operations, keyed by ``(kind, model)``."""

    provider: str
    raw: Mapping[str, Any]
    operations: Mapping[tuple[str, str], Operation]

    @property
    def models(self) -> frozenset[str]:
        return frozenset(model for _, model in self.operations)

    def operation(self, kind: str, model: str) -> Operation | None:
        return self.operations.get((kind, model))

    @property
    def response_headers(self) -> frozenset[str]:
        """Every header the document says an answer carries (lower case)."""
        found: set[str] = set()
        todo: list[Any] = [
            self.raw.get("paths"),
            (self.raw.get("components") or {}).get("responses"),
        ]
        while todo:
            node = todo.pop()
            if isinstance(node, dict):
                headers = node.get("headers")
                if isinstance(headers, dict):
                    found.update(name.lower() for name in headers)
                todo.extend(node.values())
            elif isinstance(node, list):
                todo.extend(node)
        return frozenset(found)

    def as_json(self, server_url: str | None = None) -> bytes:
        """The document as JSON, with ``servers`` pointed at ``server_url`` when given."""
        doc = dict(self.raw)
        if server_url is not None:
            doc["servers"] = [{"url": server_url, "description": "this emulator"}]
        return json.dumps(doc).encode()


def _resolve(doc: Mapping[str, Any], node: Any) -> Any:
    while isinstance(node, dict) and "$ref" in node:
        ref = node["$ref"]
        if not ref.startswith("#/"):
            raise SpecError(f"only local references are supported: {ref}")
        target: Any = doc
        for part in ref[2:].split("/"):
            target = target[part.replace("~1", "/").replace("~0", "~")]
        node = target
    return node


def _facts(error: Any) -> dict[str, Any]:
    """What a dialect may say of one schema error: the error's own facts, the instance's JSON
    type (``instance_type``), and the instance itself when it is short (``value``)."""
    facts: dict[str, Any] = {}
    with contextlib.suppress(AttributeError, TypeError, ValueError):
        facts.update(error.kind.as_dict())
    facts.pop("context", None)
    value = error.instance
    facts["instance_type"] = json_type(value)
    if isinstance(value, str | int | float | bool) or value is None:
        facts["value"] = value if not isinstance(value, str) or len(value) <= 200 else None
    if isinstance(value, str | list | dict):
        facts["length"] = len(value)
    return facts


def json_type(value: Any) -> str:
    """The JSON Schema type name of a parsed JSON ``value`` (``integer`` for a whole number)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def _violations(validator: Any, body: Any) -> tuple[Violation, ...]:
    found = [v for error in validator.iter_errors(body) for v in _described(error)]
    found.sort(key=lambda v: [str(p) for p in v.loc])
    return tuple(found)


def _described(error: Any) -> list[Violation]:
    """The violations of one error: a ``oneOf`` that one branch fits but for its fields' values
    is that branch's errors (``images[0].image_url`` too long, not the whole reference)."""
    if type(error.kind).__name__ == "OneOfNotValid":
        branch = _fitting_branch(error)
        if branch is not None:
            return [v for inner in branch for v in _described(inner)]
    if type(error.kind).__name__ == "AnyOf":
        branch = _non_null_branch(error)
        if branch is not None:
            return [v for inner in branch for v in _described(inner)]
    loc: tuple[str | int, ...] = tuple(error.instance_path)
    kind, message = describe(error)
    if kind == "required":
        loc = (*loc, error.kind.property)
    return [Violation(loc=loc, message=message, kind=kind, facts=_facts(error))]


def _fitting_branch(error: Any) -> list[Any] | None:
    """The one branch of a failed ``oneOf`` whose errors all lie inside the instance (its
    shape fits, some values do not); None when no branch or several do."""
    depth = len(error.instance_path)
    with contextlib.suppress(AttributeError, KeyError, TypeError):
        branches = error.kind.as_dict()["context"]
        fitting = [
            branch
            for branch in branches
            if branch and all(len(inner.instance_path) > depth for inner in branch)
        ]
        if len(fitting) == 1:
            return list(fitting[0])
    return None


def _non_null_branch(error: Any) -> list[Any] | None:
    """A nullable field's (``anyOf: [schema, {type: 'null'}]``) error that is not null: the
    schema branch's errors, as if the field were not nullable; None for any other ``anyOf``."""
    with contextlib.suppress(AttributeError, KeyError, TypeError):
        branches = error.kind.as_dict()["context"]
        others = [
            branch
            for branch in branches
            if not (
                len(branch) == 1
                and type(branch[0].kind).__name__ == "Type"
                and branch[0].kind.as_dict()["types"] == ["null"]
            )
        ]
        if len(branches) == 2 and len(others) == 1 and others[0]:
            return list(others[0])
    return None


def _default(doc: Mapping[str, Any], prop: Any) -> tuple[bool, Any]:
    """``(True, default)`` of a property: its own, its referenced schema's, or (a nullable
    ``anyOf``) its branches'; ``(False, None)`` when it has none."""
    resolved = _resolve(doc, prop)
    for node in (prop, resolved, *((resolved or {}).get("anyOf") or ())):
        node = _resolve(doc, node)
        if isinstance(node, dict) and "default" in node:
            return True, node["default"]
    return False, None


def _compile(doc: Mapping[str, Any], schema_node: Any) -> tuple[Validate, dict[str, Any]]:
    schema = _resolve(doc, schema_node)
    root = {"$ref": schema_node["$ref"]} if "$ref" in schema_node else copy.deepcopy(schema)
    root["components"] = doc.get("components", {})
    validator = jsonschema_rs.validator_for(root)
    defaults = {}
    for name, prop in (schema.get("properties") or {}).items():
        found, default = _default(doc, prop)
        if found:
            defaults[name] = default

    def validate(body: Any) -> tuple[Violation, ...]:
        if validator.is_valid(body):
            return ()
        return _violations(validator, body)

    return validate, defaults


def _coerce(text: str, declared: str | None) -> Any:
    try:
        if declared == "integer":
            return int(text.strip())
        if declared == "number":
            return float(text.strip())
    except ValueError:
        return text
    if declared == "boolean" and text.strip().lower() in ("true", "false"):
        return text.strip().lower() == "true"
    return text


def _is_file(doc: Mapping[str, Any], node: Any) -> bool:
    node = _resolve(doc, node)
    if not isinstance(node, dict):
        return False
    if node.get("format") == "binary" or "contentMediaType" in node:
        return True
    if node.get("type") == "array":
        return _is_file(doc, node.get("items", {}))
    return any(_is_file(doc, branch) for branch in node.get("oneOf") or node.get("anyOf") or ())


def _declared_type(doc: Mapping[str, Any], node: Any) -> str | None:
    node = _resolve(doc, node)
    if not isinstance(node, dict):
        return None
    declared = node.get("type")
    if isinstance(declared, list):
        declared = next((t for t in declared if t != "null"), None)
    if declared is None:
        for branch in node.get("oneOf") or node.get("anyOf") or ():
            declared = _declared_type(doc, branch)
            if declared is not None:
                break
    return declared if isinstance(declared, str) else None


def _compile_form(doc: Mapping[str, Any], schema_node: Any) -> FormSpec:
    schema = copy.deepcopy(_resolve(doc, schema_node))
    properties = schema.get("properties") or {}
    files = frozenset(name for name, prop in properties.items() if _is_file(doc, prop))
    types = {
        name: t
        for name, prop in properties.items()
        if name not in files and (t := _declared_type(doc, prop)) is not None
    }
    # Files are checked by the rules (magic bytes, counts); the validator sees the text fields.
    schema["properties"] = {k: v for k, v in properties.items() if k not in files}
    schema["required"] = [name for name in schema.get("required", ()) if name not in files]
    for combinator in ("oneOf", "anyOf", "allOf"):  # e.g. "one of `image` or `image[]`"
        branches = schema.get(combinator) or []
        if all(set(b) == {"required"} and set(b["required"]) <= files for b in branches):
            schema.pop(combinator, None)
    validate, defaults = _compile(doc, schema)
    return FormSpec(validate, defaults, files, types)


def _iter_operations(doc: Mapping[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in (doc.get("paths") or {}).items():
        item = _resolve(doc, item)
        for method in _METHODS:
            if method in item:
                yield path, method, item[method]


def load_document(provider: str, path: Traversable | Path, known_rules: frozenset[str]) -> Document:
    """Read ``path`` and compile every bound operation; unknown rule names are an error."""
    try:
        raw = parse_document(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise SpecError(f"cannot read {path}: {exc}") from exc
    operations: dict[tuple[str, str], Operation] = {}
    for route, method, op in _iter_operations(raw):
        binding = op.get("x-imgemu-operation")
        if not binding:
            continue
        rules = tuple(op.get("x-imgemu-rules", ()))
        unknown = set(rules) - known_rules
        if unknown:
            raise SpecError(f"{path}: {op['operationId']} names unknown rules {sorted(unknown)}")
        validate: Validate | None = None
        defaults: dict[str, Any] = {}
        form: FormSpec | None = None
        if "requestBody" in op:
            content = _resolve(raw, op["requestBody"])["content"]
            if "application/json" in content:
                validate, defaults = _compile(raw, content["application/json"]["schema"])
            if "multipart/form-data" in content:
                form = _compile_form(raw, content["multipart/form-data"]["schema"])
        key = (binding["kind"], binding.get("model", "*"))
        responses = op.get("responses") or {}
        statuses = frozenset(int(code) for code in responses if str(code).isdigit())
        streams = any(
            "text/event-stream" in (_resolve(raw, answer).get("content") or {})
            for answer in responses.values()
        )
        operations[key] = Operation(
            operation_id=op["operationId"],
            kind=binding["kind"],
            model=binding["model"],
            method=method.upper(),
            path=route,
            validate=validate,
            defaults=defaults,
            rules=rules,
            form=form,
            statuses=statuses,
            streams=streams,
        )
    return Document(provider=provider, raw=raw, operations=operations)


@cache
def load_cached(provider: str, known_rules: frozenset[str]) -> Document:
    """The shipped document of ``provider``, compiled once per process: app factories in tests
    share the compiled result."""
    return load_document(provider, spec_dir().joinpath(f"{provider}.yaml"), known_rules)
