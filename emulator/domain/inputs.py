"""Input image references of edits: ``data:`` URLs, bare base64, and URLs.

Nothing is fetched from the network by default: a URL this emulator served resolves to its
own file, any other URL to a deterministic placeholder. ``fetch_remote=allowlist`` fetches
from the listed hosts only.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from urllib.parse import urlsplit

import httpx

from emulator.domain.drawing import InvalidImage, decode_inline, placeholder, probe
from emulator.domain.errors import Violation
from emulator.domain.rules import ResolvedImage

_OWN_FILE = re.compile(
    r"/_files/(?P<rid>(?:mmsu|task)_[0-9a-z]{26})/(?P<index>\d+)\.(?P<fmt>png|jpeg|webp)$"
)
MAX_DOWNLOAD = 50 * 1024 * 1024

OwnFileLoader = Callable[[str, int, str], Awaitable[bytes | None]]


class InputResolver:
    """Turns a reference into image bytes and header facts, or a ``Violation`` naming it."""

    def __init__(self, own_file: OwnFileLoader, fetch_hosts: frozenset[str] | None) -> None:
        self._own_file = own_file
        self._fetch_hosts = fetch_hosts

    async def resolve(self, ref: str, loc: tuple[str | int, ...]) -> ResolvedImage | Violation:
        try:
            data = decode_inline(ref)
            if data is None:
                data = await self._from_url(ref)
                if data is None:
                    return Violation(loc, f"Could not download the image at {ref!r}.")
            return ResolvedImage(data=data, info=probe(data))
        except InvalidImage as exc:
            return Violation(loc, str(exc))

    async def _from_url(self, url: str) -> bytes | None:
        parts = urlsplit(url)
        own = _OWN_FILE.search(parts.path)
        if own is not None:
            return await self._own_file(own["rid"], int(own["index"]), own["fmt"])
        if self._fetch_hosts is not None and parts.hostname in self._fetch_hosts:
            return await _download(url)
        return placeholder(url)


async def _download(url: str) -> bytes | None:
    try:
        async with httpx.AsyncClient(timeout=10.0, follow_redirects=True) as client:
            response = await client.get(url)
    except httpx.HTTPError:
        return None
    if response.status_code != 200 or len(response.content) > MAX_DOWNLOAD:
        return None
    return response.content
