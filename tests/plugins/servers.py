"""Real servers: ``serve`` starts apps on uvicorn on free loopback ports and stops them after the
test; ``emulator`` is the contract suite's target (a fast emulator on a socket that accepts only
the contract key).

Starting waits on an event set when uvicorn's start-up is over, rather than polling. Stopping is
the expensive part: uvicorn polls every 100 ms (its tick, its pause before and between its
checks of open connections when it stops), which cost two tenths of a second a server, some
25 s over the suite. ``_Server`` polls every 10 ms instead; to do so it copies the steps of
uvicorn's ``Server.main_loop`` and ``Server.shutdown`` (and ``_wait_tasks_to_complete``, which
``shutdown`` calls). ``COPIED`` holds a fingerprint of those methods' source as copied:
tests/test_plugins.py fails, naming the methods, when an upgrade of uvicorn changes them, so
that the copy is brought up to date rather than silently drifting."""

from __future__ import annotations

import asyncio
import hashlib
import inspect
import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import uvicorn
from starlette.applications import Starlette

from emulator.protocol import CoalescingProtocol
from tests.helpers import RunningServer, free_port
from tests.support.contracts import contract_app

# sha256 of the source of each uvicorn method ``_Server`` copies, as of uvicorn 0.54.
COPIED = {
    "main_loop": "afccb353a119333f206ffa120abc9efdc46a1ac60fe93485acfda2a271d75a62",
    "shutdown": "9b33c50562992b1e3cef2a9611408ece6c01d46ee17eaae2091b6091bf826eab",
    "_wait_tasks_to_complete": "17209be1e991445d37d11e0eb1abada64140131ef8d10dd0d095f384b693b734",
}


def fingerprint(method: str) -> str:
    """The sha256 of the source of ``uvicorn.Server.<method>``."""
    source = inspect.getsource(getattr(uvicorn.Server, method))
    return hashlib.sha256(source.encode()).hexdigest()


class _Server(uvicorn.Server):
    """uvicorn's server polling every 10 ms where uvicorn waits 100 ms (see the module's
    docstring); otherwise uvicorn's own steps, in uvicorn's order. ``ready`` is set once its
    start-up is over, whether it started or not (then ``started`` is false)."""

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.ready = threading.Event()

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        try:
            await super().startup(sockets)
        finally:
            self.ready.set()

    async def main_loop(self) -> None:
        counter = 0
        should_exit = await self.on_tick(counter)
        while not should_exit:
            counter = (counter + 1) % 864000
            await asyncio.sleep(0.01)
            should_exit = await self.on_tick(counter)

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        for server in self.servers:
            server.close()
        for sock in sockets or []:
            sock.close()
        for connection in list(self.server_state.connections):
            connection.shutdown()
        deadline = time.monotonic() + 10
        while self.server_state.connections or self.server_state.tasks:
            if time.monotonic() > deadline:
                for task in self.server_state.tasks:
                    task.cancel()
                break
            await asyncio.sleep(0.01)
        for server in self.servers:
            await server.wait_closed()
        await self.lifespan.shutdown()


@pytest.fixture
def serve() -> Iterator[Callable[[Starlette], RunningServer]]:
    """Start apps on real uvicorn servers on free loopback ports; stop them afterwards."""
    started: list[tuple[uvicorn.Server, threading.Thread]] = []

    def start(app: Starlette) -> RunningServer:
        port = free_port()
        # The protocol ``imgemu serve`` runs, so every integration test goes through it.
        config = uvicorn.Config(
            app,
            host="127.0.0.1",
            port=port,
            log_level="warning",
            lifespan="on",
            http=CoalescingProtocol,
        )
        server = _Server(config)
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        deadline = time.monotonic() + 10
        while not server.ready.wait(0.05):
            if time.monotonic() > deadline or not thread.is_alive():
                break
        if not server.started:
            raise RuntimeError("uvicorn did not start")
        started.append((server, thread))
        return RunningServer(app, f"http://127.0.0.1:{port}")

    yield start
    for server, _ in started:
        server.should_exit = True
    for _, thread in started:
        thread.join(timeout=10)


@pytest.fixture
def emulator(serve: Callable[[Any], RunningServer]) -> RunningServer:
    """The real emulator, fast, on a socket; only the contract key is valid."""
    return serve(contract_app())
