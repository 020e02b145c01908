"""What every check shares: the provider's profile, the target, the budget, a recording HTTP."""

from __future__ import annotations

import io
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import httpx
from PIL import Image

from clients._tls import tls_context
from contracts.report import Outcome, Status
from emulator.domain.catalog import STANDARD_SIZES, ImageModel, ModelInfo, model_of
from emulator.domain.pricing import image_cost_usd

Protocol = Literal["queue", "images", "aa"]


@dataclass(frozen=True, slots=True)
class Profile:
    """How the suite talks to one provider, with the cheapest settings it knows for it."""

    name: str
    protocol: Protocol
    model: str  # as the provider names it (queue: the model id of the path)
    cheapest_size: tuple[int, int]
    auto_sizes: frozenset[tuple[int, int]]
    # The tail of the base URL that the document's paths repeat: OpenAI's base URL is
    # ``https://api.openai.com/v1`` and its document's paths are ``/v1/images/...`` under
    # ``https://api.openai.com``. The queue documents' servers include ``/model``, as the base URL.
    document_prefix: str = ""

    @property
    def family(self) -> str:
        """The pricing family of ``model``, from the emulator's catalog."""
        return self._catalog_entry().family

    @property
    def transparency(self) -> bool:
        """Whether ``model`` honours ``background=transparent``, from the emulator's catalog."""
        return self._catalog_entry().transparency

    def _catalog_entry(self) -> ModelInfo | ImageModel:
        info = model_of(self.model)
        if info is None:
            raise LookupError(f"{self.model} is not in emulator/domain/catalog.py")
        return info


_LEGACY = frozenset(STANDARD_SIZES)
PROFILES: dict[str, Profile] = {
    p.name: p
    for p in (
        Profile("seacloud", "queue", "gpt_image_1_5", (1024, 1024), _LEGACY),
        Profile("odirouter", "queue", "gpt_image_1_5", (1024, 1024), _LEGACY),
        Profile("openai", "images", "gpt-image-1-mini", (1024, 1024), _LEGACY, "/v1"),
        Profile("agcloud", "images", "gpt-image-1", (1024, 1024), _LEGACY, "/v1"),
        Profile("aa", "aa", "gpt-image-1.5", (1024, 1024), _LEGACY),
    )
}


class CheckFailed(AssertionError):
    """A check found the target off its contract, in ``operation``."""

    def __init__(self, operation: str, message: str) -> None:
        super().__init__(message)
        self.operation = operation


class BudgetExceeded(Exception):
    """The next paid call would take the run over ``--max-spend-usd``."""


@dataclass(slots=True)
class Budget:
    """Documented-price accounting, enforced before each paid call."""

    limit: float | None
    spent: float = 0.0

    def pay(self, cost: float, what: str) -> None:
        """Book ``cost`` for ``what``, or raise ``BudgetExceeded`` without booking it."""
        if self.limit is not None and self.spent + cost > self.limit + 1e-12:
            left = self.limit - self.spent
            raise BudgetExceeded(f"skipped: budget ({what} costs ${cost:.4f}, ${left:.4f} left)")
        self.spent += cost


def price(family: str, quality: str, size: tuple[int, int], n: int = 1) -> float:
    """The documented output price of ``n`` images; unknown quality prices as ``high``."""
    q = quality if quality in ("low", "medium", "high") else "high"
    return n * image_cost_usd(family, q, *size)


class Recorder(httpx.BaseTransport):
    """An HTTP transport that keeps the last exchange, for a failure's request and response."""

    def __init__(self, inner: httpx.BaseTransport | None = None) -> None:
        self._inner = inner or httpx.HTTPTransport(verify=tls_context())
        self.last: tuple[httpx.Request, httpx.Response] | None = None

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = self._inner.handle_request(request)
        self.last = (request, response)
        return response

    def close(self) -> None:
        self._inner.close()


def describe_request(request: httpx.Request | None) -> str:
    """A request as text, with the key hidden and the body cut short."""
    if request is None:
        return ""
    headers = {
        k: ("<redacted>" if k.lower() == "authorization" else v) for k, v in request.headers.items()
    }
    try:
        body = request.content
    except httpx.RequestNotRead:
        body = b"<streamed>"
    return f"{request.method} {request.url}\n{headers}\n{_cut(body, request.headers)}"


def describe_response(response: httpx.Response | None) -> str:
    """A response as text, binary bodies summarised."""
    if response is None:
        return ""
    try:
        body = response.content
    except httpx.ResponseNotRead:
        body = b"<not read>"
    return f"{response.status_code}\n{dict(response.headers)}\n{_cut(body, response.headers)}"


def _cut(body: bytes, headers: Mapping[str, str]) -> str:
    kind = headers.get("content-type", "")
    if kind.startswith("image/") or kind.startswith("multipart/"):
        return f"<{len(body)} bytes {kind}>"
    text = body.decode("utf-8", "replace")
    return text if len(text) <= 2000 else text[:2000] + f"... ({len(text)} characters)"


def png(size: tuple[int, int] = (64, 64), mode: str = "RGBA") -> bytes:
    """A small input image."""
    out = io.BytesIO()
    Image.new(mode, size, (40, 90, 160, 255)[: len(mode)]).save(out, "PNG")
    return out.getvalue()


@dataclass(slots=True)
class Context:
    """One contract run's shared state, handed to every check."""

    profile: Profile
    target: str  # the provider's base URL, normalized (``.../v1``, ``.../model``, the root)
    api_key: str
    budget: Budget
    document: Mapping[str, Any]
    examples: int = 10
    timeout: float = 120.0
    derandomize: bool = False
    outcomes: list[Outcome] = field(default_factory=list)
    recorder: Recorder = field(default_factory=Recorder)
    check: str = ""

    @property
    def root(self) -> str:
        """The URL the document's paths are joined to (the target without ``/v1``)."""
        return self.target.removesuffix(self.profile.document_prefix)

    @property
    def auth(self) -> dict[str, str]:
        """The provider's auth header."""
        return {"Authorization": f"Bearer {self.api_key}"}

    def http(self) -> httpx.Client:
        """A client for the document's paths on the target, recording every exchange."""
        return httpx.Client(
            base_url=self.root,
            headers=self.auth,
            transport=self.recorder,
            timeout=self.timeout,
        )

    def record(
        self,
        operation: str,
        status: Status,
        detail: str = "",
        request: str = "",
        response: str = "",
    ) -> None:
        """Note an outcome; a pass is "assumed" where the operation carries assumptions."""
        assumptions: tuple[str, ...] = ()
        if status == "verified":
            assumptions = assumptions_of(self.document, operation)
            if assumptions:
                status = "assumed"
        self.outcomes.append(
            Outcome(self.check, operation, status, detail, request, response, assumptions)
        )

    def last_exchange(self) -> tuple[str, str]:
        """The recorded last request and response, as text."""
        if self.recorder.last is None:
            return "", ""
        request, response = self.recorder.last
        return describe_request(request), describe_response(response)


def assumptions_of(document: Mapping[str, Any], operation: str) -> tuple[str, ...]:
    """Every ``x-imgemu-assumption`` reachable from ``operation`` ("METHOD /path")."""
    method, _, path = operation.partition(" ")
    node = document.get("paths", {}).get(path, {}).get(method.lower())
    if node is None:
        return ()
    found: list[str] = []
    seen: set[str] = set()

    def walk(value: Any) -> None:
        if isinstance(value, dict):
            ref = value.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/") and ref not in seen:
                seen.add(ref)
                target: Any = document
                for part in ref[2:].split("/"):
                    target = target.get(part, {}) if isinstance(target, dict) else {}
                walk(target)
            for key, item in value.items():
                if key == "x-imgemu-assumption" and isinstance(item, str):
                    if item not in found:
                        found.append(" ".join(item.split()))
                else:
                    walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)

    walk(node)
    return tuple(found)
