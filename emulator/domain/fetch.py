"""Fetching input images from the network, when ``fetch_remote=allowlist`` allows it.

Nothing is fetched by default. With the allowlist on, a URL whose host is on the list is
fetched, and the fetch stays inside these walls (docs/security.md says why):

- only ``http`` and ``https`` URLs, and only from listed hosts: redirects are followed by hand,
  at most ``MAX_REDIRECTS`` of them, each hop's scheme and host checked like the first;
- at most ``MAX_FETCH_BYTES`` per answer: a larger ``Content-Length`` is refused before the body
  is read, and a body without one is read in network-sized pieces and dropped once it passes
  the cap (an answer past it is never held whole); compressed answers are refused, since a
  small body may inflate past any cap;
- at most ``timeout`` seconds per fetch, all hops and any wait for a slot included;
- at most ``MAX_CONCURRENT_FETCHES`` fetches at once in the process; a request's own references
  are fetched together (its callers gather them), so it waits about one fetch, not their sum;
- one HTTP client per process, made on the first fetch (reading the CA bundle costs tens of
  milliseconds) and closed when the server stops.

A refused or failed fetch is ``None``: the caller answers it as the image it could not download.
When the server begins to stop, fetches in progress and to come raise ``ServerStopping``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Iterable
from typing import TypeVar

import httpx

from emulator.domain.errors import ServerStopping

# Redirects followed per fetch (httpx follows 20, browsers about as many; images need few).
MAX_REDIRECTS = 5
# Bytes of one answer: OpenAI's limit for an edit's input image.
MAX_FETCH_BYTES = 50 * 1024 * 1024
# Fetches in progress at once in one process; more wait for a slot (within their deadline).
MAX_CONCURRENT_FETCHES = 16
# Seconds one fetch may take when the settings say nothing else.
DEFAULT_FETCH_TIMEOUT = 10.0

T = TypeVar("T")

_SCHEMES = frozenset({"http", "https"})
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
# Bytes come as sent: a compressed body could inflate past the cap within one chunk.
_HEADERS = {"accept-encoding": "identity"}


def _host(entry: str) -> str:
    """An allowlist entry as ``httpx.URL.host`` spells hosts: lower case, IPv6 unbracketed."""
    return entry.strip().lower().removeprefix("[").removesuffix("]")


class Fetcher:
    """Fetches images from the allowlisted hosts within bounds of hops, bytes, time and
    concurrency (the module's docstring lists them); one per process."""

    def __init__(
        self,
        hosts: Iterable[str],
        *,
        timeout: float = DEFAULT_FETCH_TIMEOUT,
        max_bytes: int = MAX_FETCH_BYTES,
        max_redirects: int = MAX_REDIRECTS,
        concurrency: int = MAX_CONCURRENT_FETCHES,
    ) -> None:
        self.hosts = frozenset(_host(entry) for entry in hosts if entry.strip())
        self.timeout = timeout
        self.max_bytes = max_bytes
        self.max_redirects = max_redirects
        self._slots = asyncio.Semaphore(concurrency)
        self._concurrency = concurrency
        self._client: httpx.AsyncClient | None = None
        self._stopping = asyncio.Event()

    def covers(self, url: str) -> bool:
        """Whether ``url`` names a listed host: it is fetched (a URL that does not is answered
        offline, as a placeholder). The scheme and every redirect are checked by ``fetch``."""
        if not self.hosts:
            return False
        try:
            return httpx.URL(url).host in self.hosts
        except httpx.InvalidURL:
            return False

    def allows(self, url: httpx.URL) -> bool:
        """Whether one hop may go to ``url``: ``http`` or ``https``, to a listed host."""
        return url.scheme in _SCHEMES and url.host in self.hosts

    async def fetch(self, url: str) -> bytes | None:
        """The body of ``url``'s answer, or ``None`` when the walls refuse it or it fails.

        Raises ``ServerStopping`` when the server begins to stop first."""
        if self._stopping.is_set():
            raise ServerStopping()
        work = asyncio.ensure_future(self._fetch(url))
        stop = asyncio.ensure_future(self._stopping.wait())
        try:
            done, _ = await asyncio.wait({work, stop}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stop.cancel()
            if not work.done():  # the server stops, or the request itself was cancelled
                work.cancel()
        if work in done:
            return work.result()
        raise ServerStopping()

    def stop(self) -> None:
        """The server is stopping: fetches in progress end now (``ServerStopping``)."""
        self._stopping.set()

    async def aclose(self) -> None:
        """Close the HTTP client (and its connections), if a fetch made one."""
        self.stop()
        client, self._client = self._client, None
        if client is not None:
            await client.aclose()

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(
                follow_redirects=False,  # each hop is checked against the list here
                timeout=httpx.Timeout(self.timeout),
                limits=httpx.Limits(
                    max_connections=self._concurrency, max_keepalive_connections=self._concurrency
                ),
                headers=_HEADERS,
            )
        return self._client

    async def _fetch(self, url: str) -> bytes | None:
        try:
            async with asyncio.timeout(self.timeout), self._slots:
                target = httpx.URL(url)
                for _ in range(self.max_redirects + 1):
                    if not self.allows(target):
                        return None
                    async with self._http().stream("GET", target) as response:
                        location = response.headers.get("location")
                        if response.status_code in _REDIRECTS and location:
                            target = target.join(location)
                            continue
                        return await self._body(response)
                return None  # too many redirects
        except (TimeoutError, httpx.HTTPError, httpx.InvalidURL, httpx.StreamError):
            return None

    async def _body(self, response: httpx.Response) -> bytes | None:
        """The body of a 200 answer within the cap, or ``None``, reading no further than it."""
        if response.status_code != 200:
            return None
        if response.headers.get("content-encoding", "identity").lower() != "identity":
            return None
        declared = response.headers.get("content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_bytes):
            return None
        chunks: list[bytes] = []
        size = 0
        async for chunk in response.aiter_raw():
            size += len(chunk)
            if size > self.max_bytes:
                return None  # leaving the block closes the connection: the rest is never read
            chunks.append(chunk)
        return b"".join(chunks)


async def concurrently(awaitables: Iterable[Awaitable[T]]) -> list[T]:
    """The results of ``awaitables`` in their order, awaited together: a request's references
    are resolved at once, so its fetches take about as long as the slowest, not their sum. A
    lone one is awaited as it is (no task is made for it)."""
    pending = list(awaitables)
    if len(pending) == 1:
        return [await pending[0]]
    return list(await asyncio.gather(*pending))
