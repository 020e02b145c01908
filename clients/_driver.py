"""The two drivers: perform a flow's actions with ``httpx.Client`` or ``httpx.AsyncClient``.

Everything else (requests, parsing, retries, polling) is in the sans-IO core; a driver only
sends, sleeps, and iterates a streamed body's lines.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator, Mapping
from types import TracebackType
from typing import Any, ClassVar, Generic, Self, TypeVar

import anyio
import httpx

from clients._core import Action, Config, Core, Flow, RetryPolicy, Run, Sleep
from clients._errors import TransportError
from clients._tls import tls_context

T = TypeVar("T")
CoreT = TypeVar("CoreT", bound=Core)
Timeout = float | httpx.Timeout | None


class _Base(Generic[CoreT]):
    """What both drivers share: the provider choice and the resolved configuration."""

    _providers: ClassVar[tuple[str, ...]]
    _core: CoreT

    def _configure(self, provider: str | None, options: dict[str, Any]) -> None:
        config = Config.build(provider or self._providers[0], self._providers, **options)
        self._core = self._new_core(config)

    def _new_core(self, config: Config) -> CoreT:
        raise NotImplementedError

    @property
    def provider(self) -> str:
        """The provider's name (``seacloud``, ``openai``, ...)."""
        return self._core.config.provider.name

    @property
    def base_url(self) -> str:
        """The base URL requests go to, in the provider's convention (``.../v1``, ``.../model``)."""
        return self._core.config.base_url


class SyncDriver(_Base[CoreT]):
    """Runs flows with an ``httpx.Client``; a context manager that closes it."""

    def __init__(
        self,
        provider: str | None = None,
        *,
        base_url: str | None = None,
        api_key: str | None = None,
        transport: httpx.BaseTransport | None = None,
        timeout: Timeout = 120.0,
        retry: RetryPolicy | None = None,
        headers: Mapping[str, str] | None = None,
        clock: Callable[[], float] | None = None,
        sleep: Callable[[float], object] | None = None,
        seed: int | None = None,
    ) -> None:
        options = locals()
        self._configure(provider, {k: options[k] for k in _CONFIG_KEYS})
        self._http = httpx.Client(transport=transport, timeout=timeout, verify=tls_context())
        self._sleep = sleep or time.sleep

    def _drive(self, flow: Flow[T]) -> T:
        run = Run(flow)
        while (action := run.next()) is not None:
            try:
                run.reply(self._perform(action))
            except httpx.TransportError as exc:
                run.throw(exc)
        return run.value

    def _perform(self, action: Action) -> httpx.Response | None:
        if isinstance(action, Sleep):
            self._sleep(action.seconds)
            return None
        response = self._http.send(action.request, stream=action.stream)
        if action.stream and response.is_error:
            response.read()
            response.close()
        return response

    def _lines(self, response: httpx.Response, parse: Callable[[str], Iterable[T]]) -> Iterator[T]:
        try:
            for line in response.iter_lines():
                yield from parse(line)
        except httpx.TransportError as exc:
            raise TransportError(f"stream broke: {exc}", request=response.request) from exc
        finally:
            response.close()

    def close(self) -> None:
        """Close the HTTP connections.

        Example::

            client = QueueClient("seacloud")
            client.close()
        """
        self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


class AsyncDriver(_Base[CoreT]):
    """Runs flows with an ``httpx.AsyncClient``; an async context manager that closes it."""

    def __init__(
        self,
        provider: str | None = None,
        *,
        base_url: str | None = None,
        api_key: str | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        timeout: Timeout = 120.0,
        retry: RetryPolicy | None = None,
        headers: Mapping[str, str] | None = None,
        clock: Callable[[], float] | None = None,
        sleep: Callable[[float], Awaitable[object]] | None = None,
        seed: int | None = None,
    ) -> None:
        options = locals()
        self._configure(provider, {k: options[k] for k in _CONFIG_KEYS})
        self._http = httpx.AsyncClient(transport=transport, timeout=timeout, verify=tls_context())
        self._sleep = sleep or anyio.sleep

    async def _drive(self, flow: Flow[T]) -> T:
        run = Run(flow)
        while (action := run.next()) is not None:
            try:
                run.reply(await self._perform(action))
            except httpx.TransportError as exc:
                run.throw(exc)
        return run.value

    async def _perform(self, action: Action) -> httpx.Response | None:
        if isinstance(action, Sleep):
            await self._sleep(action.seconds)
            return None
        response = await self._http.send(action.request, stream=action.stream)
        if action.stream and response.is_error:
            await response.aread()
            await response.aclose()
        return response

    async def _lines(
        self, response: httpx.Response, parse: Callable[[str], Iterable[T]]
    ) -> AsyncIterator[T]:
        try:
            async for line in response.aiter_lines():
                for item in parse(line):
                    yield item
        except httpx.TransportError as exc:
            raise TransportError(f"stream broke: {exc}", request=response.request) from exc
        finally:
            await response.aclose()

    async def aclose(self) -> None:
        """Close the HTTP connections.

        Example::

            client = AsyncQueueClient("seacloud")
            await client.aclose()
        """
        await self._http.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()


_CONFIG_KEYS = ("base_url", "api_key", "retry", "clock", "seed", "headers")
