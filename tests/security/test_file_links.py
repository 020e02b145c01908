"""Malformed ``expires`` and ``sig`` values on ``/_files/`` links answer what an invalid link
answers (403, the CDN's words), never a server error: digits that are not ASCII, numbers past
what ``int`` reads, signatures ``compare_digest`` refuses."""

from __future__ import annotations

import asyncio
from urllib.parse import quote

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.helpers import AUTH, asgi_client, examples, fast_app
from tests.support.queue import finish, submit

pytestmark = pytest.mark.anyio

LINK_EXPIRED = {"detail": "Request has expired or the signature is invalid"}
FILE = "/_files/mmsu_0123456789abcdefghijklmnop/0.png"


@pytest.mark.parametrize(
    "query",
    [
        "expires=%C2%B2&sig=abc",  # "²": str.isdigit() says yes, int() says no
        "expires=" + "9" * 5000 + "&sig=abc",  # past int()'s 4,300 digits
        "expires=1&sig=%C3%A9",  # "é": compare_digest refuses non-ASCII text
        "expires=%D9%A3&sig=abc",  # an Arabic-Indic three, which int() reads
        "expires=-1&sig=abc",
        "expires=&sig=",
        "expires=1",
        "sig=abc",
        "",
    ],
)
async def test_a_malformed_link_answers_as_an_invalid_one(query: str) -> None:
    app = fast_app()
    async with asgi_client(app) as client:
        response = await client.get(f"{FILE}?{query}")
    assert response.status_code == 403, response.text
    assert response.json() == LINK_EXPIRED


async def test_a_real_link_is_refused_once_its_values_are_tampered_with() -> None:
    app = fast_app()
    async with asgi_client(app, AUTH) as client:
        sub = await submit(client, "gpt_image_1", {"prompt": "p"})
        await finish(app, client, sub["status_url"])
        url = (await client.get(sub["response_url"])).json()["outputs"][0]["url"]
        assert (await client.get(url)).status_code == 200
        path, _, query = url.partition("?")
        expires = query.split("&")[0].split("=")[1]
        superscript = expires[:-1] + "²"
        for tampered in (
            url.replace(f"expires={expires}", f"expires={quote(superscript)}"),
            url + "%C3%A9",
            f"{path}?expires={'0' * 4400}{expires}&sig={query.split('sig=')[1]}",
        ):
            response = await client.get(tampered)
            assert response.status_code == 403, tampered
            assert response.json() == LINK_EXPIRED


@settings(max_examples=examples())
@given(expires=st.text(max_size=60), sig=st.text(max_size=60), stem=st.text(max_size=8))
def test_no_query_value_gets_a_server_error(expires: str, sig: str, stem: str) -> None:
    async def run() -> None:
        app = fast_app()
        name = quote(stem or "0", safe="") + ".png"
        query = f"expires={quote(expires, safe='')}&sig={quote(sig, safe='')}"
        async with asgi_client(app) as client:
            response = await client.get(f"/_files/mmsu_0123456789abcdefghijklmnop/{name}?{query}")
        assert response.status_code in (403, 404), response.text
        if response.status_code == 403:
            assert response.json() == LINK_EXPIRED

    asyncio.run(run())
