"""imgemu: an offline emulator and contract-test suite for hosted GPT-Image APIs.

The one name users import. It gathers the parts, which stay importable on their own:

- ``imgemu.create_app(settings)``: the emulator as an ASGI app (``emulator``), and
  ``imgemu.from_environment()``, the same built from ``IMGEMU_*`` variables as ``imgemu serve``
  does (``uvicorn --factory imgemu:from_environment``);
- the reference clients, re-exported here (``QueueClient``, ``ImagesClient``, ``AAClient`` and
  their async twins, from ``clients``);
- the contract suite, ``contracts.run_contract`` (needs the ``contract`` extra);
- ``imgemu.testing``: the emulator inside a test suite (a server on a free loopback port, the
  app in-process with sync and async transports), and ``imgemu.pytest_plugin``, the pytest
  fixtures built on it (registered as the ``imgemu`` plugin);
- ``imgemu.cli.main``: the ``imgemu`` command (serve, generate, status, cancel, contract).

Names are imported on first use: pytest loads ``imgemu.pytest_plugin`` in every run where imgemu
is installed, and that must not import the emulator (Starlette, uvicorn, Pillow) or the clients.

Example::

    import imgemu

    app = imgemu.create_app(imgemu.Settings(clock="virtual"))
    with imgemu.ImagesClient("openai", base_url="http://127.0.0.1:8000/v1", api_key="k") as c:
        c.generate("a red apple", model="gpt-image-1.5")
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from clients import *  # noqa: F403
    from emulator.app import create_app, from_environment
    from emulator.settings import Settings

# The clients' flat surface, which is imgemu's too (tests/test_runtime.py holds it to
# ``clients.__all__``): listed here so that naming it imports nothing.
CLIENT_NAMES = (
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
)
_HOMES = {
    "create_app": "emulator.app",
    "from_environment": "emulator.app",
    "Settings": "emulator.settings",
    **dict.fromkeys(CLIENT_NAMES, "clients"),
}

__version__: str  # read from the installed distribution on first use
__all__ = ["Settings", "__version__", "create_app", "from_environment", *CLIENT_NAMES]


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("imgemu")
    except PackageNotFoundError:  # a checkout that was never installed
        return "0+unknown"


def __getattr__(name: str) -> Any:
    if name == "__version__":
        value: Any = _version()
    elif name == "testing":
        value = importlib.import_module("imgemu.testing")
    elif name in _HOMES:
        value = getattr(importlib.import_module(_HOMES[name]), name)
    else:
        raise AttributeError(f"module 'imgemu' has no attribute {name!r}")
    globals()[name] = value  # once found, an ordinary attribute
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
