"""The client's one exception tree (drawn in ``clients/__init__.py``).

Errors never build HTTP bodies: they carry what the provider said (status, code, message,
request id, the parsed body and the ``httpx.Response``) and, for jobs, the job's id and state.
"""

from __future__ import annotations

from typing import Any

import httpx


class ImgemuError(Exception):
    """The root of every error the client raises.

    Example::

        try:
            client.run("gpt_image_1", {"prompt": "an apple"})
        except ImgemuError as exc:
            print("imgemu client failed:", exc)
    """


class UsageError(ImgemuError, ValueError):
    """The client was used wrongly (no API key, an unknown provider, an unsupported call).

    Example::

        QueueClient("seacloud", api_key=None)  # no SEACLOUD_API_KEY either -> UsageError
    """


class TransportError(ImgemuError):
    """The request never got an HTTP answer: connection refused, reset, or a read timeout.

    ``request`` is the ``httpx.Request`` that failed; ``__cause__`` the ``httpx`` exception.

    Example::

        except TransportError as exc:
            print("network problem on", exc.request.url)
    """

    def __init__(self, message: str, *, request: httpx.Request | None = None) -> None:
        super().__init__(message)
        self.request = request


class ProviderError(ImgemuError):
    """The provider answered with an error status; subclasses name the common statuses.

    ``status`` is the HTTP status, ``code`` the provider's error code (``invalid_value``,
    ``UNAUTHORIZED``, ``40201``...) when it sends one, ``request_id`` the provider's id for the
    request (body or ``x-request-id``), ``body`` the parsed JSON (or text) of the answer.

    Example::

        except ProviderError as exc:
            print(exc.status, exc.code, exc.message, exc.request_id)
    """

    def __init__(
        self,
        message: str,
        *,
        status: int,
        code: str | None = None,
        request_id: str | None = None,
        body: Any = None,
        response: httpx.Response | None = None,
    ) -> None:
        super().__init__(f"{status} {code or 'error'}: {message}")
        self.message = message
        self.status = status
        self.code = code
        self.request_id = request_id
        self.body = body
        self.response = response


class InvalidRequestError(ProviderError):
    """400 or 422: the request was refused as invalid (a bad value, a blocked prompt).

    Example::

        except InvalidRequestError as exc:
            assert exc.status in (400, 422)
    """


class AuthenticationError(ProviderError):
    """401: the API key is missing or unknown.

    Example::

        except AuthenticationError:
            print("check your API key")
    """


class InsufficientBalanceError(ProviderError):
    """The account cannot pay: 402, OpenAI's 429 ``insufficient_quota``, 典名词元's credit error.

    Example::

        except InsufficientBalanceError:
            print("top up the account")
    """


class PermissionDeniedError(ProviderError):
    """403: for example a result link that has expired.

    Example::

        except PermissionDeniedError:
            print("the link expired; fetch the result again")
    """


class NotFoundError(ProviderError):
    """404: an unknown model, job, task or path.

    Example::

        except NotFoundError as exc:
            print(exc.message)  # "App not found: gpt_image_9"
    """


class RateLimitError(ProviderError):
    """429 after the retries ran out; ``retry_after`` is the wait the provider asked for.

    Example::

        except RateLimitError as exc:
            time.sleep(exc.retry_after or 1)
    """

    def __init__(self, message: str, *, retry_after: float | None = None, **kw: Any) -> None:
        super().__init__(message, **kw)
        self.retry_after = retry_after


class ServerError(ProviderError):
    """5xx after the retries ran out, or a stream's ``server_error`` event.

    Example::

        except ServerError as exc:
            print("provider failed:", exc.request_id)
    """


class JobError(ImgemuError):
    """Something about a queued job or an asynchronous task; ``job_id`` names it.

    Example::

        except JobError as exc:
            print("job", exc.job_id, "did not give images")
    """

    def __init__(self, message: str, *, job_id: str) -> None:
        super().__init__(message)
        self.job_id = job_id


class JobNotReadyError(JobError):
    """The result was asked for before the job finished (the queue answered 202).

    ``state`` is the job's state then (``IN_QUEUE`` or ``IN_PROGRESS``).

    Example::

        except JobNotReadyError as exc:
            print("still", exc.state)
    """

    def __init__(self, message: str, *, job_id: str, state: str) -> None:
        super().__init__(message, job_id=job_id)
        self.state = state


class JobFailedError(JobError):
    """The job (or 典名词元 task) ended without images; ``error_type`` says why.

    ``error_type`` is the queue's word (``INFERENCE_FAILURE``, ``REQUEST_INVALID``,
    ``CONTENT_BLOCKED``...) or ``FAILED`` for a task; ``detail`` the provider's text.

    Example::

        except JobFailedError as exc:
            print(exc.error_type, exc.detail)
    """

    def __init__(self, detail: str, *, job_id: str, error_type: str, status: int | None = None):
        super().__init__(f"{error_type}: {detail}", job_id=job_id)
        self.detail = detail
        self.error_type = error_type
        self.status = status


class JobCancelledError(JobFailedError):
    """The job ended ``CANCELED`` (someone cancelled it).

    Example::

        except JobCancelledError as exc:
            assert exc.error_type == "CANCELED"
    """


class JobTimeoutError(JobError):
    """``run``/``wait`` gave up after the policy's timeout; ``cancelled`` says if it cancelled.

    ``elapsed`` is the time waited and ``state`` the job's last known state.

    Example::

        except JobTimeoutError as exc:
            print(f"gave up after {exc.elapsed:.0f}s in {exc.state}; cancelled={exc.cancelled}")
    """

    def __init__(
        self, message: str, *, job_id: str, elapsed: float, state: str, cancelled: bool
    ) -> None:
        super().__init__(message, job_id=job_id)
        self.elapsed = elapsed
        self.state = state
        self.cancelled = cancelled


_BY_STATUS: dict[int, type[ProviderError]] = {
    400: InvalidRequestError,
    401: AuthenticationError,
    402: InsufficientBalanceError,
    403: PermissionDeniedError,
    404: NotFoundError,
    422: InvalidRequestError,
    429: RateLimitError,
}

_BALANCE_CODES = frozenset({"insufficient_quota", "insufficient_credit", "40201"})


def provider_error(
    response: httpx.Response,
    *,
    message: str,
    code: str | None,
    request_id: str | None,
    body: Any,
    retry_after: float | None = None,
) -> ProviderError:
    """The error class for an error answer: by the code where it says more, else the status."""
    status = response.status_code
    request_id = request_id or response.headers.get("x-request-id")
    kw: dict[str, Any] = {
        "status": status,
        "code": code,
        "request_id": request_id,
        "body": body,
        "response": response,
    }
    if code in _BALANCE_CODES:
        return InsufficientBalanceError(message, **kw)
    cls = _BY_STATUS.get(status, ServerError if status >= 500 else ProviderError)
    if cls is RateLimitError:
        return RateLimitError(message, retry_after=retry_after, **kw)
    return cls(message, **kw)
