"""The OpenAI fidelity checks (contracts/_fidelity_openai.py): the emulator passes them, and an
emulator answering as the SDK's wording or an older emulator did fails the named check."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from contracts import REGISTRY, checks_for, run_contract
from contracts._context import PROFILES
from contracts._preflight import ContractUsageError
from contracts.report import Report
from tests.helpers import RunningServer, fast_app
from tests.support.contracts import KEY, json_answers, target_of

CHECKS = (
    "openai_transparent_background",
    "openai_input_fidelity",
    "openai_png_compression",
    "openai_error_words",
    "openai_model_required",
    "openai_models_and_nulls",
)


def _app(**settings: Any) -> Any:
    return fast_app(api_keys={"openai": (KEY,)}, **settings)


def _run(server: RunningServer, checks: tuple[str, ...] = CHECKS) -> Report:
    return run_contract("openai", target_of(server, "openai"), api_key=KEY, checks=list(checks))


def _errors(change: Callable[[dict[str, Any]], None]) -> Callable[[Any], Any]:
    """Rewrite each 400 error object of the images endpoints with ``change``."""

    def variant(app: Any) -> Any:
        def edit(status: int, data: Any) -> tuple[int, Any] | None:
            if status != 400 or not isinstance(data, dict) or "error" not in data:
                return None
            change(data["error"])
            return status, data

        return json_answers(app, lambda s: str(s["path"]).startswith("/v1/images/"), edit)

    return variant


def _old_fidelity_code(error: dict[str, Any]) -> None:
    if error["code"] == "invalid_input_fidelity_model":
        error.update(type="invalid_request_error", code="invalid_value")


def _old_png_code(error: dict[str, Any]) -> None:
    if error["code"] == "invalid_png_output_compression":
        error.update(type="invalid_request_error", code="invalid_value")


def _schema_words(error: dict[str, Any]) -> None:
    if error["param"] == "images[0]":
        error["message"] = (
            "{'url': 'x'} is not valid under any of the schemas listed in the 'oneOf'"
        )


def _served_without_model(app: Any) -> Any:
    def edit(status: int, data: Any) -> tuple[int, Any] | None:
        if status == 400 and isinstance(data, dict) and data["error"]["param"] == "model":
            return 200, {"created": 0, "data": [{"b64_json": ""}]}
        return None

    return json_answers(app, lambda s: s["path"] == "/v1/images/generations", edit)


def _snapshot_refused(app: Any) -> Any:
    def edit(status: int, data: Any) -> tuple[int, Any] | None:
        if status == 200 and isinstance(data, dict) and "data" in data:
            error = {"message": "x", "type": "invalid_request_error", "param": "model"}
            return 400, {"error": {**error, "code": "invalid_value"}}
        return None

    return json_answers(app, lambda s: s["path"] == "/v1/images/generations", edit)


def test_the_checks_are_registered_for_openai_only() -> None:
    assert {name: REGISTRY[name].paid for name in CHECKS} == {
        "openai_transparent_background": False,
        "openai_input_fidelity": False,
        "openai_png_compression": False,
        "openai_error_words": False,
        "openai_model_required": True,
        "openai_models_and_nulls": True,
    }
    assert set(CHECKS) <= {c.name for c in checks_for(PROFILES["openai"])}
    assert not set(CHECKS) & {c.name for c in checks_for(PROFILES["agcloud"])}
    with pytest.raises(ContractUsageError, match="do not apply to agcloud"):
        run_contract("agcloud", "http://127.0.0.1:1/v1", checks=list(CHECKS[:2]))


def test_the_emulator_passes_every_openai_fidelity_check(
    serve: Callable[[Any], RunningServer],
) -> None:
    report = _run(serve(_app()))
    assert report.ok, [(o.check, o.operation, o.detail) for o in report.failures()]
    assert {o.check for o in report.outcomes} == set(CHECKS)
    # Every one of them rests on live reports or the emulator's choices: assumed, not verified.
    assert {o.status for o in report.outcomes} == {"assumed"}


@pytest.mark.parametrize(
    ("wrap", "caught_by", "says"),
    [
        pytest.param(
            lambda app: _app(openai_transparent_preview=True),
            "openai_transparent_background",
            "answered 200, expected 400",
            id="spec-preview-wording",
        ),
        pytest.param(
            _errors(_old_fidelity_code),
            "openai_input_fidelity",
            "('invalid_request_error', 'invalid_value', 'input_fidelity')",
            id="input-fidelity-code",
        ),
        pytest.param(
            _errors(_old_png_code),
            "openai_png_compression",
            "('invalid_request_error', 'invalid_value', 'output_compression')",
            id="png-compression-code",
        ),
        pytest.param(
            _errors(_schema_words),
            "openai_error_words",
            "JSON Schema's words in the message",
            id="json-schema-words",
        ),
        pytest.param(
            _served_without_model,
            "openai_model_required",
            "answered 200, expected 400",
            id="default-model",
        ),
        pytest.param(
            _snapshot_refused,
            "openai_models_and_nulls",
            "with nulls answered 400",
            id="model-refused",
        ),
    ],
)
def test_a_drifted_provider_is_caught_by_the_named_check(
    serve: Callable[[Any], RunningServer],
    wrap: Callable[[Any], Any],
    caught_by: str,
    says: str,
) -> None:
    report = _run(serve(wrap(_app())), (caught_by,))
    assert report.failed_checks() == {caught_by}, report.outcomes
    (failure,) = report.failures()
    assert says in failure.detail, failure.detail
