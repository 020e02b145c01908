"""Requests a client may send, most of them malformed, and the check that every answer to
them is one the provider's document lists (tests/fuzz).

- ``SEED``: every fuzz run of tests/fuzz draws the same cases, so a CI failure reproduces
  locally; ``FUZZ_SEED=<n>`` draws others; ``fuzz(scale)`` is a fuzz test's settings;
- ``off_document``: how an answer strays from its operation in the provider's document;
- ``multipart``: raw ``multipart/form-data`` bodies, their boundary, framing, part names,
  filenames and content types drawn, each part's payload from a given strategy;
- ``json_bodies``: JSON texts of random shape and nesting around an operation's fields, and
  texts that are almost JSON;
- ``peak_rss_mb``: the process's peak resident memory, for bounds on what a run may cost;
- ``call_app``: one request in-process, where an exception escaping the app fails the example
  with its traceback, but one of ``KNOWN_FAILURES``, which ``known_failures_set_aside`` turns
  into an xfail of the test once Hypothesis has looked for every other failure.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import os
import resource
import traceback
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, TypeVar

import httpx
import jsonschema_rs
import pytest
import yaml
from hypothesis import HealthCheck, event, reject, seed, settings
from hypothesis import strategies as st

from emulator.spec.loader import document_text
from tests.helpers import examples

SEED = int(os.environ.get("FUZZ_SEED", "20261112"))
T = TypeVar("T")


def fuzz(scale: float) -> Callable[[Callable[..., None]], Callable[..., None]]:
    """The settings of a fuzz test: ``examples(scale)`` examples drawn from ``SEED``, no
    deadline (a request may render images)."""

    def apply(test: Callable[..., None]) -> Callable[..., None]:
        configured = settings(
            max_examples=examples(scale),
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow],
        )
        return seed(SEED)(configured(test))

    return apply


_VALIDATORS: dict[tuple[str, int], Any] = {}


@functools.cache
def document(provider: str) -> Mapping[str, Any]:
    """``provider``'s OpenAPI document, parsed once."""
    doc: Mapping[str, Any] = yaml.safe_load(document_text(provider))
    return doc


def off_document(
    provider: str, method: str, path: str, status: int, content_type: str, body: bytes
) -> list[str]:
    """How an answer strays from ``provider``'s document for the operation ``method path``
    (``path`` as the document spells it): an undocumented status or content type, or a JSON
    body its schema refuses. Empty when it conforms."""
    doc = document(provider)
    operation = doc["paths"][path][method.lower()]
    responses = operation["responses"]
    found = next(
        (
            responses[key]
            for key in (str(status), f"{status // 100}XX", "default")
            if key in responses
        ),
        None,
    )
    where = f"{method} {path} answered {status}"
    if found is None:
        return [f"{where}, which its document does not list ({sorted(responses)})"]
    content = _resolve(doc, found).get("content", {})
    if not content:
        return [] if not body else [f"{where} with a body its document does not have"]
    media = content_type.split(";")[0].strip().lower()
    if media not in content:
        return [f"{where} as {media or 'no content type'}, not {sorted(content)}"]
    if media != "application/json":
        return []
    try:
        value = json.loads(body)
    except ValueError:
        return [f"{where} with a body that is not JSON: {body[:200]!r}"]
    schema = content[media].get("schema")
    if schema is None:
        return []
    key = (provider, id(schema))
    if key not in _VALIDATORS:
        _VALIDATORS[key] = jsonschema_rs.validator_for(
            {"allOf": [schema], "components": doc["components"]}
        )
    problems = [error.message for error in _VALIDATORS[key].iter_errors(value)]
    return [f"{where} with a body off its schema: {problem}" for problem in problems[:3]]


def _resolve(doc: Mapping[str, Any], node: Any) -> Any:
    while isinstance(node, dict) and "$ref" in node:
        target: Any = doc
        for part in node["$ref"][2:].split("/"):
            target = target[part.replace("~1", "/").replace("~0", "~")]
        node = target
    return node


def peak_rss_mb() -> float:
    """The peak resident memory of this process so far, in MB (Linux counts it in KB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# ---- multipart bodies ----

_TOKEN = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ'()+_,-./:=?"
_TEXT = st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=24)


@st.composite
def _part(draw: st.DrawFn, names: Sequence[str], payloads: st.SearchStrategy[bytes]) -> bytes:
    name = draw(st.one_of(st.sampled_from(list(names)), _TEXT))
    disposition = f'form-data; name="{name}"'
    filename = draw(
        st.one_of(
            st.none(),
            st.sampled_from(["image.png", "x.jpg", "", "../../etc/passwd", 'a"b.png', "a\r\nb"]),
            _TEXT,
        )
    )
    if filename is not None:
        disposition += f'; filename="{filename}"'
    headers = [f"Content-Disposition: {disposition}"]
    content_type = draw(
        st.one_of(
            st.none(),
            st.sampled_from(
                ["image/png", "image/jpeg", "image/webp", "application/octet-stream", "text/plain"]
            ),
            _TEXT.map(lambda text: text.replace("\r", "").replace("\n", "")),
        )
    )
    if content_type is not None:
        headers.append(f"Content-Type: {content_type}")
    if draw(st.integers(0, 9)) == 0:  # a header line that is not one
        headers.append(draw(st.sampled_from(["no colon here", ": empty name", "X-A:\x00b"])))
    if draw(st.integers(0, 9)) == 0:
        headers = headers[1:]  # no Content-Disposition at all
    body = draw(st.one_of(payloads, _TEXT.map(str.encode), st.binary(max_size=64)))
    head = "\r\n".join(headers).encode("utf-8", "surrogateescape")
    return head + b"\r\n\r\n" + body


# A part sent well formed: its name, whether it is a file, its payload, and in how many forms
# out of ten it is sent.
Required = tuple[str, bool, st.SearchStrategy[bytes], int]


@st.composite
def _well_formed(draw: st.DrawFn, required: Required) -> bytes:
    name, is_file, payload, _ = required
    disposition = f'form-data; name="{name}"'
    head = f"Content-Disposition: {disposition}"
    if is_file:
        head += f'; filename="{name}.png"\r\nContent-Type: image/png'
    return head.encode() + b"\r\n\r\n" + draw(payload)


@st.composite
def multipart(
    draw: st.DrawFn,
    names: Sequence[str],
    payloads: st.SearchStrategy[bytes],
    required: Sequence[Required] = (),
) -> tuple[bytes, str]:
    """A ``multipart/form-data`` body and its ``Content-Type``: each ``required`` part well
    formed (most of the time), then up to 8 parts (names from ``names`` or random, repeated or
    not, files or text, any content type, payloads from ``payloads`` or random), the whole
    framed well or badly, in any order."""
    boundary = draw(st.text(st.sampled_from(_TOKEN), min_size=1, max_size=70))
    # Half the forms are clean (the required parts, well framed), so that the payloads reach
    # what lies past the parser; the others are anything.
    clean = draw(st.booleans())
    parts = [draw(_well_formed(part)) for part in required if draw(st.integers(1, 10)) <= part[3]]
    if not clean:
        parts += draw(st.lists(_part(names, payloads), max_size=8))
        parts = draw(st.permutations(parts)) if draw(st.booleans()) else parts
        if parts and draw(st.booleans()):
            parts.append(parts[draw(st.integers(0, len(parts) - 1))])  # a part sent twice
    delimiter = b"--" + boundary.encode()
    newline = b"\r\n" if clean else draw(st.sampled_from([b"\r\n", b"\r\n", b"\n"]))
    body = b"".join(delimiter + newline + part + newline for part in parts)
    ending = "closed" if clean else draw(st.sampled_from(["closed", "open", "epilogue", "cut"]))
    if ending == "closed":
        body += delimiter + b"--\r\n"
    elif ending == "epilogue":
        body = b"preamble\r\n" + body + delimiter + b"--\r\n" + draw(st.binary(max_size=32))
    elif ending == "cut" and body:
        body = body[: draw(st.integers(0, len(body) - 1))]
    header = f"multipart/form-data; boundary={boundary}"
    if clean:
        return body, header
    header = draw(
        st.sampled_from(
            [
                header,
                f'multipart/form-data; boundary="{boundary}"',
                f"multipart/form-data; charset=utf-8; boundary={boundary}",
                "multipart/form-data",
                "multipart/form-data; boundary=",
                f"multipart/form-data; boundary={boundary}x",
                f"MULTIPART/FORM-DATA; BOUNDARY={boundary}",
                f"multipart/mixed; boundary={boundary}",
            ]
        )
    )
    return body, header


# ---- JSON bodies ----

_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=False),
    _TEXT,
)


def _values() -> st.SearchStrategy[Any]:
    return st.recursive(
        _SCALARS,
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_TEXT, inner, max_size=4),
        max_leaves=16,
    )


@st.composite
def json_bodies(
    draw: st.DrawFn,
    fields: Mapping[str, st.SearchStrategy[Any]],
    valid: st.SearchStrategy[dict[str, Any]] | None = None,
) -> tuple[bytes, str]:
    """A request body and its ``Content-Type``: a ``valid`` body as it is or with a few fields
    changed, dropped or added (so that what it carries reaches what lies past the checks); a
    JSON object of the operation's ``fields`` (each value from its strategy or of any shape)
    and random keys; any JSON value, deep nesting, almost-JSON text, bytes that are not UTF-8."""
    kinds = ["object"] * 3 + ["value", "deep", "almost", "bytes"]
    if valid is not None:
        kinds += ["valid"] * 4 + ["changed"] * 3
    kind = draw(st.sampled_from(kinds))
    value: Any
    if kind in ("valid", "changed"):
        assert valid is not None
        value = draw(valid)
        if kind == "changed":
            for _ in range(draw(st.integers(1, 3))):
                name = draw(st.sampled_from(sorted({*fields, *value})))
                how = draw(st.sampled_from(["set", "any", "drop"]))
                if how == "drop":
                    value.pop(name, None)
                elif how == "set" and name in fields:
                    value[name] = draw(fields[name])
                else:
                    value[name] = draw(_values())
        return json.dumps(value).encode(), "application/json"
    if kind == "object":
        chosen = draw(st.lists(st.sampled_from(sorted(fields)), unique=True)) if fields else []
        value = {name: draw(st.one_of(fields[name], _values())) for name in chosen}
        value.update(draw(st.dictionaries(_TEXT, _values(), max_size=3)))
        text = json.dumps(value).encode()
    elif kind == "value":
        text = json.dumps(draw(_values())).encode()
    elif kind == "deep":
        # Either side of the limits met on the way (the schema validator's, orjson's 1024,
        # the interpreter's recursion limit), as fixed points: near the interpreter's limit
        # the outcome would depend on the stack depth of the call.
        depth = draw(st.sampled_from([32, 254, 300, 1000, 1100, 5000, 100_000]))
        opening, closing = draw(st.sampled_from([("[", "]"), ('{"a":', "}")]))
        text = (opening * depth + "1" + closing * depth).encode()
    elif kind == "almost":
        text = draw(
            st.sampled_from(
                [
                    b"",
                    b"{",
                    b'{"prompt": "x",}',
                    b"NaN",
                    b'{"n": Infinity}',
                    b"\xef\xbb\xbf{}",
                    b'{"prompt": "x", "prompt": 1}',
                    b"[1e999]",
                    b'{"a": "\\ud800"}',
                    b"null",
                ]
            )
        )
    else:
        text = draw(st.binary(max_size=64))
    content_type = draw(
        st.sampled_from(
            [
                "application/json",
                "application/json",
                "application/json; charset=latin-1",
                "text/plain",
                "",
                "application/x-www-form-urlencoded",
            ]
        )
    )
    return text, content_type


# ---- failures already known ----


def _raised_in(exc: BaseException, function: str) -> bool:
    frames = traceback.extract_tb(exc.__traceback__)
    return any(frame.name == function and "/emulator/" in frame.filename for frame in frames)


# What each known failure looks like as it escapes the app (docs/security.md lists them
# with a request that makes each). Remove an entry when its fix lands.
KNOWN_FAILURES: dict[str, Callable[[BaseException], bool]] = {}
# The known failures met by the running test: name -> the first request that met it.
_MET: dict[str, str] = {}


def known_failure(exc: BaseException) -> str | None:
    """The name of the known failure ``exc`` is, or None."""
    return next((name for name, test in KNOWN_FAILURES.items() if test(exc)), None)


@contextlib.contextmanager
def known_failures_set_aside() -> Iterator[None]:
    """Run a fuzz test's Hypothesis run so that an example meeting one of ``KNOWN_FAILURES``
    is set aside (rejected: Hypothesis goes on looking for other failures, which fail the
    test as usual) and the test ends xfailed, naming the known failures it met and a request
    that met each."""
    _MET.clear()
    yield
    if _MET:
        met = "; ".join(f"{name} ({request})" for name, request in sorted(_MET.items()))
        pytest.xfail(f"known failures: {met}")


def unless_known(call: Callable[[], T], what: str, *known: str) -> T:
    """``call()``, inside a Hypothesis example: its exception propagates, but one of
    ``KNOWN_FAILURES`` (those named in ``known``, or all), which rejects the example (see
    ``known_failures_set_aside``); ``what`` names the call in the test's xfail reason."""
    try:
        return call()
    except Exception as exc:
        name = known_failure(exc)
        if name is None or (known and name not in known):
            raise
        _MET.setdefault(name, f"{what}: {type(exc).__name__}: {exc}")
    event(f"known failure: {name}")
    reject()


def call_app(
    app: Any, method: str, url: str, headers: Mapping[str, str], content: bytes = b""
) -> httpx.Response:
    """One request to ``app`` in-process, inside a Hypothesis example (see ``unless_known``):
    an exception escaping the app fails the example with its traceback."""

    async def call() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://emulator.test") as c:
            return await c.request(method, url, headers=dict(headers), content=content)

    return unless_known(lambda: asyncio.run(call()), f"{method} {url[:120]}")
