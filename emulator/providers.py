"""The providers the emulator serves, declared once: one row each, one document each.

Every part of the emulator that names a provider reads this table: the settings (which names
exist), the gateway (which ``Authorization`` schemes a provider takes), the routes (by
protocol), the dialect of an answer to a path no route takes, the index, the served documents
and the capabilities. A new provider is its document ``openapi/<name>.yaml`` and one row here.

The ``Authorization`` schemes are read from the document's ``components.securitySchemes``:
an ``http`` ``bearer`` scheme is ``Bearer``; an ``apiKey`` in the ``Authorization`` header
names its scheme in its description (``Authorization: Key <key>``). A row states a scheme only
where its document cannot say it (none does today).

This module imports neither the HTTP layer nor Starlette, so the domain may read it too.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cache
from typing import Any, Literal

import yaml

from emulator.spec import document_text, spec_dir

Protocol = Literal["queue", "images", "envelope"]
Dialect = Literal["queue", "images", "aa"]

# The bare queue mount: the provider ``settings.queue_provider`` names owns it too.
BARE_QUEUE_MOUNT = "/model"
# The order a row lists its schemes in: a provider's own scheme before the generic bearer.
SCHEME_ORDER = ("Key", "Bearer")
# The operation kinds (``x-imgemu-operation``) of each protocol.
OPERATION_KINDS: dict[Protocol, frozenset[str]] = {
    # ``status.stream`` and ``sync`` are documented as not offered (every call refused).
    "queue": frozenset({"submit", "status", "result", "cancel", "status.stream", "sync"}),
    "images": frozenset({"images.generate", "images.edit"}),
    "envelope": frozenset({"aa.generate", "aa.task", "aa.upload"}),
}

_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_KEY_SCHEME = re.compile(r"Authorization: (\w+) <")


class ProviderError(RuntimeError):
    """A document and the table disagree, or a document's security cannot be read."""


@cache
def document(name: str) -> dict[str, Any]:
    """``name``'s document as plain data (parsed once per process)."""
    data = yaml.load(document_text(name), Loader=_LOADER)
    if not isinstance(data, dict):
        raise ProviderError(f"openapi/{name}.yaml: not a mapping")
    return data


def schemes_of(name: str, doc: Mapping[str, Any]) -> tuple[str, ...]:
    """The ``Authorization`` schemes ``doc``'s ``components.securitySchemes`` declare."""
    found = []
    declared = (doc.get("components") or {}).get("securitySchemes") or {}
    for key, scheme in declared.items():
        kind = scheme.get("type")
        if kind == "http" and str(scheme.get("scheme", "")).lower() == "bearer":
            found.append("Bearer")
        elif (
            kind == "apiKey"
            and scheme.get("in") == "header"
            and str(scheme.get("name", "")).lower() == "authorization"
            and (match := _KEY_SCHEME.search(str(scheme.get("description", ""))))
        ):
            found.append(match[1])
        else:
            raise ProviderError(f"openapi/{name}.yaml: cannot read security scheme {key!r}")
    rank = {s: i for i, s in enumerate(SCHEME_ORDER)}
    return tuple(sorted(dict.fromkeys(found), key=lambda s: rank.get(s, len(rank))))


def operation_kinds(doc: Mapping[str, Any]) -> frozenset[str]:
    """The ``x-imgemu-operation`` kinds ``doc`` binds."""
    kinds = set()
    for item in (doc.get("paths") or {}).values():
        for op in item.values():
            if isinstance(op, dict) and "x-imgemu-operation" in op:
                kinds.add(op["x-imgemu-operation"]["kind"])
    return frozenset(kinds)


def protocol_of(doc: Mapping[str, Any]) -> Protocol | None:
    """The protocol whose operation kinds ``doc`` binds (``None``: none, or a mixture)."""
    kinds = operation_kinds(doc)
    for protocol, known in OPERATION_KINDS.items():
        if kinds and kinds <= known:
            return protocol
    return None


@dataclass(frozen=True, slots=True)
class Provider:
    """One provider: its name, protocol, where it lives on the emulator, and how it answers.

    ``path`` is its base path in the convention its users have (``/v1`` for the OpenAI
    protocol, the root for 典名词元, ``/<name>/model`` for a queue provider, which also owns the
    bare ``/model`` when ``settings.queue_provider`` names it). ``prefix`` is where its routes
    live: a path under it that no route takes is answered in its ``dialect``. ``auth`` is read
    from its document unless given.
    """

    name: str
    protocol: Protocol
    title: str
    dialect: Dialect
    path: str
    prefix: str
    auth: tuple[str, ...] = field(default=())

    def mounts(self, queue_provider: str) -> tuple[str, ...]:
        """Every base path it answers on, the one its users' convention names first."""
        if self.protocol == "queue" and self.name == queue_provider:
            return (BARE_QUEUE_MOUNT, self.path)
        return (self.path,)

    def base_path(self, queue_provider: str) -> str:
        """Its base path: what a user appends to the emulator's root."""
        return self.mounts(queue_provider)[0]

    def server_path(self, queue_provider: str) -> str:
        """Its served document's server: the mount for the queue (its documented paths start
        below it), the root for the others (their documented paths are whole)."""
        return self.base_path(queue_provider) if self.protocol == "queue" else ""


def _row(
    name: str, protocol: Protocol, title: str, dialect: Dialect, path: str, prefix: str = ""
) -> Provider:
    """A row whose schemes come from its document; its routes under ``path`` unless told."""
    auth = schemes_of(name, document(name))
    return Provider(name, protocol, title, dialect, path, prefix or path + "/", auth)


PROVIDERS: dict[str, Provider] = {
    p.name: p
    for p in (
        _row("seacloud", "queue", "SeaCloud queue", "queue", "/seacloud/model", "/seacloud/model/"),
        _row(
            "odirouter",
            "queue",
            "OdiRouter queue",
            "queue",
            "/odirouter/model",
            "/odirouter/model/",
        ),
        _row("openai", "images", "OpenAI Images API", "images", "/v1", "/v1/"),
        _row("agcloud", "images", "AGCloud (OpenAI-compatible edits)", "images", "/v1", "/v1/"),
        _row("aa", "envelope", "典名词元", "aa", "", "/api/"),
    )
}
NAMES = tuple(PROVIDERS)


def named(protocol: Protocol) -> tuple[str, ...]:
    """The names of the providers of ``protocol``, in table order."""
    return tuple(p.name for p in PROVIDERS.values() if p.protocol == protocol)


def dialect_of(path: str) -> Dialect:
    """The dialect a path no route takes is answered in: its provider's, else the queue's."""
    for provider in PROVIDERS.values():
        if provider.protocol != "queue" and path.startswith(provider.prefix):
            return provider.dialect
    return "queue"


def document_names() -> tuple[str, ...]:
    """The providers that have a document in ``openapi/``."""
    return tuple(
        sorted(
            entry.name.removesuffix(".yaml")
            for entry in spec_dir().iterdir()
            if entry.name.endswith(".yaml")
        )
    )


def mismatches(documents: Iterable[str], table: Mapping[str, Provider] = PROVIDERS) -> list[str]:
    """What disagrees between the documents and the table: a document without a row, a row
    without a document."""
    documents = set(documents)
    problems = [
        f"openapi/{d}.yaml has no row in the provider table"
        for d in sorted(documents)
        if d not in table
    ]
    problems += [
        f"provider {p!r} has no document openapi/{p}.yaml" for p in table if p not in documents
    ]
    return problems
