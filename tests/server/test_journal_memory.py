"""The journal's memory stays bounded under load: the default ``imgemu serve`` (a ring of 1,000
entries) answering thousands of requests, each with a distinct large body that nothing else
keeps (an OpenAI generation refused by validation), holds about as much memory after 12,000 of them
as after the first 3,000 filled the ring."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest

from tests.support.security import rss_mb
from tests.support.serve import imgemu_serve

pytestmark = [pytest.mark.server, pytest.mark.slow]

WARM, MORE, CONCURRENCY = 3_000, 9_000, 8
# The ring's entries are at most ~7 KB each (fields bounded at 6 KB): 1,000 of them fit in
# a few MB, whatever went by; the bound leaves room for the allocator's own churn.
GROWTH_MB = 12


async def send(base_url: str, start: int, count: int) -> None:
    headers = {"Authorization": "Bearer sk-k", "X-Imgemu-Test-Id": "journal-memory"}
    async with httpx.AsyncClient(base_url=base_url, headers=headers) as http:

        async def worker(offset: int) -> None:
            for index in range(start + offset, start + count, CONCURRENCY):
                body = {
                    "model": "gpt-image-1.5",
                    "prompt": f"{index} " + "a long prompt " * 1500,  # ~21 KB, distinct
                    "quality": "ultra",  # refused: nothing but the journal keeps it
                    **{f"extra_{k}": f"{index}-{k}" * 20 for k in range(40)},
                }
                answer = await http.post("/v1/images/generations", json=body)
                assert answer.status_code == 400, answer.text

        await asyncio.gather(*(worker(offset) for offset in range(CONCURRENCY)))


def test_the_journal_stays_bounded_under_load(tmp_path: Path) -> None:
    with imgemu_serve(tmp_path) as serving:
        pid = serving.process.pid
        asyncio.run(send(serving.base_url, 0, WARM))
        warm, _ = rss_mb(pid)
        asyncio.run(send(serving.base_url, WARM, MORE))
        after, _ = rss_mb(pid)
        journal = httpx.get(serving.base_url + "/_emulator/journal", params={"limit": 10_000})
        body = journal.json()
    assert body["total"] == 1000  # the ring's size: the newest thousand
    newest = body["entries"][0]
    assert newest["status"] == 400
    assert newest["fields"]["prompt"]["length"] > 20_000  # kept as its head and its length
    assert after - warm < GROWTH_MB, f"RSS grew {after - warm:.1f} MB ({warm:.0f} -> {after:.0f})"
