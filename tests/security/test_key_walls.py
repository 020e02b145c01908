"""Keys are walls: a key's results and uploads are inputs for that key only.

A result link of this emulator sent back as an input image resolves to its file only when its
signature holds and the file is the caller's (the owner ``gateway.owner_of`` names); for anyone
else, and for a forged, altered or expired link, it is the placeholder of any URL not served
here. An uploaded file id answers another key as an id never issued answers. Links are signed
with a random key per start (the seed repeats ids and pixels, not signatures); processes
sharing a Redis namespace sign with one key, which a reset keeps.

"Resolves to X" is checked the way a user sees it: an edit of the reference draws exactly the
pixels an edit of X sent inline draws.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import time
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from starlette.applications import Starlette

from emulator.app import create_app
from emulator.domain.drawing import placeholder
from emulator.domain.gateway import owner_of
from emulator.settings import Settings
from emulator.state import Emulator
from tests.helpers import (
    HOST,
    RunningServer,
    asgi_client,
    clock_of,
    data_url,
    decode,
    examples,
    fast_app,
    make_app,
)
from tests.support.aa import body as aa_body

pytestmark = pytest.mark.anyio

ALICE, BOB = "sk-alice", "sk-bob"
PROMPT = "Put the product on a marble table"
QUEUE_GENERATE = "/model/v1/queue/gpt_image_1"
QUEUE_EDIT = "/model/v1/queue/gpt_image_1_edit"
OPENAI_EDIT = "/v1/images/edits"
AA_TASKS = "/api/v1/image/generation"
AA_FILES = "/api/v1/files"
SIZE = "1024x1024"  # the placeholder's size too: every edit below draws at one size


def queue_auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Key {key}"}


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def emulator_of(app: Starlette) -> Emulator:
    emulator: Emulator = app.state.emulator
    return emulator


# -- links: made by one protocol's result ------------------------------------------------------


async def queue_result(
    http: httpx.AsyncClient, key: str, body: dict[str, Any], app: Starlette | None = None
) -> str:
    """A queue job of ``key``'s run to its end: the URL of its first output (``app``: the
    emulator on a virtual clock, moved until the job ends)."""
    submitted = await http.post(QUEUE_GENERATE, json=body, headers=queue_auth(key))
    assert submitted.status_code == 200, submitted.text
    return await queue_output(http, key, submitted.json(), app)


async def queue_output(
    http: httpx.AsyncClient, key: str, submitted: dict[str, Any], app: Starlette | None = None
) -> str:
    deadline = time.monotonic() + 30
    while True:
        status = (await http.get(submitted["status_url"], headers=queue_auth(key))).json()
        if status["status"] == "COMPLETED":
            break
        assert time.monotonic() < deadline, status
        if app is not None:
            clock_of(app).advance(1.0)
        else:
            await asyncio.sleep(0.01)
    assert "error_type" not in status, status
    result = await http.get(submitted["response_url"], headers=queue_auth(key))
    assert result.status_code == 200, result.text
    url: str = result.json()["outputs"][0]["url"]
    return url


async def queue_link(http: httpx.AsyncClient, key: str) -> str:
    return await queue_result(http, key, {"prompt": "a red apple", "size": SIZE})


async def aa_link(http: httpx.AsyncClient, key: str) -> str:
    created = await http.post(AA_TASKS, json=aa_body(size=SIZE), headers=bearer(key))
    assert created.status_code == 200, created.text
    task = created.json()["data"]
    assert task["task_status"] == "succeeded", task
    url: str = task["urls"][0]
    return url


PRODUCERS: dict[str, Callable[[httpx.AsyncClient, str], Awaitable[str]]] = {
    "queue": queue_link,
    "aa": aa_link,
}


# -- edits: an input reference, the pixels drawn from it ---------------------------------------


async def queue_edit(http: httpx.AsyncClient, key: str, ref: str) -> bytes:
    body = {"prompt": PROMPT, "images": [ref], "size": SIZE}
    submitted = await http.post(QUEUE_EDIT, json=body, headers=queue_auth(key))
    assert submitted.status_code == 200, submitted.text
    url = await queue_output(http, key, submitted.json())
    return (await http.get(url)).content


async def openai_edit(http: httpx.AsyncClient, key: str, ref: str) -> bytes:
    body = {"model": "gpt-image-1.5", "prompt": PROMPT, "images": [{"image_url": ref}]}
    answer = await http.post(OPENAI_EDIT, json={**body, "size": SIZE}, headers=bearer(key))
    assert answer.status_code == 200, answer.text
    return base64.b64decode(answer.json()["data"][0]["b64_json"])


async def aa_edit(http: httpx.AsyncClient, key: str, ref: str) -> bytes:
    request = aa_body(prompt=PROMPT, images=[{"image_url": ref}], size=SIZE)
    answer = await http.post(AA_TASKS, json=request, headers=bearer(key))
    assert answer.status_code == 200, answer.text
    return (await http.get(answer.json()["data"]["urls"][0])).content


CONSUMERS: dict[str, Callable[[httpx.AsyncClient, str, str], Awaitable[bytes]]] = {
    "queue": queue_edit,
    "openai": openai_edit,
    "aa": aa_edit,
}


async def pixels(edit: Callable[..., Awaitable[bytes]], *args: Any) -> bytes:
    """The RGB pixels of the image ``edit`` answers."""
    return decode(await edit(*args)).convert("RGB").tobytes()


# -- result links --------------------------------------------------------------------------------


@pytest.mark.parametrize("consumer", sorted(CONSUMERS))
@pytest.mark.parametrize("producer", sorted(PRODUCERS))
async def test_a_result_link_is_an_input_for_its_own_key_only(producer: str, consumer: str) -> None:
    edit = CONSUMERS[consumer]
    async with asgi_client(fast_app(), timeout=60) as http:
        link = await PRODUCERS[producer](http, ALICE)
        file = await http.get(link)  # the link itself works for anyone who holds it (a CDN's)
        assert file.status_code == 200

        own = await pixels(edit, http, ALICE, link)
        assert own == await pixels(edit, http, ALICE, data_url(file.content))
        # Another key gets the placeholder an unknown URL gets: not the file, and no sign of it.
        foreign = await pixels(edit, http, BOB, link)
        assert foreign == await pixels(edit, http, BOB, data_url(placeholder(link)))
        assert foreign != own


def with_query(link: str, **changes: str | None) -> str:
    """``link`` with its query parameters changed (None drops one)."""
    parts = urlsplit(link)
    query = {name: values[-1] for name, values in parse_qs(parts.query).items()}
    for name, value in changes.items():
        if value is None:
            query.pop(name, None)
        else:
            query[name] = value
    return parts._replace(query=urlencode(query)).geturl()


def flipped(text: str) -> str:
    return text[:-1] + ("0" if text[-1] != "0" else "1")


def old_default_signature(name: str, expires: int, seed: int = 0) -> str:
    """A signature with the key every emulator of a seed once had (sha256 of ``imgemu-<seed>``)."""
    secret = hashlib.sha256(f"imgemu-{seed}".encode()).digest()
    return hmac.new(secret, f"{name}:{expires}".encode(), hashlib.sha256).hexdigest()[:32]


def name_of(link: str) -> str:
    """``<id>/<index>.<format>``: what a link's signature covers."""
    return urlsplit(link).path.removeprefix("/_files/")


def query_of(link: str) -> tuple[int, str]:
    """A link's ``expires`` and ``sig``."""
    query = parse_qs(urlsplit(link).query)
    return int(query["expires"][0]), query["sig"][0]


def tampered(how: str, link: str, emulator: Emulator) -> str:
    expires, sig = query_of(link)
    if how == "sig altered":
        return with_query(link, sig=flipped(sig))
    if how == "sig dropped":
        return with_query(link, sig=None)
    if how == "expires moved":
        return with_query(link, expires=str(expires + 1))
    if how == "no query":
        return link.split("?")[0]
    if how == "expired, signed right":
        return f"{HOST}/{emulator.files.signed(name_of(link), int(time.time()) - 1)}"
    assert how == "signed with the seed"
    return with_query(link, sig=old_default_signature(name_of(link), expires))


TAMPERED = (
    "sig altered",
    "sig dropped",
    "expires moved",
    "no query",
    "expired, signed right",
    "signed with the seed",
)


@pytest.mark.parametrize("how", TAMPERED)
async def test_a_link_whose_signature_fails_is_a_placeholder_even_for_its_owner(how: str) -> None:
    app = fast_app()
    async with asgi_client(app, timeout=60) as http:
        link = await queue_link(http, ALICE)
        bad = tampered(how, link, emulator_of(app))
        refused = await http.get(bad)
        assert refused.status_code == 403
        assert refused.json() == {"detail": "Request has expired or the signature is invalid"}
        drawn = await pixels(openai_edit, http, ALICE, bad)
        assert drawn == await pixels(openai_edit, http, ALICE, data_url(placeholder(bad)))


@pytest.mark.parametrize(
    ("expires", "sig"), [("²", "0" * 32), ("1", "\x80"), ("١٢", "é" * 32), ("-1", "")]
)
async def test_a_link_with_a_non_ascii_expiry_or_signature_is_refused_not_an_error(
    expires: str, sig: str
) -> None:
    async with asgi_client(fast_app(), timeout=60) as http:
        link = with_query(await queue_link(http, ALICE), expires=expires, sig=sig)
        refused = await http.get(link)
        assert refused.status_code == 403
        assert refused.json() == {"detail": "Request has expired or the signature is invalid"}


def test_any_other_signature_or_expiry_resolves_to_the_placeholder() -> None:
    """Property: of every (expires, sig) a caller may send, only the pair the emulator signed
    resolves to the owner's file; every other is the placeholder of the URL as sent."""
    app = fast_app()

    async def made() -> tuple[str, bytes]:
        async with asgi_client(app, timeout=60) as http:
            link = await queue_link(http, ALICE)
            return link, (await http.get(link)).content

    link, file = asyncio.run(made())
    query = parse_qs(urlsplit(link).query)
    signed = (query["expires"][0], query["sig"][0])
    digits = st.text("0123456789", min_size=1, max_size=12)
    hex_text = st.text("0123456789abcdef", min_size=0, max_size=40)

    assert asyncio.run(input_of(app, ALICE, link)) == file

    @settings(max_examples=examples(0.5))
    @given(
        expires=st.one_of(digits, st.just(signed[0])),
        sig=st.one_of(hex_text, st.just(signed[1]), st.text(max_size=8)),
    )
    def check(expires: str, sig: str) -> None:
        if (expires, sig) == signed:
            return
        url = with_query(link, expires=expires, sig=sig)
        assert asyncio.run(input_of(app, ALICE, url)) == placeholder(url)

    check()


async def input_of(app: Starlette, key: str, url: str) -> bytes | None:
    """What ``url`` resolves to as an input image of ``key``'s request."""
    owner = owner_of(key)
    found = await emulator_of(app).images.inputs.resolve(url, ("images", 0), owner=owner)
    return getattr(found, "data", None)


async def test_the_seed_repeats_ids_not_signatures() -> None:
    """Two emulators of one seed issue the same ids; neither takes the other's links (nor one
    signed with the key the seed once gave), unless both are given one ``signing_secret``."""
    body = {"prompt": "a red apple", "size": SIZE}
    for secret in ("", "s3"):
        one, two = make_app(signing_secret=secret), make_app(signing_secret=secret)
        async with asgi_client(one) as a, asgi_client(two) as b:
            link = await queue_result(a, ALICE, body, one)
            same = await queue_result(b, ALICE, body, two)
            assert name_of(link) == name_of(same)  # the same job id, the same file
            file = await a.get(link)
            assert file.status_code == 200
            forged = with_query(link, sig=old_default_signature(name_of(link), query_of(link)[0]))
            assert (await b.get(forged)).status_code == 403
            assert await input_of(two, ALICE, forged) == placeholder(forged)
            if not secret:
                assert query_of(link)[1] != query_of(same)[1]
                assert (await b.get(link)).status_code == 403
                assert await input_of(two, ALICE, link) == placeholder(link)
            else:
                assert link == same
                assert (await b.get(link)).content == file.content
                assert await input_of(two, ALICE, link) == file.content


# -- uploads ---------------------------------------------------------------------------------


def envelope_without_ids(response: httpx.Response, *ids: str) -> tuple[int, Any]:
    """The answer with its request id and the file ids named in it blanked."""
    body = response.json()
    if isinstance(body, dict):
        body = {k: v for k, v in body.items() if k != "request_id"}
    text = repr(body)
    for ident in ids:
        text = text.replace(ident, "FILE")
    return response.status_code, text


async def test_an_upload_is_its_keys_and_another_key_meets_an_unknown_file_id() -> None:
    async with asgi_client(fast_app(), timeout=60) as http:
        uploaded = await http.post(
            AA_FILES,
            files={"file": ("in.png", placeholder("https://example.com/mine.png"), "image/png")},
            headers=bearer(ALICE),
        )
        assert uploaded.status_code == 200, uploaded.text
        file_id = uploaded.json()["data"]["file_id"]
        never = file_id[:-4] + ("zzzz" if not file_id.endswith("zzzz") else "yyyy")

        def task(ident: str) -> dict[str, Any]:
            return aa_body(images=[{"file_id": ident}], size=SIZE)

        mine = await http.post(AA_TASKS, json=task(file_id), headers=bearer(ALICE))
        assert mine.status_code == 200, mine.text
        theirs = await http.post(AA_TASKS, json=task(file_id), headers=bearer(BOB))
        unknown = await http.post(AA_TASKS, json=task(never), headers=bearer(BOB))
        assert theirs.status_code == 400
        assert theirs.json()["message"] == f"images[0].file_id: No such file: '{file_id}'."
        assert envelope_without_ids(theirs, file_id) == envelope_without_ids(unknown, never)

        # OpenAI's JSON edits take the same file ids, in OpenAI's words.
        edit = {"model": "gpt-image-1.5", "prompt": PROMPT, "size": SIZE}
        ok = await http.post(
            OPENAI_EDIT, json={**edit, "images": [{"file_id": file_id}]}, headers=bearer(ALICE)
        )
        assert ok.status_code == 200, ok.text
        refused = await http.post(
            OPENAI_EDIT, json={**edit, "images": [{"file_id": file_id}]}, headers=bearer(BOB)
        )
        assert refused.status_code == 400
        assert refused.json()["error"] == {
            "message": f"No such file: '{file_id}'.",
            "type": "invalid_request_error",
            "param": "images[0].file_id",
            "code": "invalid_value",
        }


# -- processes sharing a Redis store -------------------------------------------------------------


def shared(url: str, seed: int) -> Starlette:
    """An emulator on the Redis store at ``url``, no signing secret configured."""
    return create_app(
        Settings(store=url, seed=seed, time_scale=1e-9, log_requests="off", steering=True)
    )


def on(server: RunningServer, url: str) -> str:
    """``url`` (absolute, as another server wrote it) pointed at ``server``."""
    return f"{server.base_url}/{url.split('/', 3)[3]}"


@pytest.mark.server
def test_processes_on_one_redis_namespace_share_one_random_signing_key(
    serve: Callable[[Starlette], RunningServer], redis_url: str
) -> None:
    one, two = serve(shared(redis_url, 0)), serve(shared(redis_url, 1))
    elsewhere = serve(shared(redis_url + "?namespace=elsewhere", 2))
    key_one, key_two = (emulator_of(s.app).files.secret for s in (one, two))
    assert key_one == key_two
    assert key_one != hashlib.sha256(b"imgemu-0").digest()
    assert emulator_of(elsewhere.app).files.secret != key_one

    async def scenario() -> None:
        async with httpx.AsyncClient(base_url=one.base_url, timeout=60) as http:
            link = await queue_link(http, ALICE)
            file = await http.get(on(two, link))  # signed by one, checked by two
            assert file.status_code == 200
            assert (await http.get(on(elsewhere, link))).status_code == 403
            # As an input through two: the owner's file, anyone else's placeholder.
            async with httpx.AsyncClient(base_url=two.base_url, timeout=60) as via_two:
                own = await pixels(openai_edit, via_two, ALICE, link)
                assert own == await pixels(openai_edit, via_two, ALICE, data_url(file.content))
                foreign = await pixels(openai_edit, via_two, BOB, link)
                assert foreign == await pixels(
                    openai_edit, via_two, BOB, data_url(placeholder(link))
                )
            # A reset through two forgets the jobs, not the key the processes sign with.
            assert (await http.post(f"{two.base_url}/_emulator/reset")).status_code == 200
            after = await queue_link(http, ALICE)
            assert (await http.get(on(two, after))).status_code == 200

    asyncio.run(scenario())
    assert emulator_of(two.app).files.secret == key_one
