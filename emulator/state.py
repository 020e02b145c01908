"""All of the emulator's state, made in one constructor so a reset cannot miss any."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

from emulator.domain.aa import TaskService, is_task_id
from emulator.domain.clock import Clock, RealClock, VirtualClock
from emulator.domain.drawing import ImageLimits
from emulator.domain.drawing.renderer import Renderer
from emulator.domain.errors import LinkExpired
from emulator.domain.faults import parse_plan
from emulator.domain.fetch import Fetcher
from emulator.domain.files import FileService
from emulator.domain.gateway import Gateway
from emulator.domain.ids import Ids
from emulator.domain.images import ImagesService
from emulator.domain.inputs import InputResolver, OwnFile
from emulator.domain.journal import Journal
from emulator.domain.latency import DEFAULT_BASE_SECONDS, LatencyModel
from emulator.domain.limits import LimitPolicy
from emulator.domain.live import Live
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
from emulator.store.url import MEMORY


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
    journal: Journal
    fetcher: Fetcher
    live: Live  # fault plans and runtime settings, as the store has them


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


def signing_key(settings: Settings) -> bytes:
    """The key result links are signed with: from ``signing_secret`` when one is set, else
    random (the seed repeats ids and pixels, not signatures: a link cannot be forged from it).
    Processes sharing a store agree on one random key at start (``Store.signing_key``)."""
    if settings.signing_secret:
        return hashlib.sha256(settings.signing_secret.encode()).digest()
    return secrets.token_bytes(32)


def build(
    settings: Settings,
    clock: Clock | None = None,
    store: Store | None = None,
    metrics: Metrics | None = None,
    journal: Journal | None = None,
    fetcher: Fetcher | None = None,
    key: bytes | None = None,
    live: Live | None = None,
) -> Emulator:
    """A fresh emulator: new clock, store, metrics, journal, fetcher and signing key, unless
    handed over (a reset may hand over the store it emptied rather than open another
    connection pool, and hands over the metrics the routes' middleware counts into, the
    journal, emptied, the fetcher, whose HTTP client is the process's one, the signing key the
    other processes share, and the live view of fault plans and runtime settings the routes'
    middleware reads, which starts over).

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
    if journal is None:
        journal = Journal(store, settings.journal_size, clock, shared=settings.store != MEMORY)
    ids = Ids(settings.seed)  # every id of the run: jobs, tasks, files, requests
    renderer = Renderer(load_mode=settings.load_mode, metrics=metrics)
    files = FileService(
        secret=key if key is not None else signing_key(settings),
        ttl=settings.result_ttl,
        seed=settings.seed,
        cache_bytes=settings.image_cache_mb * 1024 * 1024,
        renderer=renderer,
    )
    base = {**DEFAULT_BASE_SECONDS}
    for family, table in settings.base_seconds.items():
        base[family] = {**base.get(family, {}), **table}
    if fetcher is None:
        hosts = settings.fetch_allowlist if settings.fetch_remote == "allowlist" else ()
        fetcher = Fetcher(hosts, timeout=settings.fetch_timeout)

    async def own_file(ref: OwnFile, owner: str) -> bytes | None:
        # Result links of every protocol work as input references (the queue's and 典名词元's),
        # each only as signed and only for the key whose result it is.
        try:
            files.verify(ref.name, ref.expires, ref.sig, clock.now())
        except LinkExpired:
            return None
        service = tasks if is_task_id(ref.request_id) else queue
        return await service.own_file(ref.request_id, ref.index, ref.output_format, owner)

    limits = ImageLimits(
        max_bytes=settings.max_image_mb * 1024 * 1024, max_pixels=settings.max_image_pixels
    )
    inputs = InputResolver(own_file, fetcher, limits)

    # Each service gets its slice of the settings, not all of them; those that may change while
    # the emulator runs (``live.RUNTIME_FIELDS``) are made again from the settings then.
    def outcomes_of(settings: Settings) -> Outcomes:
        latency = LatencyModel(
            base_seconds=base, sigma=settings.latency_sigma, time_scale=settings.time_scale
        )
        return Outcomes(
            seed=settings.seed,
            blocked_terms=tuple(settings.blocked_terms),
            failure_rate=settings.failure_rate,
            time_scale=settings.time_scale,
            latency=latency,
        )

    def policy_of(settings: Settings) -> QueuePolicy:
        return QueuePolicy(
            validation=settings.validation,
            invalid_delay=settings.invalid_delay,
            slots=settings.slots,
            model_slots=dict(settings.model_slots),
            concurrency=settings.queue_concurrency,
            cancel_running=settings.queue_cancel_running,
            position_zero=frozenset(settings.queue_position_zero),
            pending_status=settings.queue_pending_status,
        )

    outcomes = outcomes_of(settings)
    balances = Balances(dict(settings.balances), settings.default_balance_usd)
    policy = policy_of(settings)
    queue = QueueService(
        policy, outcomes, balances, clock, store, documents, files, rules, inputs, ids, metrics
    )
    images = ImagesService(
        outcomes,
        balances,
        clock,
        store,
        documents,
        rules,
        inputs,
        renderer,
        metrics,
        transparent_preview=settings.openai_transparent_preview,
    )
    tasks = TaskService(clock, store, images, files, ids)
    gateway = Gateway(settings.api_keys, settings.rate_limit, limit_policy(settings))

    def apply(changed: Settings) -> None:
        queue.outcomes = images.outcomes = outcomes_of(changed)
        queue.policy = policy_of(changed)
        gateway.limit(changed.rate_limit, limit_policy(changed))

    if live is None:
        config_plans = [parse_plan(plan, documents) for plan in settings.faults]
        live = Live(store, settings, documents, apply, config_plans)
    else:
        live.rebind(store, apply)
    return Emulator(
        settings=settings,
        clock=clock,
        store=store,
        ids=ids,
        documents=documents,
        files=files,
        gateway=gateway,
        queue=queue,
        images=images,
        tasks=tasks,
        metrics=metrics,
        journal=journal,
        fetcher=fetcher,
        live=live,
    )
