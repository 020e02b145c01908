"""``imgemu serve --workers N``: N processes serving one listening socket, sharing the store.

The parent binds the port, announces the providers once and starts each worker in a fresh
interpreter (``spawn``); every worker builds the app from the same settings and serves the
inherited socket with the same ``EmulatorServer`` a lone process uses (so SIGTERM drains its
waiting calls too). Workers share state through the store (``--store redis://...``), each
drawing ids as its own node. A worker that dies is started again; SIGTERM or SIGINT stops them
all within ``shutdown_timeout``.
"""

from __future__ import annotations

import logging
import multiprocessing
import signal
import socket
import time
from multiprocessing.process import BaseProcess
from types import FrameType

import uvicorn

from emulator.logs import LOGGER, log_config
from emulator.settings import Settings

# Seconds between looks at the workers, and a worker's grace beyond ``shutdown_timeout``.
_WATCH_SECONDS = 0.2
_STOP_GRACE = 5.0


def _serve(settings_json: str, sockets: list[socket.socket]) -> None:
    """One worker: the app built from the settings, served on the parent's socket."""
    from emulator.app import create_app
    from emulator.runtime import tune_allocator, tune_garbage_collector
    from emulator.server import make_server

    settings = Settings.model_validate_json(settings_json)
    app = create_app(settings)
    tune_garbage_collector()
    tune_allocator()
    make_server(app, settings, announce=False).run(sockets=sockets)


class Supervisor:
    """Starts ``settings.workers`` workers on one socket and keeps them running until stopped."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._context = multiprocessing.get_context("spawn")
        self._workers: list[BaseProcess] = []
        self._stopping = False

    def run(self) -> int:
        """Serve until SIGTERM or SIGINT; 0 once every worker has stopped."""
        from emulator.server import announce

        settings = self.settings
        config = uvicorn.Config(
            "emulator.workers:_serve",
            host=settings.host,
            port=settings.port,
            log_config=log_config(settings),
        )
        sock = config.bind_socket()
        port = int(sock.getsockname()[1])
        logging.getLogger(LOGGER).info("%d workers, sharing %s", settings.workers, _shown(settings))
        announce(settings, port)
        previous = {sig: signal.signal(sig, self._stop) for sig in (signal.SIGTERM, signal.SIGINT)}
        try:
            self._workers = [self._start(sock) for _ in range(settings.workers)]
            while not self._stopping:
                time.sleep(_WATCH_SECONDS)
                for index, worker in enumerate(self._workers):
                    if worker.exitcode is not None and not self._stopping:
                        logging.getLogger(LOGGER).warning(
                            "worker %s exited (%s); starting another", worker.pid, worker.exitcode
                        )
                        self._workers[index] = self._start(sock)
            self._stop_all()
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            sock.close()
        return 0

    def _start(self, sock: socket.socket) -> BaseProcess:
        worker = self._context.Process(
            target=_serve, args=(self.settings.model_dump_json(), [sock]), daemon=False
        )
        worker.start()
        return worker

    def _stop(self, signum: int, frame: FrameType | None) -> None:
        self._stopping = True

    def _stop_all(self) -> None:
        for worker in self._workers:
            if worker.exitcode is None and worker.pid is not None:
                worker.terminate()  # SIGTERM: the worker drains and stops
        deadline = time.monotonic() + self.settings.shutdown_timeout + _STOP_GRACE
        for worker in self._workers:
            worker.join(max(0.0, deadline - time.monotonic()))
            if worker.exitcode is None:
                worker.kill()
                worker.join()


def _shown(settings: Settings) -> str:
    """The store's URL without a password."""
    from emulator.store.url import parse

    target = parse(settings.store)
    return target.shown if target is not None else settings.store
