"""Running emulators for tests: a server or an in-process app, and a pool that hands one out
per test, reset, reusing it across the tests that ask for the same settings.

A test gets an emulator in the state a new one has: the pool resets a reused one
(``POST /_emulator/reset``: jobs, tasks, files, balances, fault plans, runtime changes) and
empties its journal, and a new one on a shared store (Redis), which holds what other
emulators left in it. A virtual clock cannot go back, so an emulator whose virtual clock a test
moved is not reused: the next test gets a new one, its clock where the settings start it.
"""

from __future__ import annotations

import contextlib
import json
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any, Literal

import httpx

from emulator.settings import Settings
from imgemu.testing._control import ControlError, Emulator
from imgemu.testing._inprocess import AppRunner, AsyncTransport, SyncTransport

Kind = Literal["server", "app"]

# What the test fixtures change of ``imgemu serve``'s defaults: a generation takes a
# thousandth of the real service's time (tens of milliseconds), so a test need not wait.
TEST_DEFAULTS: dict[str, Any] = {"time_scale": 0.001}
# Settings a test cannot choose: the fixtures serve one process on a loopback port of their own.
FIXED = {
    "host": "the fixtures listen on 127.0.0.1",
    "port": "the fixtures choose a free port: read base_url",
    "workers": "the fixtures run one server in the test process; start `imgemu serve "
    "--workers N --store redis://...` yourself for more",
}
# The host name of the in-process app's URLs (no socket: the transports take every request).
IN_PROCESS_URL = "http://imgemu.test"
# Emulators the pool keeps running, of each kind, for tests asking for settings seen before.
POOL_SIZE = 4


def make_settings(values: Mapping[str, Any] | None = None) -> Settings:
    """The settings of a test's emulator: ``TEST_DEFAULTS`` under ``values``. A setting the
    fixtures choose (``FIXED``) or a bad value raises ``imgemu.settings.SettingsError``
    (a ``ValueError``) naming it."""
    from emulator.settings import SettingsError

    values = dict(values or {})
    for name in sorted(values.keys() & FIXED.keys()):
        if not (name == "workers" and values[name] == 1):
            raise SettingsError(f"{name}: not a test setting ({FIXED[name]})")
    return Settings(**{**TEST_DEFAULTS, **values})


class InProcessEmulator(Emulator):
    """An in-process emulator as a test sees it: an ``Emulator`` whose clients call the app
    through ``transport`` (for ``httpx.Client`` and the sync clients) or ``async_transport``
    (for ``httpx.AsyncClient`` and the async clients, on any asyncio event loop); ``app`` is
    the ASGI app itself, running on its own event loop in a background thread."""

    def __init__(self, runner: AppRunner, settings: Settings, test_id: str | None) -> None:
        self.app = runner.app
        self.transport = SyncTransport(runner)
        self.async_transport = AsyncTransport(runner)
        super().__init__(IN_PROCESS_URL, settings, test_id, self.transport, self.async_transport)

    def environment(self) -> dict[str, str]:
        """The providers' key variables only: the in-process app has no address another
        client could reach, so no base URL is set (give a client ``url(provider)`` and a
        transport)."""
        from clients._core import PROVIDERS as CLIENT_PROVIDERS

        return {spec.env: self.api_key(name) for name, spec in CLIENT_PROVIDERS.items()}


class Instance:
    """One running emulator and what it takes to hand it to a test."""

    def __init__(self, kind: Kind, settings: Settings) -> None:
        self.kind = kind
        self.uses = 0
        if kind == "server":
            from imgemu.testing._server import ServerThread

            self._server: Any = ServerThread(settings)
            self._server.start()
            self.settings = self._server.settings
            self.base_url: str = self._server.base_url
            self._runner: AppRunner | None = None
        else:
            from emulator.app import create_app

            self.settings = settings
            self.base_url = IN_PROCESS_URL
            self._app = create_app(settings)
            self._runner = AppRunner(self._app)
            self._runner.start()
            self._server = None
        probe = self.handle(None)
        try:
            self.start = probe.clock.now() if settings.clock == "virtual" else None
            self.journal = _has_journal(probe)
        finally:
            probe.close()

    def handle(self, test_id: str | None) -> Emulator:
        """The test's view of this emulator (headers with ``test_id``)."""
        if self._runner is not None:
            return InProcessEmulator(self._runner, self.settings, test_id)
        return Emulator(self.base_url, self.settings, test_id)

    def prepare(self, emulator: Emulator) -> bool:
        """Make a reused emulator as new for the test whose view ``emulator`` is; False when it
        cannot be (a virtual clock moved), and a new one is needed."""
        if self.start is not None and emulator.clock.now() != self.start:
            return False
        emulator.reset()
        if self.journal:
            emulator.journal.clear()
        return True

    def begin_stop(self) -> None:
        """Ask the emulator to stop: its waiting calls and open streams end at once (the
        app's drain, as a stopping server begins)."""
        if self._server is not None:
            self._server.begin_stop()
        elif self._runner is not None and self._runner.running:
            drain = self._app.state.drain
            with contextlib.suppress(RuntimeError):  # its loop has stopped already
                self._runner.loop.call_soon_threadsafe(drain.begin)

    def stop(self) -> None:
        """Stop the emulator and wait until it has."""
        self.begin_stop()
        if self._server is not None:
            self._server.stop()
        if self._runner is not None:
            self._runner.stop()


def _has_journal(emulator: Emulator) -> bool:
    try:
        emulator.journal.find(limit=1)
    except ControlError:  # none (404), or turned off (409)
        return False
    return True


def _key(kind: Kind, settings: Settings) -> str:
    return kind + json.dumps(settings.model_dump(mode="json"), sort_keys=True)


class Pool:
    """Running emulators by kind and settings, ``size`` of each kind at most (the least
    recently used stops first), each handed to one test at a time."""

    def __init__(self, size: int = POOL_SIZE) -> None:
        self.size = size
        self._idle: OrderedDict[str, Instance] = OrderedDict()
        self._stopping: list[Instance] = []
        self._lent: dict[int, tuple[str, Instance]] = {}
        self.started = 0  # emulators started, for the curious (and the plugin's tests)

    def acquire(self, kind: Kind, settings: Settings, test_id: str | None) -> Emulator:
        """An emulator with ``settings`` in its new state, seen by the test ``test_id``."""
        key = _key(kind, settings)
        instance = self._idle.pop(key, None)
        if instance is not None:
            emulator = instance.handle(test_id)
            try:
                if instance.prepare(emulator):
                    return self._lend(key, instance, emulator)
            except (ControlError, httpx.HTTPError):
                pass  # not worth keeping: start another
            emulator.close()
            self._retire(instance)
        instance = Instance(kind, settings)
        self.started += 1
        emulator = instance.handle(test_id)
        if settings.store != "memory":  # a shared store holds what others left in it
            instance.prepare(emulator)
        return self._lend(key, instance, emulator)

    def _lend(self, key: str, instance: Instance, emulator: Emulator) -> Emulator:
        instance.uses += 1
        self._lent[id(emulator)] = (key, instance)
        return emulator

    def release(self, emulator: Emulator) -> None:
        """The test is over: close its clients and keep the emulator for the next."""
        emulator.close()
        key, instance = self._lent.pop(id(emulator))
        previous = self._idle.pop(key, None)
        if previous is not None:  # a twin started while this one was lent: one is enough
            self._retire(previous)
        self._idle[key] = instance
        same_kind = [k for k, i in self._idle.items() if i.kind == instance.kind]
        for oldest in same_kind[: max(0, len(same_kind) - self.size)]:
            self._retire(self._idle.pop(oldest))

    def _retire(self, instance: Instance) -> None:
        instance.begin_stop()
        self._stopping.append(instance)

    def close(self) -> None:
        """Stop every emulator (servers all at once, then wait for each)."""
        every = [*self._idle.values(), *self._stopping, *(i for _, i in self._lent.values())]
        self._idle.clear()
        self._lent.clear()
        self._stopping.clear()
        for instance in every:
            instance.begin_stop()
        for instance in every:
            instance.stop()
