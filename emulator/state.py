"""All of the emulator's state, made in one constructor so a reset cannot miss any."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from emulator.domain.aa import TaskService, is_task_id
from emulator.domain.clock import Clock, RealClock, VirtualClock
from emulator.domain.drawing.renderer import Renderer
from emulator.domain.fetch import Fetcher
from emulator.domain.files import FileService
from emulator.domain.gateway import Gateway
from emulator.domain.ids import Ids
from emulator.domain.images import ImagesService
from emulator.domain.inputs import InputResolver
from emulator.domain.latency import DEFAULT_BASE_SECONDS, LatencyModel
from emulator.domain.limits import LimitPolicy
from emulator.domain.metrics import Metrics
from emulator.domain.outcomes import Outcomes
from emulator.domain.pricing import Balances
from emulator.domain.queue import QueuePolicy, QueueService
from emulator.domain.rules import RuleBook
from emulator.providers import PROVIDERS
from emulator.settings import Settings
from emulator.spec import Document
from emulator.spec.loader import load_cached
from emulator.store import Store, open_store


@dataclass(slots=True)
class Emulator:
    """The running emulator's parts; the HTTP layer reaches everything through it."""

    settings: Settings
    clock: Clock
    store: Store
    ids: Ids
    documents: dict[str, Document]
    files: FileService
    gateway: Gateway
    queue: QueueService
    images: ImagesService
    tasks: TaskService
    metrics: Metrics
    fetcher: Fetcher


def load_documents(rules: RuleBook) -> dict[str, Document]:
    """Every provider's document, compiled once per process."""
    return {provider: load_cached(provider, rules.names) for provider in PROVIDERS}


def limit_policy(settings: Settings) -> LimitPolicy:
    """The rate limits the settings ask for, per provider (``emulator.domain.limits``)."""
    requests = {"openai": settings.openai_rpm, "agcloud": settings.agcloud_rpm}
    requests["aa"] = settings.aa_rpm
    for name, provider in PROVIDERS.items():
        if provider.protocol == "queue":
            requests[name] = settings.queue_rpm
    images = {"openai": settings.openai_ipm, "agcloud": settings.agcloud_ipm}
    return LimitPolicy(
        requests={name: limit for name, limit in requests.items() if limit > 0},
        images={name: limit for name, limit in images.items() if limit > 0},
        concurrency=settings.queue_concurrency,
        per_model=frozenset(n for n, p in PROVIDERS.items() if p.protocol == "images"),
    )


def make_clock(settings: Settings, start: float | None = None) -> Clock:
    if settings.clock == "virtual":
        return VirtualClock(
            start if start is not None else (settings.clock_start or RealClock().now())
        )
    return RealClock()


def build(
    settings: Settings,
    clock: Clock | None = None,
    store: Store | None = None,
    metrics: Metrics | None = None,
    fetcher: Fetcher | None = None,
) -> Emulator:
    """A fresh emulator: new clock, store, metrics and fetcher, unless handed over (a reset may
    hand over the store it emptied rather than open another connection pool, and hands over the
    metrics the routes' middleware counts into and the fetcher, whose HTTP client is the
    process's one).

    A new store is the one ``settings.store`` names: empty in memory, or the Redis namespace as
    the other processes that share it left it. An unreachable Redis raises
    ``emulator.store.StoreUnavailable``.
    """
    rules = RuleBook()
    documents = load_documents(rules)
    clock = clock or make_clock(settings)
    if store is None:
        upload_bytes = settings.max_upload_mb * 1024 * 1024
        store = open_store(settings.store, settings.result_ttl, clock.now, upload_bytes)
    metrics = Metrics(store) if metrics is None else metrics
    ids = Ids(settings.seed)  # every id of the run: jobs, tasks, files, requests
    secret = settings.signing_secret or f"imgemu-{settings.seed}"
    renderer = Renderer(load_mode=settings.load_mode, metrics=metrics)
    files = FileService(
        secret=hashlib.sha256(secret.encode()).digest(),
        ttl=settings.result_ttl,
        seed=settings.seed,
        cache_bytes=settings.image_cache_mb * 1024 * 1024,
        renderer=renderer,
    )
    base = {**DEFAULT_BASE_SECONDS}
    for family, table in settings.base_seconds.items():
        base[family] = {**base.get(family, {}), **table}
    latency = LatencyModel(
        base_seconds=base, sigma=settings.latency_sigma, time_scale=settings.time_scale
    )
    if fetcher is None:
        hosts = settings.fetch_allowlist if settings.fetch_remote == "allowlist" else ()
        fetcher = Fetcher(hosts, timeout=settings.fetch_timeout)

    async def own_file(request_id: str, index: int, fmt: str) -> bytes | None:
        # Result links of every protocol work as input references: the queue's and 典名词元's.
        owner = tasks if is_task_id(request_id) else queue
        return await owner.own_file(request_id, index, fmt)

    inputs = InputResolver(own_file, fetcher)
    # Each service gets its slice of the settings, not all of them.
    outcomes = Outcomes(
        seed=settings.seed,
        blocked_terms=tuple(settings.blocked_terms),
        failure_rate=settings.failure_rate,
        time_scale=settings.time_scale,
        latency=latency,
    )
    balances = Balances(dict(settings.balances), settings.default_balance_usd)
    policy = QueuePolicy(
        validation=settings.validation,
        invalid_delay=settings.invalid_delay,
        slots=settings.slots,
        model_slots=dict(settings.model_slots),
        concurrency=settings.queue_concurrency,
    )
    queue = QueueService(
        policy, outcomes, balances, clock, store, documents, files, rules, inputs, ids, metrics
    )
    images = ImagesService(
        outcomes, balances, clock, store, documents, rules, inputs, renderer, metrics
    )
    tasks = TaskService(clock, store, images, files, ids)
    return Emulator(
        settings=settings,
        clock=clock,
        store=store,
        ids=ids,
        documents=documents,
        files=files,
        gateway=Gateway(settings.api_keys, settings.rate_limit, limit_policy(settings)),
        queue=queue,
        images=images,
        tasks=tasks,
        metrics=metrics,
        fetcher=fetcher,
    )
