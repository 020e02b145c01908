"""The emulator on a real uvicorn server in a background thread, on a free loopback port.

The socket is bound before the server starts (port 0: the system chooses), so no other process
can take the port between choosing it and listening on it. The server is ``imgemu serve``'s own
(``emulator.server.EmulatorServer``: the app drained when it stops, the coalescing protocol with
its ``CLOSE`` extension) without its logging set-up: a test run's logging stays the test run's.
"""

from __future__ import annotations

import socket
import threading
import time

import uvicorn
from starlette.applications import Starlette

from emulator.app import create_app
from emulator.protocol import CoalescingProtocol
from emulator.server import EmulatorServer
from emulator.settings import Settings

# Seconds a server may take to start (its lifespan connects to the store) and to stop.
START_SECONDS = 30.0
STOP_SECONDS = 15.0


class _Server(EmulatorServer):
    """``EmulatorServer`` with an event set once its start-up is over, started or not."""

    def __init__(self, config: uvicorn.Config, app: Starlette, settings: Settings) -> None:
        super().__init__(config, app, settings, announce=False)
        self.ready = threading.Event()

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        try:
            await super().startup(sockets)
        finally:
            self.ready.set()


class ServerThread:
    """One emulator built from ``settings`` (its host and port are this object's), served on
    ``127.0.0.1`` on a port the system chooses, in a daemon thread."""

    def __init__(self, settings: Settings) -> None:
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._socket.bind(("127.0.0.1", 0))
        self.port: int = self._socket.getsockname()[1]
        self.settings = settings.model_copy(update={"host": "127.0.0.1", "port": self.port})
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.app = create_app(self.settings)
        config = uvicorn.Config(
            self.app,
            log_config=None,  # the test run's logging is left as it is
            log_level="warning",
            access_log=False,
            timeout_graceful_shutdown=self.settings.shutdown_timeout,
            lifespan="on",
            http=CoalescingProtocol,
        )
        self._server = _Server(config, self.app, self.settings)
        self._thread = threading.Thread(
            target=self._server.run,
            kwargs={"sockets": [self._socket]},
            name=f"imgemu-server-{self.port}",
            daemon=True,
        )

    def start(self) -> None:
        """Start serving; raise ``RuntimeError`` if the server does not start."""
        self._thread.start()
        deadline = time.monotonic() + START_SECONDS
        while not self._server.ready.wait(0.05):
            if time.monotonic() > deadline or not self._thread.is_alive():
                break
        if not self._server.started:
            self.stop()
            raise RuntimeError(
                "the emulator did not start (its errors are in the captured log, logger "
                "'uvicorn.error')"
            )

    def begin_stop(self) -> None:
        """Ask the server to stop, without waiting."""
        self._server.should_exit = True

    def stop(self) -> None:
        """Stop the server and wait for its thread (open streams end at once)."""
        self.begin_stop()
        if self._thread.is_alive():
            self._thread.join(STOP_SECONDS)
        self._socket.close()
