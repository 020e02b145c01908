"""``create_app(settings)``: the one place the Starlette application is assembled."""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.routing import BaseRoute, Route

from emulator.domain.catalog import QUEUE_MODELS
from emulator.domain.live import Live
from emulator.domain.metrics import Meter
from emulator.http.aa import aa_routes
from emulator.http.control import control_routes
from emulator.http.dialects import http_error, quota_headers, refusal, unrouted
from emulator.http.docs import doc_routes
from emulator.http.files import file_routes
from emulator.http.images import images_routes
from emulator.http.index import index
from emulator.http.metrics import metrics_routes
from emulator.http.middleware.body_limit import BodyLimit, Limit
from emulator.http.middleware.control_token import ControlToken
from emulator.http.middleware.drain import DrainMiddleware
from emulator.http.middleware.endpoint import BODIES, Endpoint
from emulator.http.middleware.faults import FaultsMiddleware
from emulator.http.middleware.gateway import GatewayMiddleware
from emulator.http.middleware.metrics import MetricsMiddleware
from emulator.http.middleware.request_id import SENT_BY, RequestIdMiddleware
from emulator.http.middleware.request_log import RequestLog
from emulator.http.middleware.steering import SteeringMiddleware
from emulator.http.queue import queue_routes
from emulator.http.queue.front import QueueFront
from emulator.http.shutdown import Drain
from emulator.providers import BARE_QUEUE_MOUNT, PROVIDERS, Provider
from emulator.runtime import tune_allocator, tune_garbage_collector
from emulator.settings import Settings, load
from emulator.state import Emulator, build

# The operations whose handlers read a request body (a client may send it slowly).
READS_A_BODY = frozenset(BODIES)
# Seconds between renewals of this process's node number (a shared store forgets it after 30).
NODE_RENEW_SECONDS = 10.0


async def _share_signing_key(app: Starlette) -> None:
    """Sign with the key of the processes sharing the store, unless a secret is configured
    (the emulator a reset built holds the key it was handed)."""
    emulator: Emulator = app.state.emulator
    if not emulator.settings.signing_secret:
        files = emulator.files
        files.use_secret(await emulator.store.signing_key(files.secret))


@asynccontextmanager
async def _lifespan(app: Starlette) -> AsyncIterator[None]:
    """Take a node number from the store (processes sharing it draw ids apart) and the signing
    key they share, hold the number while serving (and read the key again: a store that lost
    it takes the first one offered again); on shutdown the last metric counts go to the store,
    then the node number and the store's connections go, and the fetcher's HTTP client."""
    emulator: Emulator = app.state.emulator
    store = emulator.store
    node = await store.claim_node()
    emulator.ids.assign(node)
    await _share_signing_key(app)
    await emulator.live.sync()  # the config file's fault plans, and what the store holds

    async def keep() -> None:
        while True:
            await asyncio.sleep(NODE_RENEW_SECONDS)
            await store.renew_node(node)
            await _share_signing_key(app)

    renewal = asyncio.create_task(keep())
    try:
        yield
    finally:
        renewal.cancel()
        # The emulator a reset built holds the same metrics and store.
        with contextlib.suppress(Exception):  # a store gone already: those counts are lost
            await app.state.emulator.metrics.close()
        with contextlib.suppress(Exception):  # a store gone already: its claim lapses alone
            await store.renew_node(node, release=True)
        await store.close()
        await app.state.emulator.fetcher.aclose()


def _provider_routes(
    provider: Provider, mount: str, settings: Settings, emulator: Emulator, drain: Drain
) -> list[BaseRoute]:
    """One provider's routes at one of its mounts, as its protocol has them, each operation
    wrapped in the middleware its endpoint asks for."""

    def stack(kind: str) -> list[Middleware]:
        endpoint = Endpoint.of(provider.name, kind)
        meter = emulator.metrics.meter(provider.name, kind)
        return _operation_middleware(settings, endpoint, meter, drain, emulator.live)

    if provider.protocol == "queue":
        return queue_routes(provider.name, mount, stack)
    if provider.protocol == "images":
        return images_routes(provider.name, stack)
    return aa_routes(stack)


def create_app(settings: Settings | None = None) -> Starlette:
    """The emulator as an ASGI app: every provider at once, state built fresh."""
    settings = settings or Settings()
    emulator = build(settings)
    # Stopping ends the waits of every request, fetches of input images among them.
    drain = Drain(on_begin=(emulator.fetcher.stop,))
    # Every provider at each of its mounts, by its protocol. Routes are tried in order: the
    # bare queue mount (the hot path) first, then the other protocols, then the named queues.
    mounted = [(p, m) for p in PROVIDERS.values() for m in p.mounts(settings.queue_provider)]
    mounted.sort(key=lambda pair: (pair[1] != BARE_QUEUE_MOUNT, pair[0].protocol == "queue"))
    # The control token locks the control plane and the metrics, nothing else.
    token = settings.control_token
    locked = [Middleware(ControlToken, token=token)] if token else []
    routes = [
        *(
            route
            for provider, mount in mounted
            for route in _provider_routes(provider, mount, settings, emulator, drain)
        ),
        *control_routes(locked, settings.max_text_request_kb * 1024),
        *metrics_routes(locked),
        *doc_routes(),
        *file_routes(),
    ]
    routes.append(Route("/", index, methods=["GET"]))
    # A browser's script may read every header the documents say an answer carries.
    exposed = sorted(set().union(*(d.response_headers for d in emulator.documents.values())))
    app = Starlette(
        routes=routes,
        exception_handlers={HTTPException: http_error},
        middleware=_middleware(settings, exposed),
        lifespan=_lifespan,
    )
    # Paths no mount can take (e.g. a control character in a request id) still get the
    # queue dialect's not-found answer rather than Starlette's plain text.
    app.router.default = unrouted
    # Innermost: queue submits and status reads go straight to their routes (see front.py).
    app.user_middleware.append(Middleware(QueueFront, router=app.router))
    app.state.emulator = emulator
    app.state.drain = drain
    return app


def from_environment() -> Starlette:
    """The app as ``imgemu serve`` builds it, from ``IMGEMU_*`` variables (and ``IMGEMU_CONFIG``).

    For servers that take an app factory: ``uvicorn --factory imgemu:from_environment``, the
    benchmarks. A variable that names no setting is a warning on stderr; a bad value raises
    ``SettingsError`` naming the variable. Tunes the garbage collector and the allocator for a
    long-lived server.
    """

    def warn(message: str) -> None:
        print(f"imgemu: warning: {message}", file=sys.stderr)

    app = create_app(load(warn=warn))
    tune_garbage_collector()
    tune_allocator()
    return app


def _middleware(settings: Settings, exposed_headers: list[str]) -> list[Middleware]:
    """Cross-cutting work around the whole app, outermost first: request logging, then CORS."""
    stack = []
    if settings.log_requests != "off":
        stack.append(Middleware(RequestLog, everything=settings.log_requests == "all"))
    if settings.cors_origins:
        stack.append(
            Middleware(
                CORSMiddleware,
                allow_origins=list(settings.cors_origins),
                allow_methods=["*"],
                allow_headers=["*"],
                expose_headers=exposed_headers,
                max_age=600,
            )
        )
    return stack


def body_limit(settings: Settings, endpoint: Endpoint) -> Limit | None:
    """The most bytes of body ``endpoint`` takes (None: it reads no body). A queue submit's
    limit is its model's: an edit model's is that of the operations taking input images."""
    images = settings.max_request_mb * 1024 * 1024
    text = settings.max_text_request_kb * 1024
    if endpoint.body == "images":
        return images
    if endpoint.body == "text":
        return text
    if endpoint.body == "model":
        per_model = {model: images if info.edit else text for model, info in QUEUE_MODELS.items()}
        return lambda scope: per_model.get(scope["path_params"].get("model_id"), text)
    return None


def _operation_middleware(
    settings: Settings, endpoint: Endpoint, meter: Meter, drain: Drain, live: Live
) -> list[Middleware]:
    """Cross-cutting work around one provider operation, outermost first: its metrics (status
    and latency), the request's id (where the dialect sends it), the body's size limit (for
    an operation that reads one), the gateway (key, then rate limits, and the ``x-ratelimit-*``
    headers where the dialect sends them), the steering headers, for the operations that read
    a body the end of that read when the server begins to stop, and the fault plans (``live``:
    the app's view of them, which a reset hands over)."""
    stack = [Middleware(MetricsMiddleware, meter=meter)]
    if endpoint.dialect in SENT_BY:
        stack.append(Middleware(RequestIdMiddleware, dialect=endpoint.dialect))
    limit = body_limit(settings, endpoint)
    if limit is not None:
        stack.append(Middleware(BodyLimit, limit=limit, refuse=refusal(endpoint)))
    if endpoint.guarded:
        stack.append(
            Middleware(
                GatewayMiddleware,
                endpoint=endpoint,
                refuse=refusal(endpoint),
                quota_headers=quota_headers(endpoint),
            )
        )
    if endpoint.steered and settings.steering:
        stack.append(Middleware(SteeringMiddleware))
    if endpoint.kind in READS_A_BODY:
        stack.append(Middleware(DrainMiddleware, drain=drain))
    refuse = refusal(endpoint)
    stack.append(
        Middleware(FaultsMiddleware, endpoint=endpoint, refuse=refuse, live=live, drain=drain)
    )
    return stack
