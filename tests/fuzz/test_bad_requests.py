"""Malformed requests at the real endpoints: never a 5xx, never an exception, always an answer
the provider's document lists, in its error shape.

Each example builds its request's bytes itself (tests/support/bad_requests.py,
tests/support/bad_images.py) and sends them in-process to a fresh emulator whose generations
finish at once, so an exception a handler lets escape fails the example with its traceback
rather than turning into a 500 on a socket:

- multipart edits (OpenAI, AGCloud) and 典名词元's upload: any boundary and framing, parts
  repeated or unnamed, any part name, filename and content type, images valid, broken or
  lying about their size;
- JSON bodies (OpenAI generations and edits, 典名词元 generations, queue submits): the
  operation's fields of any type and nesting, random keys, deep nesting, almost-JSON, bytes
  that are not UTF-8, image references of every kind; a queue job or a 典名词元 task accepted
  from such a body is then read back (status, result, the result's first file) the same way;
- result links with their ``expires`` and ``sig`` changed.

Every test runs twice (``BUDGETS``): ``[everyday]`` on half the Hypothesis profile's examples,
``[whole]`` (``slow``) on four times them.

Every answer's status, content type and JSON body are held to the operation in the provider's
document (``off_document``); the module's peak memory may grow by at most ``RSS_BUDGET_MB``.
An example that meets a failure already known (``KNOWN_FAILURES``, tests/support/bad_requests.py)
is set aside, and the test ends xfailed naming it, once Hypothesis has looked for any other.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator, Mapping
from typing import Any
from urllib.parse import quote, urlsplit

import httpx
import pytest
from hypothesis import event, given
from hypothesis import strategies as st
from PIL import Image
from starlette.applications import Starlette

from tests.helpers import data_url, fast_app
from tests.support import bad_images
from tests.support.bad_requests import (
    Required,
    call_app,
    fuzz,
    json_bodies,
    known_failures_set_aside,
    multipart,
    off_document,
    peak_rss_mb,
)

KEY = "sk-fuzz"
EDGE = 1024  # the largest declared size of an image whose pixels are decoded
RSS_BUDGET_MB = 200.0
# Each test runs twice: every day on a few examples, and (slow) on eight times as many.
BUDGETS = [
    pytest.param(0.5, id="everyday"),
    # ~40 s on two cores for the module; the [everyday] run is the same test.
    pytest.param(4.0, id="whole", marks=pytest.mark.slow),
]

# ---- the request's parts ----

SIZES = ["auto", "1024x1024", "1536x1024", "1024x1536", "0x0", "64x64", "3840x2160", "big"]
_TEXT = st.text(max_size=40)
FIELDS: dict[str, st.SearchStrategy[Any]] = {
    "prompt": st.one_of(st.just("a red apple"), _TEXT),
    "model": st.sampled_from(["gpt-image-1", "gpt-image-1.5", "gpt-image-1-mini", "gpt-image-2"]),
    "n": st.one_of(st.just(1), st.integers(-3, 12)),
    "size": st.sampled_from(SIZES),
    "quality": st.sampled_from(["low", "medium", "high", "auto", "ultra"]),
    "background": st.sampled_from(["transparent", "opaque", "auto", "none"]),
    "output_format": st.sampled_from(["png", "jpeg", "webp", "gif"]),
    "output_compression": st.integers(-1, 101),
    "input_fidelity": st.sampled_from(["low", "high", "max"]),
    "moderation": st.sampled_from(["low", "auto"]),
    "stream": st.booleans(),
    "partial_images": st.integers(-1, 4),
    "user": _TEXT,
}
REFERENCE = st.one_of(
    st.builds(data_url, bad_images.image_bytes(EDGE)),
    bad_images.references(EDGE),
)
IMAGE_REF = st.one_of(
    st.builds(lambda url: {"image_url": url}, REFERENCE),
    st.builds(lambda file_id: {"file_id": file_id}, _TEXT),
    REFERENCE,
)
EDIT_FIELDS = {
    **FIELDS,
    "images": st.lists(IMAGE_REF, min_size=0, max_size=3),
    "mask": IMAGE_REF,
}
QUEUE_FIELDS = {
    **{name: FIELDS[name] for name in ("prompt", "n", "size", "quality", "background")},
    **{name: FIELDS[name] for name in ("output_format", "output_compression")},
    "images": st.lists(REFERENCE, max_size=3),
    "mask": REFERENCE,
    "input_fidelity": FIELDS["input_fidelity"],
    "moderation": FIELDS["moderation"],
}
AA_FIELDS = {**EDIT_FIELDS, "model": st.sampled_from(["gpt-image-1.5", "gpt-image-1"])}
AA_FIELDS["async"] = st.booleans()
FORM_NAMES = ["image", "image[]", "mask", *FIELDS]

# Valid bodies, but for the images they carry (valid ones, or any bytes): what a client sends
# most, and the way for broken images to reach rendering.
IMAGE = st.one_of(
    bad_images.valid_images(),
    bad_images.garbage_pixels(EDGE),
    bad_images.mutated_images(),
    bad_images.image_bytes(EDGE),
)
IMAGE_URL = st.builds(data_url, IMAGE)
OPTIONS = {
    "n": st.integers(1, 2),
    "size": st.sampled_from(["auto", "1024x1024"]),
    "quality": st.sampled_from(["low", "auto"]),
    "output_format": st.sampled_from(["png", "jpeg", "webp"]),
    "background": st.sampled_from(["auto", "opaque", "transparent"]),
}
PROMPT = {"prompt": st.just("a red apple")}
VALID_GENERATION = st.fixed_dictionaries(
    {**PROMPT, "model": st.sampled_from(["gpt-image-1", "gpt-image-1.5"])}, optional=OPTIONS
)
VALID_EDIT = st.fixed_dictionaries(
    {
        **PROMPT,
        "images": st.lists(
            st.builds(lambda url: {"image_url": url}, IMAGE_URL), min_size=1, max_size=2
        ),
    },
    optional={**OPTIONS, "mask": st.builds(lambda url: {"image_url": url}, IMAGE_URL)},
)
VALID_AA = st.fixed_dictionaries(
    {
        **PROMPT,
        "model": st.just("gpt-image-1.5"),
        "images": st.lists(
            st.builds(lambda url: {"image_url": url}, IMAGE_URL), min_size=1, max_size=2
        ),
    },
    optional={**OPTIONS, "async": st.booleans()},
)
VALID_SUBMIT = st.fixed_dictionaries(
    {**PROMPT, "images": st.lists(IMAGE_URL, min_size=1, max_size=2)}, optional=OPTIONS
)


# ---- sending, and judging the answers ----


def _app() -> Starlette:
    """A fresh emulator: generations finish at once, any key but an ``invalid`` one is good."""
    return fast_app()


def _exchange(
    app: Starlette, method: str, url: str, content: bytes = b"", content_type: str = ""
) -> httpx.Response:
    headers = {"Authorization": f"Bearer {KEY}"}
    if content_type:
        headers["Content-Type"] = content_type
    return call_app(app, method, url, headers, content)


def _judge(provider: str, method: str, path: str, response: httpx.Response) -> None:
    event(f"{method} {path.rsplit('/', 1)[-1]}: {response.status_code}")
    assert response.status_code < 500, (
        f"{method} {path} answered {response.status_code}: {response.content[:300]!r}"
    )
    problems = off_document(
        provider,
        method,
        path,
        response.status_code,
        response.headers.get("content-type", ""),
        response.content,
    )
    assert not problems, problems


@pytest.fixture(scope="module")
def rss_budget() -> Iterator[None]:
    """Fail the module if its examples grew the process's peak memory by more than
    ``RSS_BUDGET_MB`` in all."""
    before = peak_rss_mb()
    yield
    grown = peak_rss_mb() - before
    assert grown <= RSS_BUDGET_MB, f"peak memory grew {grown:.0f} MB over the examples"


pytestmark = pytest.mark.usefixtures("rss_budget")


# ---- multipart ----


def _required_form_parts() -> list[Required]:
    """The parts a usable edit has, each sent well formed (unless the draw drops it; the mask
    most of the time, as most edits have none)."""
    return [
        ("prompt", False, st.just(b"a red apple"), 9),
        ("model", False, st.sampled_from([b"gpt-image-1", b"gpt-image-1.5", b"gpt-image-2"]), 9),
        ("image", True, IMAGE, 9),
        ("mask", True, IMAGE, 3),
        ("size", False, st.sampled_from([b"1024x1024", b"auto"]), 9),
    ]


@pytest.mark.parametrize("scale", BUDGETS)
@pytest.mark.parametrize(
    ("provider", "path"), [("openai", "/v1/images/edits"), ("agcloud", "/v1/image/edits")]
)
def test_multipart_edits(scale: float, provider: str, path: str) -> None:
    @fuzz(scale)
    @given(form=multipart(FORM_NAMES, IMAGE, required=_required_form_parts()))
    def run(form: tuple[bytes, str]) -> None:
        response = _exchange(_app(), "POST", path, *form)
        _judge(provider, "POST", path, response)
        if response.status_code >= 400:
            assert response.headers["x-request-id"].startswith("req_")

    with known_failures_set_aside():
        run()


@pytest.mark.parametrize("scale", BUDGETS)
def test_multipart_uploads(scale: float) -> None:
    required: list[Required] = [("file", True, IMAGE, 9)]

    @fuzz(scale)
    @given(form=multipart(["file", "purpose", "image"], IMAGE, required=required))
    def run(form: tuple[bytes, str]) -> None:
        app = _app()
        path = "/api/v1/files"
        response = _exchange(app, "POST", path, *form)
        _judge("aa", "POST", path, response)
        if response.status_code == 200:  # the stored file as an edit's input and mask
            file_id = response.json()["data"]["file_id"]
            reference = {"file_id": file_id}
            _aa_generate(app, {"images": [reference], "mask": reference})

    with known_failures_set_aside():
        run()


# ---- JSON ----


def _aa_generate(app: Starlette, fields: Mapping[str, Any]) -> None:
    body = {"model": "gpt-image-1.5", "prompt": "a red apple", **fields}
    path = "/api/v1/image/generation"
    response = _exchange(app, "POST", path, json.dumps(body).encode(), "application/json")
    _judge("aa", "POST", path, response)


# The fields each JSON operation takes, and its valid bodies. Tests name them rather than take
# the strategies as pytest parameters: Hypothesis finds strategies among a test's arguments
# flaky.
JSON_TARGETS = {
    "openai-generations": ("openai", "/v1/images/generations", FIELDS, VALID_GENERATION),
    "openai-edits": ("openai", "/v1/images/edits", EDIT_FIELDS, VALID_EDIT),
    "aa-generation": ("aa", "/api/v1/image/generation", AA_FIELDS, VALID_AA),
}


@pytest.mark.parametrize("scale", BUDGETS)
@pytest.mark.parametrize("target", sorted(JSON_TARGETS))
def test_json_bodies(scale: float, target: str) -> None:
    provider, path, fields, valid = JSON_TARGETS[target]

    @fuzz(scale)
    @given(body=json_bodies(fields, valid))
    def run(body: tuple[bytes, str]) -> None:
        app = _app()
        response = _exchange(app, "POST", path, *body)
        _judge(provider, "POST", path, response)
        if provider == "aa" and response.status_code == 200:
            task = response.json()["data"]
            read = _exchange(app, "GET", f"/api/v1/image/generation/{quote(task['task_id'])}")
            _judge("aa", "GET", "/api/v1/image/generation/{task_id}", read)
            for url in read.json()["data"].get("urls") or []:
                _fetch_file(app, url)

    with known_failures_set_aside():
        run()


QUEUE_MODELS = ["gpt_image_1", "gpt_image_1_edit", "gpt_image_1_5_edit", "gpt_image_2_edit"]


@pytest.mark.parametrize("scale", BUDGETS)
@pytest.mark.parametrize("provider", ["seacloud", "odirouter"])
def test_queue_submits_and_what_follows(scale: float, provider: str) -> None:
    @fuzz(scale)
    @given(model=st.sampled_from(QUEUE_MODELS), body=json_bodies(QUEUE_FIELDS, VALID_SUBMIT))
    def run(model: str, body: tuple[bytes, str]) -> None:
        app = _app()
        path = f"/v1/queue/{model}"
        response = _exchange(app, "POST", f"/{provider}/model{path}", *body)
        _judge(provider, "POST", path, response)
        if response.status_code != 200:
            return
        job = response.json()
        status = _exchange(app, "GET", _local(job["status_url"]))
        _judge(provider, "GET", f"{path}/requests/{{request_id}}/status", status)
        result = _exchange(app, "GET", _local(job["response_url"]))
        _judge(provider, "GET", f"{path}/requests/{{request_id}}/response", result)
        if result.status_code == 200:
            for output in result.json()["outputs"]:
                _fetch_file(app, output["url"])

    with known_failures_set_aside():
        run()


def _local(url: str) -> str:
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


def _fetch_file(app: Starlette, url: str) -> httpx.Response:
    """A result link: the image it names, or the CDN's refusal (its own shape, no document)."""
    response = _exchange(app, "GET", _local(url))
    event(f"GET file: {response.status_code}")
    assert response.status_code < 500, (url, response.status_code, response.content[:300])
    if response.status_code == 200:
        assert response.headers["content-type"].startswith("image/")
        with Image.open(io.BytesIO(response.content)) as image:
            image.load()
    else:
        assert response.status_code in (403, 404), response.status_code
        assert response.json().keys() == {"detail"}, response.content
    return response


# ---- result links ----

EXPIRES = st.one_of(
    st.integers(0, 2**40).map(str),
    st.text(st.sampled_from("0123456789"), min_size=1, max_size=6000),
    st.text(max_size=20),
    st.sampled_from(["", "-1", "1e10", "\u0661\u0662", "\u00b2", "0x10", " 1", "1_000"]),
)
SIG = st.one_of(st.text(st.sampled_from("0123456789abcdef"), max_size=80), st.text(max_size=20))


@pytest.mark.parametrize("scale", BUDGETS)
def test_result_links_with_any_expiry_and_signature(scale: float) -> None:
    @fuzz(scale)
    @given(
        expires=st.one_of(st.none(), EXPIRES),
        sig=st.one_of(st.none(), SIG),
        keep=st.sampled_from(["expires", "sig", "neither"]),
        name=st.sampled_from(["0.png", "1.png", "0.jpeg", "x.png", "0", "00.png", "-1.png"]),
    )
    def run(expires: str | None, sig: str | None, keep: str, name: str) -> None:
        app = _app()
        body = b'{"prompt": "a red apple"}'
        job = _exchange(
            app, "POST", "/seacloud/model/v1/queue/gpt_image_1", body, "application/json"
        )
        result = _exchange(app, "GET", _local(job.json()["response_url"]))
        link = urlsplit(result.json()["outputs"][0]["url"])
        query: dict[str, str | None] = dict(part.split("=", 1) for part in link.query.split("&"))
        if keep != "expires":
            query["expires"] = expires
        if keep != "sig":
            query["sig"] = sig
        sent = "&".join(f"{k}={quote(v)}" for k, v in query.items() if v is not None)
        path = link.path.rsplit("/", 1)[0] + "/" + name
        _fetch_file(app, f"{path}?{sent}")

    with known_failures_set_aside():
        run()
