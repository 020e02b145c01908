"""The public surface: a flat, exact ``__all__``, documented with examples, sync = async."""

from __future__ import annotations

import inspect

import clients

EXPORTED = {
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
}
PAIRS = [
    (clients.QueueClient, clients.AsyncQueueClient),
    (clients.ImagesClient, clients.AsyncImagesClient),
    (clients.AAClient, clients.AsyncAAClient),
]


def public_methods(cls: type) -> dict[str, object]:
    return {
        name: member
        for name, member in vars(cls).items()
        if not name.startswith("_") and callable(member)
    }


def test_all_is_exact_sorted_and_importable() -> None:
    assert set(clients.__all__) == EXPORTED
    assert clients.__all__ == sorted(clients.__all__)
    for name in clients.__all__:
        assert getattr(clients, name) is not None


def test_every_error_is_drawn_in_the_module_docstring() -> None:
    doc = clients.__doc__ or ""
    for name in EXPORTED:
        obj = getattr(clients, name)
        if isinstance(obj, type) and issubclass(obj, clients.ImgemuError):
            assert name in doc, name


def test_every_public_class_and_method_has_an_example() -> None:
    for name in clients.__all__:
        obj = getattr(clients, name)
        if not inspect.isclass(obj):
            continue  # type aliases (ImageEvent, ImageInput)
        assert "Example::" in (obj.__doc__ or ""), name
        for method_name, method in public_methods(obj).items():
            assert "Example::" in (inspect.getdoc(method) or ""), f"{name}.{method_name}"
    for sync, async_ in PAIRS:  # inherited from the drivers
        assert "Example::" in (inspect.getdoc(sync.close) or "")
        assert "Example::" in (inspect.getdoc(async_.aclose) or "")


def test_sync_and_async_clients_offer_the_same_calls() -> None:
    for sync, async_ in PAIRS:
        assert set(public_methods(sync)) == set(public_methods(async_))
        for name in public_methods(sync):
            assert inspect.iscoroutinefunction(getattr(async_, name)) or inspect.isasyncgenfunction(
                getattr(async_, name)
            ), name
