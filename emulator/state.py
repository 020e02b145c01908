"""All of the emulator's state, made in one constructor so a reset cannot miss any."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from emulator.domain.aa import TaskService, is_task_id
from emulator.domain.clock import Clock, RealClock, VirtualClock
from emulator.domain.files import FileService
from emulator.domain.gateway import Gateway
from emulator.domain.images import ImagesService
from emulator.domain.inputs import InputResolver
from emulator.domain.latency import DEFAULT_BASE_SECONDS, LatencyModel
from emulator.domain.queue import QueueService
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
    documents: dict[str, Document]
    files: FileService
    gateway: Gateway
    queue: QueueService
    images: ImagesService
    tasks: TaskService


def load_documents(rules: RuleBook) -> dict[str, Document]:
    """Every provider's document, compiled once per process."""
    return {provider: load_cached(provider, rules.names) for provider in PROVIDERS}


def make_clock(settings: Settings, start: float | None = None) -> Clock:
    if settings.clock == "virtual":
        return VirtualClock(
            start if start is not None else (settings.clock_start or RealClock().now())
        )
    return RealClock()


def build(settings: Settings, clock: Clock | None = None, store: Store | None = None) -> Emulator:
    """A fresh emulator: new clock and store, unless handed over (a reset may hand over the
    store it emptied rather than open another connection pool).

    A new store is the one ``settings.store`` names: empty in memory, or the Redis namespace as
    the other processes that share it left it. An unreachable Redis raises
    ``emulator.store.StoreUnavailable``.
    """
    rules = RuleBook()
    documents = load_documents(rules)
    clock = clock or make_clock(settings)
    store = open_store(settings.store, settings.result_ttl) if store is None else store
    secret = settings.signing_secret or f"imgemu-{settings.seed}"
    files = FileService(
        secret=hashlib.sha256(secret.encode()).digest(),
        ttl=settings.result_ttl,
        seed=settings.seed,
        cache_bytes=settings.image_cache_mb * 1024 * 1024,
    )
    base = {**DEFAULT_BASE_SECONDS}
    for family, table in settings.base_seconds.items():
        base[family] = {**base.get(family, {}), **table}
    latency = LatencyModel(
        base_seconds=base, sigma=settings.latency_sigma, time_scale=settings.time_scale
    )
    fetch = frozenset(settings.fetch_allowlist) if settings.fetch_remote == "allowlist" else None

    async def own_file(request_id: str, index: int, fmt: str) -> bytes | None:
        # Result links of every protocol work as input references: the queue's and 典名词元's.
        owner = tasks if is_task_id(request_id) else queue
        return await owner.own_file(request_id, index, fmt)

    inputs = InputResolver(own_file, fetch)
    queue = QueueService(settings, clock, store, documents, files, rules, latency, inputs)
    images = ImagesService(settings, clock, store, documents, rules, latency, inputs)
    tasks = TaskService(settings, clock, store, images, files)
    return Emulator(
        settings=settings,
        clock=clock,
        store=store,
        documents=documents,
        files=files,
        gateway=Gateway(settings.api_keys, settings.rate_limit),
        queue=queue,
        images=images,
        tasks=tasks,
    )
