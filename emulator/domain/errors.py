"""Typed domain errors: facts only. One renderer per dialect writes them in a provider's words.

An error holds what happened (the model asked for, why a key was refused, how long to wait...)
and never a sentence: the texts, statuses and headers are in ``emulator/http/queue/render.py``,
``emulator/http/images/render.py`` and ``emulator/http/aa/render.py``.

DomainError
├── Unauthorized            no key (reason "missing"), or one that is refused ("invalid")
├── RateLimited             a limit of the key is reached (retry_after, limit, which one, ...)
├── InsufficientBalance     the key's balance cannot pay for the request
├── ModelNotFound           the model id is not served (model)
├── RequestNotFound         unknown job, another key's job, or a model id that does not match
├── InvalidBody             the body cannot be read as the operation takes it (problem, detail)
├── BodyTooLarge            the body is longer than the operation takes (limit, in bytes)
├── BadSteering             an ``X-Imgemu-*`` header with a value it cannot take (header, value)
├── WebhookNotSupported     webhook fields were sent
├── ValidationFailed        schema or rule violations (violations)
├── AlreadyCompleted        cancel of a terminal job
├── NotReady                result asked before the job is terminal
├── LinkExpired             a result file URL past its expiry or with a bad signature
├── ContentBlocked          the prompt trips the block list (synchronous protocols)
├── UpstreamFailure         a generation failed or timed out (outcome; synchronous protocols)
├── ServerStopping          the server began to stop while the request waited
├── NotFound                an unknown task or file id (what, ident; synchronous protocols)
└── PlannedError            a fault plan's error answer (status, retry_after)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from emulator.domain.records import ErrorType

if TYPE_CHECKING:
    from emulator.domain.limits import Quota

# Which limit refused a request: a provider's requests or images per minute, the queue's
# unfinished jobs per key, or the generic window of the ``rate_limit`` setting.
LimitKind = Literal["requests", "images", "concurrency", "window"]


@dataclass(frozen=True, slots=True)
class Violation:
    """One reason a request is invalid: where (a JSON path) and what."""

    loc: tuple[str | int, ...]
    message: str
    kind: str = "value_error"
    # What a dialect needs to write its own text: the offending value (scalars only), the
    # schema's limit, options or types, an instance's length.
    facts: Mapping[str, Any] = field(default_factory=dict)

    @property
    def field(self) -> str:
        """The dotted location, e.g. ``images.0``; empty for the body itself."""
        return ".".join(str(part) for part in self.loc)

    def describe(self) -> str:
        """A one-line text naming the field, as a provider's error string would."""
        return f"{self.field}: {self.message}" if self.loc else self.message


class DomainError(Exception):
    """Base of every error the domain raises; ``code`` is dialect-neutral.

    The constructor's arguments are the error's facts, kept as attributes (and as ``args``, so
    ``repr`` shows them); there is no message.
    """

    code = "error"


class Unauthorized(DomainError):
    code = "unauthorized"

    def __init__(self, reason: Literal["missing", "invalid"]) -> None:
        super().__init__(reason)
        self.reason = reason  # "missing": no key in a scheme the provider takes


class RateLimited(DomainError):
    """A limit of the key is reached: which one, its numbers, and when to try again.

    ``used`` units of ``limit`` are taken in the window of ``window`` seconds (for
    ``concurrency``: that many jobs are unfinished) and the request asked for ``requested``
    more; ``model`` is the model the window counts (OpenAI's limits are per model), ``owner``
    the key's non-secret name; ``quota`` is every limit of the key as the answer's headers
    show them, where the dialect sends such headers.
    """

    code = "rate_limited"

    def __init__(
        self,
        retry_after: float,
        limit: int = 0,
        kind: LimitKind = "window",
        *,
        used: int = 0,
        requested: int = 1,
        window: float = 60.0,
        model: str | None = None,
        owner: str = "",
        quota: Quota | None = None,
    ) -> None:
        super().__init__(retry_after, limit, kind, used, requested, window, model, owner)
        self.retry_after = retry_after  # seconds until the limit has room again
        self.limit = limit  # units allowed per window (or unfinished jobs), 0 when unknown
        self.kind: LimitKind = kind
        self.used = used
        self.requested = requested
        self.window = window
        self.model = model
        self.owner = owner
        self.quota = quota


class InsufficientBalance(DomainError):
    code = "insufficient_balance"


class ModelNotFound(DomainError):
    code = "model_not_found"

    def __init__(self, model: str) -> None:
        super().__init__(model)
        self.model = model


class RequestNotFound(DomainError):
    code = "request_not_found"


# Why a body cannot be read: not JSON; JSON nested deeper than any request needs; JSON but not
# an object; a form sent to an operation that
# takes JSON only; a form that cannot be parsed (``detail``: the parser's own words); a file
# upload that is not a form.
BodyProblem = Literal[
    "not_json", "too_deep", "not_object", "form_not_taken", "bad_form", "not_form"
]


class InvalidBody(DomainError):
    code = "invalid_body"

    def __init__(self, problem: BodyProblem, detail: str = "") -> None:
        super().__init__(problem, detail)
        self.problem = problem
        self.detail = detail


class BodyTooLarge(DomainError):
    """A request body longer than the operation takes, refused before it is read whole."""

    code = "body_too_large"

    def __init__(self, limit: int) -> None:
        super().__init__(limit)
        self.limit = limit  # bytes the operation takes at most


class BadSteering(DomainError):
    """An ``X-Imgemu-Outcome`` or ``X-Imgemu-Latency`` value the emulator cannot follow."""

    code = "bad_steering"

    def __init__(self, header: str, value: str) -> None:
        super().__init__(header, value)
        self.header = header  # lower-case name
        self.value = value


class BadRequestTimeout(DomainError):
    """An ``X-Fal-Request-Timeout`` value that is not a number of seconds above the minimum."""

    code = "bad_request_timeout"

    def __init__(self, value: str, minimum: float) -> None:
        super().__init__(value, minimum)
        self.value = value
        self.minimum = minimum  # seconds the deadline must exceed


class WebhookNotSupported(DomainError):
    code = "webhook_not_supported"


class ValidationFailed(DomainError):
    code = "validation_failed"

    def __init__(self, violations: tuple[Violation, ...]) -> None:
        super().__init__(violations)
        self.violations = violations


class AlreadyCompleted(DomainError):
    code = "already_completed"


class NotReady(DomainError):
    code = "not_ready"


class LinkExpired(DomainError):
    code = "link_expired"


class ContentBlocked(DomainError):
    """A prompt the safety system refused; ``request_id`` is the request's own id (OpenAI's
    message asks the caller to quote it)."""

    code = "content_blocked"

    def __init__(self, request_id: str = "") -> None:
        super().__init__(request_id)
        self.request_id = request_id


class UpstreamFailure(DomainError):
    """A generation that ended in ``outcome`` (a drawn or steered failure, or a timeout)."""

    code = "upstream_failure"

    def __init__(self, outcome: ErrorType) -> None:
        super().__init__(outcome)
        self.outcome = outcome

    @property
    def timeout(self) -> bool:
        return self.outcome is ErrorType.INFERENCE_TIMEOUT


class ServerStopping(DomainError):
    """The server began to stop while the request waited for its result."""

    code = "server_stopping"


class NotFound(DomainError):
    code = "not_found"

    def __init__(self, what: Literal["task", "file"], ident: str) -> None:
        super().__init__(what, ident)
        self.what = what
        self.ident = ident


class PlannedError(DomainError):
    """A fault plan's ``error`` action: answer ``status`` (one the provider documents for the
    operation) with the provider's body for it, and ``Retry-After`` where it applies."""

    code = "planned_error"

    def __init__(self, status: int, retry_after: float | None = None) -> None:
        super().__init__(status, retry_after)
        self.status = status
        self.retry_after = retry_after  # seconds; None: the dialect's default, if it has one
