"""The provider tables: the emulator's and the client's agree with the documents and each other."""

from __future__ import annotations

from typing import Any, get_args

import pytest

from clients._core import PROVIDERS as CLIENT_PROVIDERS
from clients._core import providers_of
from contracts._context import PROFILES
from contracts.runner import KEY_VARIABLES
from emulator.providers import (
    BARE_QUEUE_MOUNT,
    PROVIDERS,
    Provider,
    ProviderError,
    dialect_of,
    document,
    document_names,
    mismatches,
    named,
    protocol_of,
    schemes_of,
)
from emulator.settings import PROVIDERS as SETTINGS_PROVIDERS
from emulator.settings import QueueProvider

NAMES = tuple(PROVIDERS)


def test_every_document_has_a_row_and_every_row_a_document() -> None:
    assert mismatches(document_names()) == []
    assert sorted(NAMES) == list(document_names())


def test_a_document_without_a_row_is_reported() -> None:
    problems = mismatches([*document_names(), "newcloud"])
    assert problems == ["openapi/newcloud.yaml has no row in the provider table"]


def test_a_row_without_a_document_is_reported() -> None:
    extra = Provider("ghost", "images", "Ghost", "images", "/v1", "/v1/", ("Bearer",))
    problems = mismatches(document_names(), {**PROVIDERS, "ghost": extra})
    assert problems == ["provider 'ghost' has no document openapi/ghost.yaml"]


@pytest.mark.parametrize("name", NAMES)
def test_a_rows_schemes_are_its_documents(name: str) -> None:
    declared = document(name)["components"]["securitySchemes"]
    expected = set()
    for scheme in declared.values():
        if scheme["type"] == "http":
            expected.add(scheme["scheme"].capitalize())
        else:  # an apiKey in the Authorization header, its scheme word in the description
            assert (scheme["in"], scheme["name"]) == ("header", "Authorization")
            expected.add("Key" if "`Authorization: Key <key>`" in scheme["description"] else "?")
    assert set(PROVIDERS[name].auth) == expected
    assert len(PROVIDERS[name].auth) == len(expected)


def test_the_schemes_as_the_gateway_has_always_taken_them() -> None:
    assert {p.name: p.auth for p in PROVIDERS.values()} == {
        "seacloud": ("Key", "Bearer"),
        "odirouter": ("Bearer",),
        "openai": ("Bearer",),
        "agcloud": ("Bearer",),
        "aa": ("Bearer",),
    }


def _doc(schemes: dict[str, Any]) -> dict[str, Any]:
    return {"components": {"securitySchemes": schemes}}


def test_schemes_are_read_from_any_document() -> None:
    token = {
        "type": "apiKey",
        "in": "header",
        "name": "Authorization",
        "description": "As `Authorization: Token <key>`.",
    }
    bearer = {"type": "http", "scheme": "bearer"}
    assert schemes_of("x", _doc({"a": bearer, "b": token})) == ("Bearer", "Token")
    key = {**token, "description": "`Authorization: Key <key>`"}
    assert schemes_of("x", _doc({"a": bearer, "b": key})) == ("Key", "Bearer")
    with pytest.raises(ProviderError, match="cannot read security scheme 'b'"):
        schemes_of("x", _doc({"b": {**token, "description": "a key"}}))
    with pytest.raises(ProviderError, match="'q'"):
        schemes_of("x", _doc({"q": {"type": "apiKey", "in": "query", "name": "key"}}))


@pytest.mark.parametrize("name", NAMES)
def test_a_rows_protocol_is_its_documents_operations(name: str) -> None:
    assert protocol_of(document(name)) == PROVIDERS[name].protocol


def test_a_document_mixing_protocols_has_none() -> None:
    op = {"post": {"x-imgemu-operation": {"kind": "submit"}}}
    other = {"post": {"x-imgemu-operation": {"kind": "images.edit"}}}
    assert protocol_of({"paths": {"/a": op, "/b": other}}) is None
    assert protocol_of({"paths": {}}) is None


def test_the_settings_name_the_tables_providers() -> None:
    assert SETTINGS_PROVIDERS == NAMES
    assert get_args(QueueProvider) == named("queue")


def test_the_bare_queue_mount_follows_the_setting() -> None:
    for owner in named("queue"):
        for row in PROVIDERS.values():
            mounts = row.mounts(owner)
            if row.name == owner:
                assert mounts == (BARE_QUEUE_MOUNT, f"/{owner}/model")
            else:
                assert mounts == (row.path,)


def test_unrouted_paths_find_their_dialect() -> None:
    assert dialect_of("/api/v2/nothing") == "aa"
    assert dialect_of("/v1/nothing") == "images"
    assert dialect_of("/v1") == "queue"
    assert dialect_of("/model/v1/nothing") == "queue"
    assert dialect_of("/elsewhere") == "queue"


def test_the_client_table_names_the_same_providers() -> None:
    assert tuple(CLIENT_PROVIDERS) == NAMES
    for protocol in ("queue", "images", "envelope"):
        assert providers_of(protocol) == named(protocol)


@pytest.mark.parametrize("name", NAMES)
def test_the_client_and_the_emulator_share_the_base_path_convention(name: str) -> None:
    client, row = CLIENT_PROVIDERS[name], PROVIDERS[name]
    assert client.protocol == row.protocol
    # On an emulator whose bare queue path is someone else's, the client's path is the row's.
    others = [q for q in named("queue") if q != name]
    assert client.emulator_path == row.base_path(others[0])
    # The suffix users write is the base path the row has when it owns the bare path.
    assert client.suffix == row.base_path(name)
    assert client.base_url.endswith(client.suffix)
    assert client.scheme in row.auth


def test_the_contract_suite_reads_the_clients_table() -> None:
    assert tuple(PROFILES) == NAMES
    assert {name: p.env for name, p in CLIENT_PROVIDERS.items()} == KEY_VARIABLES
