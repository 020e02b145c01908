"""Typed domain errors, each with a neutral code; one renderer per dialect turns them into bytes.

DomainError
├── Unauthorized            no key, or a key that is not configured
├── RateLimited             the key's window is full (carries retry_after)
├── InsufficientBalance     the key's balance cannot pay for the request
├── ModelNotFound           the model id is not served
├── RequestNotFound         unknown job, another key's job, or a model id that does not match
├── InvalidBody             the body is not a JSON object
├── WebhookNotSupported     webhook fields were sent
├── ValidationFailed        schema or rule violations (carries the violations)
├── AlreadyCompleted        cancel of a terminal job
├── NotReady                result asked before the job is terminal
├── LinkExpired             a result file URL past its expiry or with a bad signature
├── ContentBlocked          the prompt trips the block list (synchronous protocols)
├── UpstreamFailure         a generation failed or timed out (synchronous protocols)
└── NotFound                an unknown task or file id (synchronous protocols)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


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
    """Base of every error the domain raises; ``code`` is dialect-neutral."""

    code = "error"

    def __init__(self, message: str = "") -> None:
        super().__init__(message)
        self.message = message


class Unauthorized(DomainError):
    code = "unauthorized"


class RateLimited(DomainError):
    code = "rate_limited"

    def __init__(self, retry_after: float, limit: int = 0) -> None:
        super().__init__("Rate limit exceeded, please try again later")
        self.retry_after = retry_after
        self.limit = limit  # requests allowed per window, 0 when unknown


class InsufficientBalance(DomainError):
    code = "insufficient_balance"


class ModelNotFound(DomainError):
    code = "model_not_found"

    def __init__(self, model: str) -> None:
        super().__init__(f"App not found: {model}")
        self.model = model


class RequestNotFound(DomainError):
    code = "request_not_found"

    def __init__(self) -> None:
        super().__init__("Request not found")


class InvalidBody(DomainError):
    code = "invalid_body"


class WebhookNotSupported(DomainError):
    code = "webhook_not_supported"

    def __init__(self) -> None:
        super().__init__("webhook not supported")


class ValidationFailed(DomainError):
    code = "validation_failed"

    def __init__(self, violations: tuple[Violation, ...]) -> None:
        super().__init__("; ".join(v.describe() for v in violations))
        self.violations = violations


class AlreadyCompleted(DomainError):
    code = "already_completed"


class NotReady(DomainError):
    code = "not_ready"


class LinkExpired(DomainError):
    code = "link_expired"


class ContentBlocked(DomainError):
    code = "content_blocked"


class UpstreamFailure(DomainError):
    """A generation that failed (``timeout`` False) or ran out of time (``timeout`` True)."""

    code = "upstream_failure"

    def __init__(self, message: str, *, timeout: bool = False) -> None:
        super().__init__(message)
        self.timeout = timeout


class ServerStopping(DomainError):
    """The server began to stop while the request waited for its result."""

    code = "server_stopping"


class NotFound(DomainError):
    code = "not_found"
