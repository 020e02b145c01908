"""The emulator inside a test suite: a real server on a free loopback port, or the app
in-process with sync and async httpx transports, each with the control plane as objects.

The pytest fixtures (``imgemu.pytest_plugin``: ``imgemu_server``, ``imgemu_app``...) are built
on this module; it serves any other runner as well::

    from imgemu.testing import serve

    with serve(clock="virtual") as emulator:          # a server on 127.0.0.1:<free port>
        client = OpenAI(base_url=emulator.url("openai"), api_key="sk-test")
        ...
        emulator.journal.assert_called(provider="openai", operation="images.generate")

    with in_process() as emulator:                     # no socket: httpx transports
        with httpx.Client(transport=emulator.transport, base_url=emulator.url("openai")) as c:
            ...

What each yields is an ``Emulator`` (``base_url``, ``url(provider)``, ``journal``, ``faults``,
``clock``, ``reset()``, ``client(provider)``...; ``InProcessEmulator`` adds ``app``,
``transport`` and ``async_transport``). Settings are ``imgemu.Settings`` fields over
``TEST_DEFAULTS`` (a generation takes a thousandth of the real time); the fixtures choose
the host and port.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from emulator.settings import Settings
from imgemu.testing._control import (
    CONTROL_TOKEN_HEADER,
    DEFAULT_KEY,
    TEST_ID_HEADER,
    Clock,
    ControlError,
    Emulator,
    Faults,
    Journal,
)
from imgemu.testing._inprocess import AppRunner, AsyncTransport, SyncTransport
from imgemu.testing._instances import (
    IN_PROCESS_URL,
    TEST_DEFAULTS,
    InProcessEmulator,
    Instance,
    Pool,
    make_settings,
)

__all__ = [
    "CONTROL_TOKEN_HEADER",
    "DEFAULT_KEY",
    "IN_PROCESS_URL",
    "TEST_DEFAULTS",
    "TEST_ID_HEADER",
    "AppRunner",
    "AsyncTransport",
    "Clock",
    "ControlError",
    "Emulator",
    "Faults",
    "InProcessEmulator",
    "Instance",
    "Journal",
    "Pool",
    "SyncTransport",
    "in_process",
    "make_settings",
    "serve",
]


@contextmanager
def serve(
    settings: Settings | None = None, *, test_id: str | None = None, **values: Any
) -> Iterator[Emulator]:
    """An emulator on a real server on ``127.0.0.1`` and a free port, stopped on exit:
    ``settings``, or ``TEST_DEFAULTS`` under ``values``."""
    instance = Instance("server", settings or make_settings(values))
    emulator = instance.handle(test_id)
    try:
        yield emulator
    finally:
        emulator.close()
        instance.stop()


@contextmanager
def in_process(
    settings: Settings | None = None, *, test_id: str | None = None, **values: Any
) -> Iterator[InProcessEmulator]:
    """The emulator's app in-process, on its own event loop, stopped on exit: ``settings``, or
    ``TEST_DEFAULTS`` under ``values``."""
    instance = Instance("app", settings or make_settings(values))
    emulator = instance.handle(test_id)
    assert isinstance(emulator, InProcessEmulator)
    try:
        yield emulator
    finally:
        emulator.close()
        instance.stop()
