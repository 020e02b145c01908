"""The sans-IO core: every decision the client makes, written once for sync and async alike.

A *flow* is a generator that yields actions (``Send`` a request, ``Sleep`` a while) and
receives their outcome (an ``httpx.Response``, or an ``httpx.TransportError`` thrown in), then
returns a typed value. The protocol modules compose flows with ``yield from``; the two drivers
in ``_driver.py`` perform the actions with ``httpx.Client`` or ``httpx.AsyncClient``. Retries,
backoff, ``Retry-After``, polling and timeouts all live here, so neither driver knows them.
"""

from __future__ import annotations

import email.utils
import math
import os
import random
import time
from collections.abc import Callable, Generator, Mapping
from dataclasses import dataclass
from typing import Any, Generic, Literal, TypeVar, cast

import httpx

from clients._errors import JobTimeoutError, TransportError, UsageError, provider_error

T = TypeVar("T")
S = TypeVar("S")


@dataclass(frozen=True, slots=True)
class Send:
    """Send ``request``; with ``stream`` leave a successful body unread for the caller."""

    request: httpx.Request
    stream: bool = False


@dataclass(frozen=True, slots=True)
class Sleep:
    """Wait ``seconds`` (on the client's clock) before the next action."""

    seconds: float


Action = Send | Sleep
Flow = Generator[Action, Any, T]


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """When a single request is tried again: 429 and 5xx answers, and failed connections.

    A ``retry-after-ms`` or ``Retry-After`` header (seconds or an HTTP date) sets the wait;
    otherwise it is ``backoff * 2**attempt`` capped at ``max_backoff``, with +-``jitter``.
    A provider asking for more than ``max_retry_after`` seconds is not retried: the error is
    raised at once with its ``retry_after``. ``x-should-retry: true|false`` overrides.

    Example::

        QueueClient("seacloud", retry=RetryPolicy(max_retries=5, max_backoff=30))
    """

    max_retries: int = 2
    backoff: float = 0.5
    max_backoff: float = 8.0
    max_retry_after: float = 60.0
    jitter: float = 0.25

    def backoff_delay(self, attempt: int, rng: random.Random) -> float:
        """The wait before retry number ``attempt + 1`` when the provider named none.

        Example::

            RetryPolicy(backoff=0.5, jitter=0).backoff_delay(2, random.Random())  # 2.0
        """
        base = min(self.backoff * 2.0**attempt, self.max_backoff)
        return max(0.0, base * (1 + self.jitter * (2 * rng.random() - 1)))


@dataclass(frozen=True, slots=True)
class PollPolicy:
    """How ``run``/``wait`` poll a job: interval, exponential backoff with jitter, timeout.

    The n-th wait is ``interval * backoff**n`` capped at ``max_interval``, scaled by a random
    factor in ``1 +- jitter``. After ``timeout`` seconds (``None``: never) the job is cancelled
    where the protocol can cancel and ``JobTimeoutError`` is raised. ``logs`` asks the queue
    for log lines on every status read.

    Example::

        client.run("gpt_image_2", params, policy=PollPolicy(interval=2, timeout=300))
    """

    interval: float = 1.0
    backoff: float = 1.5
    max_interval: float = 10.0
    jitter: float = 0.1
    timeout: float | None = 600.0
    logs: bool = False

    def delay(self, polls: int, rng: random.Random) -> float:
        """The wait after the ``polls``-th status read (counted from 0).

        Example::

            PollPolicy(interval=1, backoff=2, jitter=0).delay(3, random.Random())  # 8.0
        """
        base = min(self.interval * self.backoff**polls, self.max_interval)
        return max(0.0, base * (1 + self.jitter * (2 * rng.random() - 1)))


@dataclass(frozen=True, slots=True)
class Progress:
    """What ``on_status`` receives after each status read of ``run``/``wait``.

    ``state`` is the provider's word (``IN_QUEUE``, ``IN_PROGRESS``, ``COMPLETED``; or a task's
    ``pending``, ``processing``, ``succeeded``, ``failed``), ``queue_position`` the jobs ahead
    when queued, ``elapsed`` the seconds since ``run`` started, ``polls`` the reads so far,
    ``logs`` the job's log messages when the policy asked for them.

    Example::

        client.run(model, params, on_status=lambda p: print(p.state, p.queue_position, p.elapsed))
    """

    job_id: str
    state: str
    queue_position: int | None
    elapsed: float
    polls: int
    logs: tuple[str, ...] = ()


# How a provider is called: a job queue, the OpenAI Images API, or 典名词元's JSON envelope.
ProtocolName = Literal["queue", "images", "envelope"]


@dataclass(frozen=True, slots=True)
class Provider:
    """A provider's defaults: where it lives, its key's variable, its Authorization scheme.

    ``base_url`` follows the convention the provider's users already have: OpenAI's and
    AGCloud's include ``/v1`` (as ``OPENAI_BASE_URL`` does), the queue providers' include
    ``/model``; ``suffix`` is that tail, which ``normalize_base_url`` adds when it is missing.
    ``protocol`` says which client speaks to it (``QueueClient``, ``ImagesClient``, ``AAClient``).
    ``emulator_path`` is where the provider lives on a local ``imgemu serve``, in the same
    convention; ``base_url_env`` is a variable that overrides ``base_url`` (``OPENAI_BASE_URL``).
    """

    name: str
    protocol: ProtocolName
    base_url: str
    env: str
    scheme: str
    suffix: str
    emulator_path: str
    base_url_env: str | None = None


EMULATOR_URL = "http://127.0.0.1:8000"

PROVIDERS: dict[str, Provider] = {
    p.name: p
    for p in (
        Provider(
            "seacloud",
            "queue",
            "https://cloud.seaart.ai/model",
            "SEACLOUD_API_KEY",
            "Key",
            "/model",
            "/seacloud/model",
        ),
        Provider(
            "odirouter",
            "queue",
            "https://odirouter.ai/model",
            "ODIROUTER_API_KEY",
            "Bearer",
            "/model",
            "/odirouter/model",
        ),
        Provider(
            "openai",
            "images",
            "https://api.openai.com/v1",
            "OPENAI_API_KEY",
            "Bearer",
            "/v1",
            "/v1",
            "OPENAI_BASE_URL",
        ),
        Provider(
            "agcloud",
            "images",
            "https://aiandgpu.com/v1",
            "AGCLOUD_API_KEY",
            "Bearer",
            "/v1",
            "/v1",
        ),
        Provider("aa", "envelope", "https://api.aa.com.cn", "AA_API_KEY", "Bearer", "", ""),
    )
}


def providers_of(protocol: ProtocolName) -> tuple[str, ...]:
    """The names of the providers that speak ``protocol``, in table order."""
    return tuple(name for name, p in PROVIDERS.items() if p.protocol == protocol)


def normalize_base_url(provider: str, url: str) -> str:
    """``url`` in ``provider``'s base-URL convention: no trailing slash, the suffix present.

    Both forms users write are taken: ``http://host:8000/v1`` and ``http://host:8000`` give
    ``http://host:8000/v1`` for OpenAI; ``.../model`` likewise for the queue providers.
    """
    url = url.rstrip("/")
    suffix = PROVIDERS[provider].suffix
    if suffix and not url.endswith(suffix):
        url += suffix
    return url


def emulator_base_url(provider: str, emulator: str = EMULATOR_URL) -> str:
    """``provider``'s base URL on a local emulator at ``emulator``."""
    return emulator.rstrip("/") + PROVIDERS[provider].emulator_path


@dataclass(frozen=True, slots=True)
class Config:
    """Everything a protocol core needs, resolved once at construction."""

    provider: Provider
    base_url: str
    api_key: str
    retry: RetryPolicy
    clock: Callable[[], float]
    rng: random.Random
    headers: Mapping[str, str]

    @classmethod
    def build(
        cls,
        provider: str,
        allowed: tuple[str, ...],
        *,
        base_url: str | None,
        api_key: str | None,
        retry: RetryPolicy | None,
        clock: Callable[[], float] | None,
        seed: int | None,
        headers: Mapping[str, str] | None,
    ) -> Config:
        """Resolve defaults or raise ``UsageError``.

        The base URL is ``base_url``, else the provider's ``base_url_env`` variable
        (``OPENAI_BASE_URL``), else the provider's own; either form of it (with or without the
        convention's suffix) is normalized. The key is ``api_key``, else the provider's variable.
        """
        if provider not in allowed:
            raise UsageError(f"provider must be one of {', '.join(allowed)}, not {provider!r}")
        spec = PROVIDERS[provider]
        key = api_key if api_key is not None else os.environ.get(spec.env)
        if not key:
            raise UsageError(f"no API key: pass api_key= or set {spec.env}")
        if not base_url and spec.base_url_env:
            base_url = os.environ.get(spec.base_url_env)
        return cls(
            provider=spec,
            base_url=normalize_base_url(provider, base_url or spec.base_url),
            api_key=key,
            retry=retry or RetryPolicy(),
            clock=clock or time.monotonic,
            rng=random.Random(seed),
            headers=dict(headers or {}),
        )


def retry_after(response: httpx.Response) -> float | None:
    """Seconds the answer asks to wait: ``retry-after-ms``, then ``Retry-After``."""
    headers = response.headers
    try:
        if "retry-after-ms" in headers:
            return max(0.0, float(headers["retry-after-ms"]) / 1000)
        text = headers.get("retry-after")
        if text is None:
            return None
        if text.strip().replace(".", "", 1).isdigit():
            return float(text)
        when = email.utils.parsedate_to_datetime(text)
        return max(0.0, when.timestamp() - time.time())
    except (ValueError, TypeError):
        return None


def transient(response: httpx.Response) -> bool:
    """429 (except an exhausted quota) and 5xx are worth another try; the header decides first."""
    should = response.headers.get("x-should-retry")
    if should in ("true", "false"):
        return bool(should == "true")
    if response.status_code == 429:
        return b"insufficient_quota" not in response.content
    return response.status_code >= 500


def send(
    config: Config,
    request: httpx.Request,
    *,
    stream: bool = False,
    retryable: Callable[[httpx.Response], bool] = transient,
) -> Flow[httpx.Response]:
    """Send ``request`` under the retry policy; the last answer is returned whatever it is."""
    policy = config.retry
    for attempt in range(policy.max_retries + 1):
        last = attempt == policy.max_retries
        try:
            response: httpx.Response = yield Send(request, stream)
        except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
            if last:
                raise TransportError(f"{type(exc).__name__}: {exc}", request=request) from exc
            yield Sleep(policy.backoff_delay(attempt, config.rng))
            continue
        except httpx.TransportError as exc:  # the request may have arrived: never resent
            raise TransportError(f"{type(exc).__name__}: {exc}", request=request) from exc
        if last or not retryable(response):
            return response
        wait = retry_after(response)
        if wait is None:
            wait = policy.backoff_delay(attempt, config.rng)
        if wait > policy.max_retry_after:
            return response
        yield Sleep(wait)
    raise AssertionError("unreachable")  # pragma: no cover


def poll(
    config: Config,
    fetch: Callable[[], Flow[S]],
    *,
    done: Callable[[S], bool],
    describe: Callable[[S, float, int], Progress],
    policy: PollPolicy,
    on_status: Callable[[Progress], object] | None,
    on_timeout: Callable[[Progress], Flow[bool]],
) -> Flow[S]:
    """Read ``fetch`` until ``done``, waiting per ``policy``; past the timeout ``on_timeout``.

    ``on_timeout`` cancels where it can and returns whether it did; ``JobTimeoutError`` follows.
    """
    start = config.clock()
    polls = 0
    while True:
        current = yield from fetch()
        polls += 1
        progress = describe(current, config.clock() - start, polls)
        if on_status is not None:
            on_status(progress)
        if done(current):
            return current
        remaining = math.inf if policy.timeout is None else policy.timeout - progress.elapsed
        if remaining <= 0:
            cancelled = yield from on_timeout(progress)
            raise JobTimeoutError(
                f"{progress.job_id} still {progress.state} after {progress.elapsed:.1f}s"
                + ("; cancelled" if cancelled else ""),
                job_id=progress.job_id,
                elapsed=progress.elapsed,
                state=progress.state,
                cancelled=cancelled,
            )
        yield Sleep(min(policy.delay(polls - 1, config.rng), remaining))


def body_of(response: httpx.Response) -> Any:
    """The answer's JSON, or its text when it is not JSON."""
    try:
        return response.json()
    except ValueError:
        return response.text


def fail(
    response: httpx.Response, body: Any, message: str, code: str | None, request_id: str | None
) -> Exception:
    """The provider error for an error answer whose dialect parts were read by the caller."""
    wait = retry_after(response) if response.status_code == 429 else None
    return provider_error(
        response, message=message, code=code, request_id=request_id, body=body, retry_after=wait
    )


def download(config: Config, url: str) -> Flow[bytes]:
    """The bytes at a result link (signed: sent without the API key)."""
    response = yield from send(config, httpx.Request("GET", url, headers=dict(config.headers)))
    if response.is_error:
        body = body_of(response)
        detail = body.get("detail") if isinstance(body, dict) else None
        raise fail(response, body, str(detail or response.reason_phrase), None, None)
    return response.content


class Core:
    """What every protocol core shares: its config, and requests carrying the provider's auth."""

    def __init__(self, config: Config) -> None:
        self.config = config

    def request(self, method: str, path: str, **kw: Any) -> httpx.Request:
        """A request to ``path`` under the base URL (or an absolute URL) with the API key."""
        config = self.config
        headers = {
            **config.headers,
            "Authorization": f"{config.provider.scheme} {config.api_key}",
        }
        url = path if "://" in path else config.base_url + path
        return httpx.Request(method, url, headers=headers, **kw)

    def call(
        self,
        method: str,
        path: str,
        *,
        stream: bool = False,
        retryable: Callable[[httpx.Response], bool] = transient,
        **kw: Any,
    ) -> Flow[httpx.Response]:
        """Send a request built by ``request`` under the retry policy."""
        return send(
            self.config, self.request(method, path, **kw), stream=stream, retryable=retryable
        )

    def download(self, url: str) -> Flow[bytes]:
        """The bytes at a result link."""
        return download(self.config, url)


class Run(Generic[T]):
    """One flow being driven: hands out its actions and takes their outcomes.

    The drivers loop ``while (action := run.next()) is not None`` and answer each action with
    ``reply`` (the response, or None after a sleep) or ``throw`` (an ``httpx.TransportError``).
    """

    def __init__(self, flow: Flow[T]) -> None:
        self._flow = flow
        self._reply: Any = None
        self._error: BaseException | None = None
        self._value: T | None = None
        self._done = False

    def next(self) -> Action | None:
        """The next action, or None once the flow has returned (see ``value``)."""
        reply, error = self._reply, self._error
        self._reply, self._error = None, None
        try:
            return self._flow.throw(error) if error is not None else self._flow.send(reply)
        except StopIteration as stop:
            self._value, self._done = stop.value, True
            return None

    def reply(self, outcome: Any) -> None:
        """The outcome of the last action."""
        self._reply = outcome

    def throw(self, error: BaseException) -> None:
        """The last action failed with ``error``; the flow decides what follows."""
        self._error = error

    @property
    def value(self) -> T:
        """What the flow returned."""
        assert self._done
        return cast(T, self._value)
