"""imgemu's reference client: one client per protocol, sync and async, over ``httpx``.

- ``QueueClient`` / ``AsyncQueueClient``: SeaCloud and OdiRouter's queue (submit, status,
  result, cancel, ``run`` with polling).
- ``ImagesClient`` / ``AsyncImagesClient``: OpenAI's Images API and AGCloud (generate, edit,
  streams of typed events).
- ``AAClient`` / ``AsyncAAClient``: 典名词元 (generate, tasks, uploads).

Each takes a base URL, an API key (or the provider's environment variable) and an optional
``httpx`` transport, so the same client runs in-process against the emulator
(``httpx.ASGITransport``), over sockets, or against the real provider.

Base URLs follow the convention each provider's users already have (the real provider's is the
default; ``imgemu serve`` mounts each provider at its own path):

- ``openai``, ``agcloud``: with ``/v1``, as ``OPENAI_BASE_URL`` for the official SDK
  (``https://api.openai.com/v1``; the emulator's ``http://127.0.0.1:8000/v1``).
- ``seacloud``, ``odirouter``: with ``/model`` (``https://cloud.seaart.ai/model``; the emulator's
  ``http://127.0.0.1:8000/seacloud/model``, ``.../odirouter/model``, or the bare ``.../model``).
- ``aa`` (典名词元): the host root (``https://api.aa.com.cn``; ``http://127.0.0.1:8000``).

The form without the suffix is taken too (``http://127.0.0.1:8000`` for ``openai`` means
``http://127.0.0.1:8000/v1``). Without ``base_url``, ``openai`` reads ``OPENAI_BASE_URL`` first,
as the official SDK does.

Exceptions::

    ImgemuError
    ├── UsageError                  the client was used wrongly (also a ValueError)
    ├── TransportError              no HTTP answer: connection or read failure
    ├── ProviderError               an error answer: status, code, message, request_id, body
    │   ├── InvalidRequestError         400, 422
    │   ├── AuthenticationError         401
    │   ├── InsufficientBalanceError    402, insufficient_quota, insufficient_credit
    │   ├── PermissionDeniedError       403 (an expired result link)
    │   ├── NotFoundError               404
    │   ├── RateLimitError              429 after the retries (retry_after)
    │   └── ServerError                 5xx after the retries, a stream's server_error
    └── JobError                    about one job or task (job_id)
        ├── JobNotReadyError            result asked before the job finished (state)
        ├── JobFailedError              the job ended without images (error_type, detail)
        │   └── JobCancelledError           ... because it was cancelled
        └── JobTimeoutError             run/wait gave up (elapsed, state, cancelled)

Example::

    from clients import ImagesClient, QueueClient

    with QueueClient("seacloud", base_url="http://127.0.0.1:8000/seacloud/model", api_key="k") as q:
        result = q.run("gpt_image_1", {"prompt": "a red apple"}, download=True)

    with ImagesClient("openai", base_url="http://127.0.0.1:8000/v1", api_key="sk-k") as images:
        result = images.generate("a red apple", size="1024x1024")
"""

from clients._aa import AAClient, AsyncAAClient
from clients._aa_core import AATask, AAUsage
from clients._core import PollPolicy, Progress, RetryPolicy
from clients._errors import (
    AuthenticationError,
    ImgemuError,
    InsufficientBalanceError,
    InvalidRequestError,
    JobCancelledError,
    JobError,
    JobFailedError,
    JobNotReadyError,
    JobTimeoutError,
    NotFoundError,
    PermissionDeniedError,
    ProviderError,
    RateLimitError,
    ServerError,
    TransportError,
    UsageError,
)
from clients._images import AsyncImagesClient, ImagesClient
from clients._images_core import (
    ImageCompleted,
    ImageEvent,
    ImageInput,
    ImageParams,
    ImagesResult,
    ImageUsage,
    PartialImage,
)
from clients._queue import AsyncQueueClient, QueueClient
from clients._queue_core import JobStatus, LogLine, Output, QueueResult, Submitted

__all__ = [
    "AAClient",
    "AATask",
    "AAUsage",
    "AsyncAAClient",
    "AsyncImagesClient",
    "AsyncQueueClient",
    "AuthenticationError",
    "ImageCompleted",
    "ImageEvent",
    "ImageInput",
    "ImageParams",
    "ImageUsage",
    "ImagesClient",
    "ImagesResult",
    "ImgemuError",
    "InsufficientBalanceError",
    "InvalidRequestError",
    "JobCancelledError",
    "JobError",
    "JobFailedError",
    "JobNotReadyError",
    "JobStatus",
    "JobTimeoutError",
    "LogLine",
    "NotFoundError",
    "Output",
    "PartialImage",
    "PermissionDeniedError",
    "PollPolicy",
    "Progress",
    "ProviderError",
    "QueueClient",
    "QueueResult",
    "RateLimitError",
    "RetryPolicy",
    "ServerError",
    "Submitted",
    "TransportError",
    "UsageError",
]
