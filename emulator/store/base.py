"""The store interface the domain talks to."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from emulator.domain.records import Job, JournalEntry, StoredFault, Task, record

# Seconds of emulator time a concurrency place waits for its job to be stored (a submit takes
# milliseconds; a place older than this belongs to a submit that never finished), and the wait
# a refusal names when every place is held by such a submit.
HOLD_SECONDS = 60.0
HOLD_WAIT = 1.0


class Store(Protocol):
    """Job records and the shared state around them."""

    # Whether other processes may share the store: then a process learns of their changes to
    # fault plans and runtime settings only by reading it (``live_version``).
    shared: bool

    async def next_seq(self) -> int:
        """A number that orders submissions (FIFO within a pool)."""

    async def put_job(self, job: Job) -> None:
        """Keep a job that never takes a worker slot."""

    async def schedule(self, job: Job, slots: int, now: float) -> Job:
        """Give a job its place in its pool (FIFO over ``slots`` workers) and keep it.

        A pool that had another number of slots gets ``slots`` first: with fewer, the job waits
        until all but ``slots - 1`` of the running jobs are done; with more, new slots are free
        at ``now`` (or when the jobs still running on slots set aside end). Returns the job with
        ``started_at`` and ``finished_at`` set from its ``service_seconds``.
        """

    async def get_job(self, request_id: str) -> Job | None:
        """The job, or None."""

    async def queue_position(self, job: Job, now: float) -> int:
        """How many jobs of the same pool are ahead of ``job`` and still waiting at ``now``."""

    async def job_status(self, request_id: str, now: float) -> tuple[Job, int] | None:
        """The job and its ``queue_position`` at ``now`` (a status read in one call), or None."""

    async def cancel(self, request_id: str, now: float, slots: int) -> Job:
        """Mark the job canceled at ``now`` and move the waiting jobs of its pool up."""

    async def take_rate_slot(self, key: str, limit: int, window: float, now: float) -> float | None:
        """Count one request for ``key``; None if allowed, else seconds until it would be
        (``take_windows`` with one window of one unit)."""

    async def take_windows(self, windows: Sequence[Window], now: float) -> Taken:
        """Count a request in every one of ``windows`` at ``now``, or in none of them.

        Each window is a sliding window of ``seconds``: a unit counted at ``t`` is in it until
        ``t + seconds``. The request takes ``amount`` units of each window; when one of them
        lacks room (its units plus ``amount`` would pass its ``limit``) nothing is taken, and
        the answer names the first such window and how long until it has room.
        """

    async def take_concurrency(self, key: str, request_id: str, limit: int, now: float) -> Busy:
        """Hold a place for job ``request_id`` among ``key``'s unfinished jobs, if fewer than
        ``limit`` of them are unfinished at ``now`` (IN_QUEUE or IN_PROGRESS: stored and not yet
        finished or canceled, or held a moment ago and not stored yet).

        The place lasts as long as the job: once it is stored (``put_job`` or ``schedule``)
        its own times say when it ends, a cancel included.
        """

    async def release_concurrency(self, key: str, request_id: str) -> None:
        """Give back the place of a job that was held but will never be stored."""

    async def charge(self, key: str, amount: float, default_balance: float | None) -> bool:
        """Take ``amount`` USD from the key's balance; False (and nothing taken) if short. A
        negative amount gives that much back."""

    async def set_balance(self, key: str, amount: float) -> None:
        """Set a key's balance in USD."""

    async def balance(self, key: str) -> float | None:
        """A key's balance, None when unlimited or unknown."""

    async def jobs(self, offset: int = 0, limit: int | None = None) -> list[Job]:
        """Jobs oldest first, from ``offset``, at most ``limit`` (control plane)."""

    async def job_count(self) -> int:
        """How many jobs the store holds."""

    async def put_upload(self, owner: str, file_id: str, data: bytes) -> None:
        """Keep a file ``owner`` uploaded (典名词元's ``/api/v1/files``)."""

    async def get_upload(self, owner: str, file_id: str) -> bytes | None:
        """The bytes of a file ``owner`` uploaded, None when unknown (or another owner's)."""

    async def put_task(self, task: Task) -> None:
        """Keep a 典名词元 task (its generation, id and owner) under its task id."""

    async def get_task(self, task_id: str) -> Task | None:
        """A task, None when unknown."""

    async def reset(self) -> None:
        """Forget everything."""

    async def close(self) -> None:
        """Let go of connections (the store is not used afterwards)."""

    async def claim_node(self) -> int:
        """A node number no other live process sharing this store holds (0 for a lone one)."""

    async def renew_node(self, node: int, release: bool = False) -> None:
        """Keep holding ``node`` (a shared store forgets a holder that stops renewing), or let
        it go (``release``)."""

    async def signing_key(self, candidate: bytes) -> bytes:
        """The key every process sharing the store signs result links with: the one the first
        of them offered, else ``candidate`` (kept now). A reset keeps it."""

    # -- metrics (``emulator.domain.metrics``) -------------------------------------------------

    async def add_metrics(self, deltas: Mapping[str, float]) -> None:
        """Add ``deltas`` to the metric totals every process sharing the store adds to, in one
        atomic step (a field not there yet starts at zero)."""

    async def metric_totals(self) -> dict[str, float]:
        """Every metric total, by field."""

    async def pool_stats(self, pools: Sequence[str], now: float) -> list[PoolStats]:
        """Each of ``pools`` (``provider:model``) the store holds, in that order: its slots,
        how many run a job at ``now`` and how many jobs wait for one, read at one instant."""

    # -- the request journal (``emulator.domain.journal``) --------------------------------------

    def journal_append(self, entries: Sequence[JournalEntry], keep: int) -> None:
        """Add ``entries`` (oldest first) to the journal's ring, which keeps the newest
        ``keep`` of all the entries every process sharing the store adds.

        Not a coroutine: it returns at once (the journal calls it from a timer, off every
        request's path). A networked store sends the entries in the background, in order;
        its journal reads, clears, ``reset`` and ``close`` wait for what it has not sent."""

    async def journal_entries(
        self, match: Callable[[JournalEntry], bool], limit: int
    ) -> tuple[list[JournalEntry], int]:
        """The newest ``limit`` entries ``match`` takes, newest first (by their ``time``, the
        instant each request arrived; entries of one instant newest added first), and how
        many it takes in all."""

    async def journal_clear(self, test_id: str | None = None) -> None:
        """Empty the journal, or take out the entries of one test id only."""

    # -- fault plans and runtime settings (``emulator.domain.live``) ---------------------------
    # Every change below gives the store a new ``live_version``; a reset forgets them all.

    async def add_faults(
        self, faults: Sequence[StoredFault], limit: int, once: bool = False
    ) -> list[StoredFault] | None:
        """Keep new plans, in order after those kept, each under the next id (``plan_1``,
        ``plan_2``... counted from the last reset; the ``plan_id`` handed in is ignored), and
        return them as kept. None, and nothing kept, if the store would then hold more than
        ``limit`` plans. With ``once``, nothing is kept (and [] returned) if a ``once`` call
        kept plans since the last reset: each process sharing the store offers the config
        file's plans at start, and only the first keeps them."""

    async def faults(self) -> list[StoredFault]:
        """Every plan, in the order they were kept, with its counts."""

    async def delete_faults(self, plan_ids: Sequence[str] | None = None) -> int:
        """Forget the plans named (every plan: None); how many there were."""

    async def take_fault(self, plan_ids: Sequence[str], seed: int) -> tuple[str, bool] | None:
        """Count one request for the first of ``plan_ids`` that is still kept and not spent,
        in one atomic step: its ``seen`` goes up by one, and by ``records.fault_applies`` (with
        ``seed``) so may its ``applied``. That plan's id and whether it applies; None when
        every plan named is gone or spent."""

    async def live_version(self) -> str:
        """A token that changes with every change of the plans (not of their counts) or of the
        runtime settings, and with a reset (in Redis, back to the empty token of a store with
        no plans and no changed settings)."""

    async def config_overrides(self) -> dict[str, Any]:
        """The runtime settings changed from the start (``PATCH /_emulator/config``), by name."""

    async def patch_config(self, changes: Mapping[str, Any]) -> None:
        """Set each named runtime setting to its value (JSON-able); a None value removes the
        change, back to the start's value. Each setting's change is atomic on its own."""


class StoreUnavailable(Exception):
    """The store cannot be reached; the message says where and why, in one line."""


@record
class Window:
    """One sliding window of a rate limit: at most ``limit`` units per ``seconds`` under
    ``key``; the request being counted takes ``amount`` of them."""

    key: str
    limit: int
    seconds: float
    amount: int = 1


@record
class WindowState:
    """A window after a request was counted (or refused): the units in it, and the seconds
    until its oldest unit leaves it (0 when it is empty)."""

    used: int
    reset: float


@record
class Taken:
    """What ``take_windows`` did: each window's state, in the order given; when the request
    was refused, the index of the first window without room and the seconds until it has room
    for the request's amount."""

    states: tuple[WindowState, ...]
    refused: int | None = None
    wait: float = 0.0


@record
class Busy:
    """What ``take_concurrency`` found: when the request got no place, the key's unfinished
    jobs (``active``, exactly) and the seconds until the first of them ends (``wait``); when
    it got one, the places held, its own included (at least the unfinished jobs: places whose
    end is not due are not looked at then)."""

    active: int
    wait: float | None = None


@dataclass(frozen=True, slots=True)
class PoolStats:
    """A worker pool at one instant: its slots, those running a job, the jobs waiting."""

    pool: str  # provider:model
    slots: int
    busy: int
    waiting: int
