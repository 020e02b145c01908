"""Run the emulator under uvicorn: announce where each provider lives, stop within a bound.

``EmulatorServer`` is uvicorn's ``Server`` with two additions: once it listens it logs the
base URL of every provider (with the port it really bound), and when it begins to stop it
drains the app first, so waiting calls and open streams end at once with the provider's own
error instead of holding the process until ``shutdown_timeout`` cuts them.
"""

from __future__ import annotations

import ipaddress
import logging
import socket
from importlib.metadata import PackageNotFoundError, version

import uvicorn
from starlette.applications import Starlette

from emulator.http.index import banner, providers
from emulator.http.shutdown import Drain
from emulator.logs import LOGGER, log_config
from emulator.protocol import CoalescingProtocol
from emulator.settings import Settings


def _version() -> str:
    try:
        return version("imgemu")
    except PackageNotFoundError:
        return "0+unknown"


def display_base(host: str, port: int) -> str:
    """A URL a user can paste: a wildcard bind is reached through the loopback address."""
    if host in ("", "0.0.0.0"):
        host = "127.0.0.1"
    elif host == "::":
        host = "::1"
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{port}"


def loopback_only(host: str) -> bool:
    """Whether a server bound to ``host`` is reachable from this machine only."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:  # a wildcard ("") or a host name: it may be reached from elsewhere
        return False


def open_control_warning(settings: Settings) -> str | None:
    """The warning for a server reachable beyond loopback whose control plane is open."""
    if settings.control_token or loopback_only(settings.host):
        return None
    return (
        f"listening on {settings.host or 'every interface'} with no control token: anyone who "
        "reaches the port can reset the emulator, read every job and set balances "
        "(set --control-token or IMGEMU_CONTROL_TOKEN)"
    )


def announce(settings: Settings, port: int) -> None:
    """Log the version and every provider's base URL on ``port``."""
    base = display_base(settings.host, port)
    logging.getLogger(LOGGER).info(
        "\n".join(banner(settings, base, _version())),
        extra={"providers": {p["provider"]: p["base_url"] for p in providers(settings, base)}},
    )


class EmulatorServer(uvicorn.Server):
    """uvicorn's server, announcing the providers on start and draining the app on stop."""

    def __init__(
        self, config: uvicorn.Config, app: Starlette, settings: Settings, announce: bool = True
    ) -> None:
        super().__init__(config)
        self.emulator_app = app
        self.settings = settings
        self.announce = announce

    @property
    def port(self) -> int:
        """The port the server listens on (the one the system chose for port 0)."""
        for server in getattr(self, "servers", ()):
            for sock in server.sockets:
                return int(sock.getsockname()[1])
        return self.config.port

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if self.started and self.announce:
            announce(self.settings, self.port)

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        drain: Drain = self.emulator_app.state.drain
        drain.begin()
        await super().shutdown(sockets)


def make_server(app: Starlette, settings: Settings, announce: bool = True) -> EmulatorServer:
    """A server for ``app`` configured from ``settings`` (bind, logs, shutdown bound); a
    worker of several (``announce`` False) leaves the start-up lines to its parent."""
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        log_config=log_config(settings),
        log_level=settings.log_level,
        access_log=False,  # the app logs requests itself (settings.log_requests)
        timeout_graceful_shutdown=settings.shutdown_timeout,
        lifespan="on",  # the app takes its node number from the store and closes the store
        http=CoalescingProtocol,  # one socket write per answer
    )
    return EmulatorServer(config, app, settings, announce)
