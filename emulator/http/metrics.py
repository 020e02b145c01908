"""``GET /metrics``: the emulator's metrics in Prometheus text, the totals of every process.

A scrape flushes this process's counts to the store, reads the totals every process sharing
the store has added to (``Store.metric_totals``) and the queue's pools at the clock's now
(``Store.pool_stats``), and writes them with ``prometheus_client``'s exposition: a collector
made for the scrape yields the families, and the encoder follows the ``Accept`` header
(Prometheus text by default, OpenMetrics when asked). prometheus_client's own metric objects
and its multiprocess mode are not used: they keep counts per process (multiprocess mode in
files of one host's directory), while the emulator's processes may be replicas on several
hosts that share only the store.

Counters: ``imgemu_requests_total`` (provider, operation, status) and the histogram
``imgemu_request_duration_seconds`` (provider, operation) of the provider operations only (not
the control plane, documents, files or this page); ``imgemu_jobs_submitted_total`` (provider);
``imgemu_charged_usd_total`` (provider); ``imgemu_images_rendered_total``;
``imgemu_images_served_total`` and ``imgemu_images_served_bytes_total`` (delivery: ``file`` or
``b64``). Gauges at the scrape's instant: ``imgemu_jobs`` (provider, state), and per queue pool
(provider, model) ``imgemu_queue_depth``, ``imgemu_pool_busy_slots``, ``imgemu_pool_slots``.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.exposition import choose_encoder
from prometheus_client.registry import Collector
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from emulator.domain.catalog import QUEUE_MODELS
from emulator.domain.metrics import Totals, jobs_by_state
from emulator.providers import PROVIDERS, named
from emulator.state import Emulator
from emulator.store.base import PoolStats

QUEUE_PROVIDERS = named("queue")
DELIVERIES = ("b64", "file")
# Every pool a queue job can run in: one per (queue provider, queue model).
POOLS = tuple(f"{provider}:{model}" for provider in QUEUE_PROVIDERS for model in QUEUE_MODELS)


class Scrape(Collector):
    """The families of one scrape, from the totals and the pools read for it."""

    def __init__(self, totals: Totals, pools: Sequence[PoolStats]) -> None:
        self.totals = totals
        self.pools = pools

    def collect(self) -> Iterator[Metric]:
        totals = self.totals
        requests = CounterMetricFamily(
            "imgemu_requests",
            "Provider operations answered, by provider, operation and HTTP status.",
            labels=["provider", "operation", "status"],
        )
        for (provider, operation, status), count in sorted(totals.requests.items()):
            requests.add_metric([provider, operation, status], count)
        yield requests

        latency = HistogramMetricFamily(
            "imgemu_request_duration_seconds",
            "Seconds from a provider operation's call to the end of its answer.",
            labels=["provider", "operation"],
        )
        for provider, operation in sorted(totals.buckets):
            buckets, seconds = totals.histogram(provider, operation)
            latency.add_metric(
                [provider, operation],
                [(_bound(bound), count) for bound, count in buckets],
                seconds,
            )
        yield latency

        yield _by_label(
            CounterMetricFamily(
                "imgemu_jobs_submitted",
                "Queue jobs submitted (accepted, or refused after submit), by provider.",
                labels=["provider"],
            ),
            {p: totals.submitted.get(p, 0.0) for p in QUEUE_PROVIDERS},
        )
        jobs = GaugeMetricFamily(
            "imgemu_jobs",
            "Queue jobs by state at the scrape's instant: IN_QUEUE (waiting for a slot), "
            "IN_PROGRESS (running), COMPLETED (every other job submitted).",
            labels=["provider", "state"],
        )
        states = jobs_by_state(QUEUE_PROVIDERS, totals.submitted, self.pools)
        for provider, counts in states.items():
            for state, count in counts.items():
                jobs.add_metric([provider, state.value], count)
        yield jobs

        pool_gauges = (
            ("imgemu_queue_depth", "Jobs waiting for a slot of the pool.", "waiting"),
            ("imgemu_pool_busy_slots", "Slots of the pool running a job.", "busy"),
            ("imgemu_pool_slots", "Slots of the pool.", "slots"),
        )
        for name, text, attribute in pool_gauges:
            gauge = GaugeMetricFamily(name, text, labels=["provider", "model"])
            for stats in self.pools:
                provider, _, model = stats.pool.partition(":")
                gauge.add_metric([provider, model], getattr(stats, attribute))
            yield gauge

        yield _by_label(
            CounterMetricFamily(
                "imgemu_charged_usd",
                "US dollars charged to the keys' balances, by provider.",
                labels=["provider"],
            ),
            {**dict.fromkeys(PROVIDERS, 0.0), **totals.usd},
        )
        yield CounterMetricFamily(
            "imgemu_images_rendered",
            "Images made by the renderer (results, partial images, load-mode copies).",
            value=totals.rendered,
        )
        yield _by_label(
            CounterMetricFamily(
                "imgemu_images_served",
                "Images sent: result-file downloads (file) and inline base64 images (b64).",
                labels=["delivery"],
            ),
            {**dict.fromkeys(DELIVERIES, 0.0), **totals.served},
        )
        yield _by_label(
            CounterMetricFamily(
                "imgemu_images_served_bytes",
                "Bytes of the images sent (before base64), by delivery.",
                labels=["delivery"],
            ),
            {**dict.fromkeys(DELIVERIES, 0.0), **totals.served_bytes},
        )


def _bound(seconds: float) -> str:
    """A bucket's ``le`` as Prometheus writes it: ``0.005``, ``1.0``, ``+Inf``."""
    return "+Inf" if seconds == math.inf else repr(seconds)


def _by_label(family: CounterMetricFamily, values: dict[str, float]) -> CounterMetricFamily:
    for label, value in sorted(values.items()):
        family.add_metric([label], value)
    return family


async def metrics(request: Request) -> Response:
    """The totals of every process sharing the store, this one's counts flushed first."""
    emulator: Emulator = request.app.state.emulator
    await emulator.metrics.flush()
    store = emulator.store
    totals = Totals.parse(await store.metric_totals())
    pools = await store.pool_stats(POOLS, emulator.clock.now())
    encode, content_type = choose_encoder(request.headers.get("accept", ""))
    return Response(encode(Scrape(totals, pools)), headers={"Content-Type": content_type})


def metrics_routes(middleware: Sequence[Middleware] = ()) -> list[BaseRoute]:
    """``GET /metrics``, behind ``middleware`` (the control token's lock, when set)."""
    return [Route("/metrics", metrics, methods=["GET"], middleware=middleware)]
