"""Errors carry facts, renderers carry words.

Every ``DomainError`` is made from facts alone, and each dialect's renderer answers every one of
them in its own shape. Words put back into an error (a sentence or an f-string handed to a
``DomainError`` outside the renderers) are found by scanning the source.

A ``Violation`` (inside ``ValidationFailed``) is the exception: its ``message`` is the default
text of a validation finding (the schema's, from ``emulator/spec/messages.py``, or a named
rule's), which a dialect rewrites from its ``kind`` and ``facts`` where its words differ.
"""

from __future__ import annotations

import ast
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from emulator.domain import errors
from emulator.domain.errors import DomainError, Violation
from emulator.domain.records import ErrorType
from emulator.http.aa import render as aa_render
from emulator.http.images import render as images_render
from emulator.http.queue import render as queue_render
from emulator.providers import named

REPO = Path(__file__).resolve().parents[2]
# The places that write words: the three renderers, and the steering middleware for imgemu's
# own ``X-Imgemu-*`` refusals.
RENDERERS = {
    "emulator/http/queue/render.py",
    "emulator/http/images/render.py",
    "emulator/http/aa/render.py",
    "emulator/http/middleware/steering.py",
}

# One instance of every error, made from its facts.
EXAMPLES: dict[type[DomainError], list[DomainError]] = {
    errors.Unauthorized: [errors.Unauthorized("missing"), errors.Unauthorized("invalid")],
    errors.RateLimited: [
        errors.RateLimited(2.5, 10),
        errors.RateLimited(12.0, 5, "images", used=4, requested=2, owner="0f2c"),
        errors.RateLimited(0.24, 3, "requests", used=3, model="gpt-image-1", owner="0f2c"),
        errors.RateLimited(35.0, 2, "concurrency", used=2, owner="0f2c"),
    ],
    errors.InsufficientBalance: [errors.InsufficientBalance()],
    errors.ModelNotFound: [errors.ModelNotFound("gpt_image_9")],
    errors.RequestNotFound: [errors.RequestNotFound()],
    errors.InvalidBody: [
        errors.InvalidBody("not_json"),
        errors.InvalidBody("too_deep"),
        errors.InvalidBody("not_object"),
        errors.InvalidBody("form_not_taken"),
        errors.InvalidBody("bad_form", "no boundary"),
        errors.InvalidBody("not_form"),
    ],
    errors.BodyTooLarge: [errors.BodyTooLarge(80 * 1024 * 1024), errors.BodyTooLarge(1024)],
    errors.BadSteering: [
        errors.BadSteering("x-imgemu-outcome", "SOMETIMES"),
        errors.BadSteering("x-imgemu-latency", "-1"),
    ],
    errors.BadRequestTimeout: [errors.BadRequestTimeout("soon", 0.1)],
    errors.WebhookNotSupported: [errors.WebhookNotSupported()],
    errors.ValidationFailed: [
        errors.ValidationFailed((Violation(("n",), "Input should be an integer", "type"),))
    ],
    errors.AlreadyCompleted: [errors.AlreadyCompleted()],
    errors.NotReady: [errors.NotReady()],
    errors.LinkExpired: [errors.LinkExpired()],
    errors.ContentBlocked: [errors.ContentBlocked()],
    errors.UpstreamFailure: [errors.UpstreamFailure(outcome) for outcome in ErrorType],
    errors.ServerStopping: [errors.ServerStopping()],
    errors.NotFound: [errors.NotFound("task", "task_x")],
    errors.PlannedError: [
        errors.PlannedError(status, retry_after)
        for status in (400, 401, 402, 404, 422, 429, 500, 502, 503, 504, 599)
        for retry_after in (None, 0.25)
    ],
}
ALL = [exc for found in EXAMPLES.values() for exc in found]


def _subclasses(cls: type[DomainError]) -> set[type[DomainError]]:
    found = set(cls.__subclasses__())
    for sub in list(found):
        found |= _subclasses(sub)
    return found


def test_every_error_has_an_example_made_of_facts() -> None:
    assert set(EXAMPLES) == _subclasses(DomainError)
    for exc in ALL:
        assert not hasattr(exc, "message"), type(exc).__name__


# --- each dialect renders every error -----------------------------------------------------


def _json(body: bytes) -> Any:
    return json.loads(body)


@pytest.mark.parametrize("exc", ALL, ids=repr)
@pytest.mark.parametrize("provider", named("queue"))
def test_the_queue_dialect_answers_every_error(exc: DomainError, provider: str) -> None:
    for operation in ("submit", "status", "cancel"):
        response = queue_render.error_response(
            exc, provider=provider, operation=operation, request_id="rid"
        )
        assert 400 <= response.status_code < 600
        body = _json(response.body)
        assert isinstance(body, dict)
        assert body.keys() & {"detail", "error", "status"}
        if "error" in body:  # the gateway's refusals carry the request's id
            assert body["request_id"] == "rid"
            assert body["error"]["message"]


@pytest.mark.parametrize("exc", ALL, ids=repr)
def test_the_images_dialect_answers_every_error(exc: DomainError) -> None:
    response = images_render.error_response(exc)
    assert 400 <= response.status_code < 600
    body = _json(response.body)
    assert set(body) == {"error"}
    assert set(body["error"]) == {"message", "type", "param", "code"}
    assert body["error"]["message"]
    assert "x-request-id" not in response.headers  # the request-id middleware adds it


@pytest.mark.parametrize("exc", ALL, ids=repr)
def test_the_aa_dialect_answers_every_error(exc: DomainError) -> None:
    response = aa_render.error_response(exc, "req_1")
    body = _json(response.body)
    assert 400 <= response.status_code < 600
    assert body == {
        "code": response.status_code,
        "message": body["message"],
        "request_id": "req_1",
        "data": None,
    }
    assert body["message"]


def test_the_queue_refusal_of_a_missing_key_names_each_providers_schemes() -> None:
    def message(provider: str, reason: Any) -> str:
        response = queue_render.error_response(
            errors.Unauthorized(reason), provider=provider, operation="submit"
        )
        text: str = _json(response.body)["error"]["message"]
        return text

    assert message("seacloud", "missing") == "Authorization Bearer or Key token is required"
    assert message("odirouter", "missing") == "Authorization Bearer token is required"
    assert message("seacloud", "invalid") == message("odirouter", "invalid") == "Invalid API key"


def test_each_dialect_has_its_own_words_for_the_same_fact() -> None:
    exc = errors.InvalidBody("not_json")
    queue = _json(queue_render.error_response(exc, provider="seacloud", operation="submit").body)
    openai = _json(images_render.error_response(exc).body)["error"]["message"]
    aa = _json(aa_render.error_response(exc, "r").body)["message"]
    assert queue == {"detail": "Request body is not valid JSON"}
    assert openai.startswith("We could not parse the JSON body of your request.")
    assert aa == "The request body must be valid JSON."


# --- no words outside the renderers -------------------------------------------------------


def _error_names() -> set[str]:
    return {cls.__name__ for cls in _subclasses(DomainError)}


def words_given_to_errors(source: str, names: set[str]) -> Iterator[tuple[int, str]]:
    """(line, text) of each sentence or f-string passed to a constructor named in ``names``."""
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
        if name not in names:
            continue
        for arg in [*node.args, *(k.value for k in node.keywords)]:
            yield from ((node.lineno, text) for text in _words(arg))


def _words(node: ast.AST) -> Iterator[str]:
    """Sentences and f-strings in ``node``, a ``Violation``'s own text excepted."""
    if isinstance(node, ast.Call) and getattr(node.func, "id", "") == "Violation":
        return
    if isinstance(node, ast.JoinedStr):
        yield ast.unparse(node)
    elif isinstance(node, ast.Constant):
        if isinstance(node.value, str) and any(c.isspace() for c in node.value):
            yield node.value
    else:
        for child in ast.iter_child_nodes(node):
            yield from _words(child)


def test_no_words_are_given_to_errors_outside_the_renderers() -> None:
    names = _error_names()
    found = []
    for path in sorted((REPO / "emulator").rglob("*.py")):
        relative = path.relative_to(REPO).as_posix()
        if relative in RENDERERS:
            continue
        for line, text in words_given_to_errors(path.read_text(), names):
            found.append(f"{relative}:{line}: {text!r}")
    assert not found, "words handed to a DomainError outside the renderers:\n" + "\n".join(found)


def test_the_scan_sees_words() -> None:
    source = (
        "raise InvalidBody('Request body is not valid JSON')\n"
        "raise errors.NotFound('task', f'Task not found: {task_id}')\n"
        "raise ModelNotFound(model=f'{model}')\n"
        "raise InvalidBody('not_json')\n"
        "raise Unauthorized(reason='missing')\n"
        "print('not an error at all')\n"
    )
    names = {"InvalidBody", "NotFound", "ModelNotFound", "Unauthorized"}
    assert [line for line, _ in words_given_to_errors(source, names)] == [1, 2, 3]
    violation = "raise ValidationFailed((Violation(('n',), 'Input should be an integer'),))"
    assert not list(words_given_to_errors(violation, {"ValidationFailed"}))
