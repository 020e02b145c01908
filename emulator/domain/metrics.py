"""The emulator's counters: counted cheaply in each process, summed in the store for all.

Every process counts into ``Metrics``, a local accumulator of plain numbers: the route
middleware observes each provider operation (``Meter.observe``: status and seconds), the
services count what they do (``charged``, ``submitted``, ``rendered``, ``served``). Those
counts are deltas: ``flush`` takes them (``take``, synchronous, so nothing counted meanwhile
is lost) and adds them to the store's totals in one atomic step (``Store.add_metrics``), which
every process sharing the store adds to and reads from. A flush runs a second after the first
count following the previous one (a timer on the running loop, so it needs no lifespan; an
idle process schedules none), on every scrape before the totals are read, and when the app's
lifespan ends. A failed flush gives its deltas back and tries again a second later. A process
killed outright loses at most its last second of counts.

The totals are a flat mapping, field -> number (``Totals.parse`` reads it back):

- ``req|<provider>|<operation>|<status>``: requests answered;
- ``le|<provider>|<operation>|<bound>``: requests that took at most ``bound`` seconds and more
  than the bound below (one bucket each, ``inf`` the last; the exposition makes them
  cumulative); ``sec|<provider>|<operation>``: their seconds summed;
- ``usd|<provider>``: US dollars charged; ``jobs|<provider>``: queue jobs submitted;
- ``rendered``: images the renderer made; ``served|<delivery>`` and ``bytes|<delivery>``:
  images sent and their bytes (before base64), ``file`` (result-file downloads) or ``b64``
  (inline in an Images answer or stream event).
"""

from __future__ import annotations

import asyncio
import logging
import math
from bisect import bisect_left
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from emulator.domain.records import Status
from emulator.store.base import PoolStats, Store

# Upper bounds (seconds) of the latency buckets: a status read takes well under a millisecond,
# a synchronous generation as long as its model's service time (tens of seconds, real time).
BUCKETS: tuple[float, ...] = (
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
    1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, math.inf,
)  # fmt: skip
_FINITE = BUCKETS[:-1]
FLUSH_SECONDS = 1.0
SEP = "|"
LOGGER = logging.getLogger("imgemu")


def _field(*parts: object) -> str:
    return SEP.join(str(part) for part in parts)


class Meter:
    """One provider operation's requests: counts by status, a latency histogram, seconds.

    Made once per (provider, operation) at start-up; its route middleware calls ``observe``.
    """

    __slots__ = ("buckets", "fields", "operation", "owner", "provider", "seconds", "statuses")

    def __init__(self, owner: Metrics, provider: str, operation: str) -> None:
        self.owner = owner
        self.provider = provider
        self.operation = operation
        self.statuses: dict[int, int] = {}
        self.buckets = [0] * len(BUCKETS)
        self.seconds = 0.0
        self.fields = tuple(_field("le", provider, operation, repr(b)) for b in BUCKETS)

    def observe(self, status: int, seconds: float) -> None:
        """Count one request answered ``status`` after ``seconds``."""
        statuses = self.statuses
        statuses[status] = statuses.get(status, 0) + 1
        self.buckets[bisect_left(_FINITE, seconds)] += 1
        self.seconds += seconds
        owner = self.owner
        if not owner.flush_due:
            owner.schedule_flush()

    def take_into(self, deltas: dict[str, float]) -> None:
        """Move what this meter counted since the last take into ``deltas``."""
        statuses = self.statuses
        if not statuses:
            return
        provider, operation = self.provider, self.operation
        for status, count in statuses.items():
            name = _field("req", provider, operation, status)
            deltas[name] = deltas.get(name, 0) + count
        for name, count in zip(self.fields, self.buckets, strict=True):
            if count:
                deltas[name] = deltas.get(name, 0) + count
        name = _field("sec", provider, operation)
        deltas[name] = deltas.get(name, 0.0) + self.seconds
        self.statuses = {}
        self.buckets = [0] * len(BUCKETS)
        self.seconds = 0.0


class Metrics:
    """This process's counts since its last flush to ``store`` (see the module's text)."""

    def __init__(self, store: Store, flush_seconds: float = FLUSH_SECONDS) -> None:
        self.store = store
        self.flush_seconds = flush_seconds
        self.flush_due = False  # a flush is scheduled (a timer on the running loop)
        self._meters: dict[tuple[str, str], Meter] = {}
        self._counts: dict[str, float] = {}
        self._timer: asyncio.TimerHandle | None = None
        self._task: asyncio.Task[None] | None = None
        self._failing = False

    # -- counting --------------------------------------------------------------------------

    def meter(self, provider: str, operation: str) -> Meter:
        """The meter of one provider operation (the same one for every route of it)."""
        key = (provider, operation)
        found = self._meters.get(key)
        if found is None:
            found = self._meters[key] = Meter(self, provider, operation)
        return found

    def _add(self, name: str, amount: float) -> None:
        counts = self._counts
        counts[name] = counts.get(name, 0) + amount
        if not self.flush_due:
            self.schedule_flush()

    def charged(self, provider: str, usd: float) -> None:
        """``usd`` US dollars taken from a key's balance for one of ``provider``'s requests."""
        self._add("usd" + SEP + provider, usd)

    def submitted(self, provider: str) -> None:
        """A queue job filed (accepted, or refused after submit) for ``provider``."""
        self._add("jobs" + SEP + provider, 1)

    def rendered(self) -> None:
        """An image made by the renderer (a result, a partial image, a load-mode copy)."""
        self._add("rendered", 1)

    def served(self, delivery: str, size: int) -> None:
        """An image of ``size`` bytes sent: ``file`` (a download) or ``b64`` (inline)."""
        self._add("served" + SEP + delivery, 1)
        self._add("bytes" + SEP + delivery, size)

    # -- flushing --------------------------------------------------------------------------

    def take(self) -> dict[str, float]:
        """Every count since the last take, as deltas of the store's fields; counting
        starts again from zero."""
        deltas, self._counts = self._counts, {}
        for meter in self._meters.values():
            meter.take_into(deltas)
        return deltas

    def give_back(self, deltas: Mapping[str, float]) -> None:
        """Deltas a flush could not write: counted again, to go with the next flush."""
        counts = self._counts
        for name, amount in deltas.items():
            counts[name] = counts.get(name, 0) + amount

    def clear(self) -> None:
        """Forget what was counted and not yet flushed (a reset of the emulator)."""
        self.take()

    async def flush(self) -> None:
        """Add this process's counts to the store's totals (nothing is lost if that fails)."""
        deltas = self.take()
        if not deltas:
            return
        try:
            await self.store.add_metrics(deltas)
        except BaseException:
            self.give_back(deltas)
            raise

    def schedule_flush(self) -> None:
        """Flush in ``flush_seconds`` (once: counts meanwhile go with it). A timer rather than
        a sleeping task: a loop closed before it fires drops it without a word."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # counted outside any loop: the next scrape or flush takes it
            return
        self.flush_due = True
        self._timer = loop.call_later(self.flush_seconds, self._start_flush, loop)

    def _start_flush(self, loop: asyncio.AbstractEventLoop) -> None:
        self.flush_due = False  # counts from here on schedule the next flush
        self._timer = None
        self._task = loop.create_task(self._flush_in_background())

    async def _flush_in_background(self) -> None:
        try:
            await self.flush()
            self._failing = False
        except Exception as exc:  # the store is unreachable: try again later, say so once
            if not self._failing:
                LOGGER.warning("metrics: cannot flush to the store: %s", exc)
                self._failing = True
            if not self.flush_due:
                self.schedule_flush()

    async def close(self) -> None:
        """The app stops: the scheduled flush is called off, what is left goes now."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self.flush_due = False
        task, self._task = self._task, None
        if task is not None and not task.done():
            await asyncio.wait({task})
        await self.flush()


@dataclass
class Totals:
    """The store's metric totals, by what they count (``Totals.parse`` of the flat fields)."""

    requests: dict[tuple[str, str, str], float] = field(default_factory=dict)
    # (provider, operation) -> {bucket bound: requests in that bucket alone}
    buckets: dict[tuple[str, str], dict[float, float]] = field(
        default_factory=lambda: defaultdict(dict)
    )
    seconds: dict[tuple[str, str], float] = field(default_factory=dict)
    usd: dict[str, float] = field(default_factory=dict)
    submitted: dict[str, float] = field(default_factory=dict)
    rendered: float = 0.0
    served: dict[str, float] = field(default_factory=dict)
    served_bytes: dict[str, float] = field(default_factory=dict)

    @classmethod
    def parse(cls, fields: Mapping[str, float]) -> Totals:
        """Read the flat fields (see the module's text); a field of another shape is skipped."""
        totals = cls()
        for name, value in fields.items():
            kind, *labels = name.split(SEP)
            if kind == "req" and len(labels) == 3:
                totals.requests[labels[0], labels[1], labels[2]] = value
            elif kind == "le" and len(labels) == 3:
                totals.buckets[labels[0], labels[1]][float(labels[2])] = value
            elif kind == "sec" and len(labels) == 2:
                totals.seconds[labels[0], labels[1]] = value
            elif kind == "usd" and len(labels) == 1:
                totals.usd[labels[0]] = value
            elif kind == "jobs" and len(labels) == 1:
                totals.submitted[labels[0]] = value
            elif kind == "rendered" and not labels:
                totals.rendered = value
            elif kind == "served" and len(labels) == 1:
                totals.served[labels[0]] = value
            elif kind == "bytes" and len(labels) == 1:
                totals.served_bytes[labels[0]] = value
        return totals

    def histogram(self, provider: str, operation: str) -> tuple[list[tuple[float, float]], float]:
        """One operation's cumulative buckets ``(bound, requests <= bound)``, ``inf`` last,
        over the bounds of ``BUCKETS`` and any other the store holds; and its seconds."""
        counts = self.buckets.get((provider, operation), {})
        cumulative, running = [], 0.0
        for bound in sorted(set(BUCKETS) | set(counts)):
            running += counts.get(bound, 0.0)
            cumulative.append((bound, running))
        return cumulative, self.seconds.get((provider, operation), 0.0)


# The states a queue job reports, in order.
JOB_STATES = (Status.IN_QUEUE, Status.IN_PROGRESS, Status.COMPLETED)


def jobs_by_state(
    providers: Sequence[str], submitted: Mapping[str, float], pools: Sequence[PoolStats]
) -> dict[str, dict[Status, int]]:
    """How many of each queue provider's jobs are in each state, from its pools at one instant
    and the jobs it was ever given (``submitted``, since the totals started).

    ``IN_QUEUE``: the jobs waiting for a slot; ``IN_PROGRESS``: the busy slots (one running
    job each); ``COMPLETED``: every other job submitted (finished, failed, canceled; expired
    records included). Jobs refused after submit (``REQUEST_INVALID``, ``CONTENT_BLOCKED``)
    take no slot: they count as ``COMPLETED`` from the start, though a status read answers
    ``IN_QUEUE`` for their first ``invalid_delay`` seconds. Another process's submits reach
    the totals with its next flush: until then ``COMPLETED`` may count them short (never
    below zero).
    """
    states = {p: dict.fromkeys(JOB_STATES, 0) for p in providers}
    for stats in pools:
        counted = states.get(stats.pool.partition(":")[0])
        if counted is not None:
            counted[Status.IN_QUEUE] += stats.waiting
            counted[Status.IN_PROGRESS] += stats.busy
    for provider, counted in states.items():
        live = counted[Status.IN_QUEUE] + counted[Status.IN_PROGRESS]
        counted[Status.COMPLETED] = max(0, int(submitted.get(provider, 0)) - live)
    return states
