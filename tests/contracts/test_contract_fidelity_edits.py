"""The edit fidelity checks (contracts/_fidelity_edits.py): each catches the drift it is for.

Each broken emulator is what a provider was found doing, rebuilt from the outside: a JSON edit
served unchecked, a misnamed file part dropped, a stream answered with the JSON envelope. The
real emulator passes the same checks.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import pytest
from starlette.applications import Starlette

from contracts import run_contract
from contracts.report import Report
from emulator.domain import images as images_domain
from tests.helpers import RunningServer
from tests.support.contracts import KEY, Answer, Reshape, Scope, contract_app, target_of

Serve = Callable[[Any], RunningServer]
CHECKS = ("edit_refusals", "edit_undeclared_parts", "aa_stream_events")


def _run(server: RunningServer, provider: str, checks: tuple[str, ...]) -> Report:
    return run_contract(provider, target_of(server, provider), api_key=KEY, checks=list(checks))


def _failures(report: Report) -> list[tuple[str, str, str]]:
    return [(o.check, o.operation, o.detail) for o in report.failures()]


@pytest.mark.parametrize(
    ("provider", "checks"),
    [
        ("openai", ("edit_refusals", "edit_undeclared_parts")),
        ("agcloud", ("edit_refusals", "edit_undeclared_parts")),
        ("aa", ("aa_stream_events",)),
    ],
)
def test_the_real_emulator_passes_the_edit_checks(
    emulator: RunningServer, provider: str, checks: tuple[str, ...]
) -> None:
    report = _run(emulator, provider, checks)
    assert report.ok, _failures(report)
    assert {o.check for o in report.outcomes} == set(checks)
    assert {o.status for o in report.outcomes} == {"assumed"}  # every one names its assumptions


def unchecked_agcloud_json(app: Starlette) -> Starlette:
    """AGCloud's JSON edit served without its schema, as AGCloud was found serving it."""
    service = app.state.emulator.images
    document = service.documents["agcloud"]
    operations = {
        key: replace(op, validate=None) if key[0] == "images.edit" else op
        for key, op in document.operations.items()
    }
    service.documents = {**service.documents, "agcloud": replace(document, operations=operations)}
    return app


def test_an_unchecked_json_edit_is_caught_by_edit_refusals(serve: Serve) -> None:
    server = serve(unchecked_agcloud_json(contract_app()))
    report = _run(server, "agcloud", ("edit_refusals",))
    assert _failures(report) == [
        ("edit_refusals", "POST /v1/image/edits", "n above 10 (JSON): answered 200, not 400")
    ]
    assert '"n":50' in report.failures()[0].request.replace(" ", "")


def test_a_dropped_file_part_is_caught_by_edit_undeclared_parts(
    serve: Serve, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(images_domain, "_misplaced_parts", lambda form, upload: ())
    server = serve(contract_app())
    for provider, path in (("openai", "/v1/images/edits"), ("agcloud", "/v1/image/edits")):
        report = _run(server, provider, ("edit_undeclared_parts",))
        assert _failures(report) == [
            (
                "edit_undeclared_parts",
                f"POST {path}",
                "a masks file part: answered 200, not 400",
            )
        ]


def test_a_refusal_naming_no_param_is_caught_by_edit_refusals(serve: Serve) -> None:
    def rewrite(
        scope: Scope, status: int, headers: list[tuple[bytes, bytes]], body: bytes
    ) -> Answer:
        data = json.loads(body)
        if status == 400 and "error" in data:
            data["error"]["param"] = None
        return status, headers, json.dumps(data).encode()

    server = serve(Reshape(contract_app(), lambda s: s["path"] == "/v1/images/edits", rewrite))
    report = _run(server, "openai", ("edit_refusals",))
    assert _failures(report) == [
        ("edit_refusals", "POST /v1/images/edits", "n above 10 (JSON): param None, not 'n'")
    ]


def envelope_for_streams(app: Starlette) -> Reshape:
    """典名词元 answering ``stream: true`` with its JSON envelope, as it was found doing."""

    def rewrite(
        scope: Scope, status: int, headers: list[tuple[bytes, bytes]], body: bytes
    ) -> Answer:
        kind = dict(headers).get(b"content-type", b"")
        if not kind.startswith(b"text/event-stream"):
            return status, headers, body
        envelope = {"code": 0, "message": "success", "request_id": "r", "data": None}
        kept = [(k, v) for k, v in headers if k.lower() != b"content-type"]
        return (
            status,
            [*kept, (b"content-type", b"application/json")],
            json.dumps(envelope).encode(),
        )

    return Reshape(app, lambda s: s["path"] == "/api/v1/image/generation", rewrite)


def test_a_stream_answered_as_the_envelope_is_caught_by_aa_stream_events(serve: Serve) -> None:
    server = serve(envelope_for_streams(contract_app()))
    report = _run(server, "aa", ("aa_stream_events",))
    assert _failures(report) == [
        (
            "aa_stream_events",
            "POST /api/v1/image/generation",
            "a stream as application/json",
        )
    ]
    assert report.spent_usd > 0  # priced before it was sent
