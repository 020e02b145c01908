"""The Redis store: the emulator's state shared by every worker and replica on one Redis.

**Keys.** Every key starts with ``imgemu:{NAMESPACE}:`` (the ``namespace`` query parameter
of the store URL, ``default`` when absent): emulators that share a Redis database without
sharing state take different namespaces; workers and replicas of one emulator take the same.
The braces are a Redis Cluster hash tag, so every key of a namespace lives in one slot and
the scripts may touch any of them. Under the prefix:

- ``seq``: the counter of ``next_seq``;
- ``jobs``: sorted set, request id by seq (the control plane's listing and count);
- ``job:<id>``: hash; ``r`` the record (``emulator.store.codec``), and beside it what the
  scripts read and move: ``s`` started (empty: never takes a slot), ``f`` finished, ``c``
  canceled (absent: not canceled), ``q`` seq (zero-padded), ``d`` service seconds, ``p`` pool.
  The times in ``s f c`` win over those inside ``r``;
- per pool (``provider:model``): ``free:<pool>`` sorted set, slot by the instant it frees
  (the memory store's heap); ``starts:<pool>`` sorted set, padded seq by the start of a job
  still waiting when it was scheduled (equal starts order by seq, as the memory store's
  tuples do); ``active:<pool>`` list of unfinished job ids in FIFO order; ``parked:<pool>``
  sorted set, the slots set aside while the pool has fewer than it had (``resize_pool`` in
  ``common.lua``);
- ``rate:<key>``: a rate limit's window, sorted set of units by the instant each was counted;
  ``held:<key>``: a key's concurrency places, sorted set of request ids by the end of each
  place as last seen (the job's own hash says when it ends); ``bal:<owner>``: USD left;
- ``upload:<owner>:<file id>``: the bytes (another owner's file id names no key);
  ``uploads:index`` (sorted set: upload key by the order it was kept, ``uploads:order``),
  ``uploads:sizes`` (hash: upload key -> bytes) and ``uploads:total``: what the byte budget
  counts (``put_upload.lua``);
  ``task:<task id>``: the record;
- ``signing_key``: the key every process on the namespace signs result links with (the first
  to start chose it at random, ``signing_key.lua``); it has no expiry and a reset keeps it;
- ``metrics``: hash, the metric totals every process adds its counts to (field -> number,
  ``emulator.domain.metrics``);
- fault plans: ``faults`` sorted set, plan id by its number (the order they were kept);
  ``fault:<id>`` hash, ``b`` the plan's JSON, ``a`` after, ``t`` times (empty: never spent),
  ``p`` probability, ``s`` seen, ``n`` applied; ``faults:n`` the ids' counter;
  ``faults:offered`` set once the config file's plans were kept;
- ``config``: hash, runtime setting -> its JSON value (``PATCH /_emulator/config``);
- ``live``: the version token of the plans and runtime settings, new at every change.

**Atomic.** Every read-modify-write is one Lua script (``*.lua`` beside this module, each
prefixed with ``common.lua``), run by its SHA; redis-py loads it again if Redis lost it.
Reads of one key are single commands. One round trip per operation.

**Bounded.** Every key gets a time to live of ``ttl`` (``result_ttl`` plus ``GRACE``, the
constant of ``emulator.domain.records`` both stores use) and, for a job or a pool, the seconds
until the job finishes; writes renew it. Redis counts real seconds: on a virtual clock that
runs ahead, records live by the wall clock. Uploads also share a byte budget
(``upload_bytes``, the memory store's): past it the oldest go first, the newest is kept
whatever its size.
Fault plans and runtime settings have no time to live: they are few (plans are counted,
``emulator.domain.live.MAX_PLANS``) and last until deleted or reset.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Awaitable, Mapping, Sequence
from importlib import resources
from typing import Any, cast

import redis
import redis.asyncio
import redis.exceptions

from emulator.domain.records import GRACE as GRACE  # the stores share it
from emulator.domain.records import Job, StoredFault, Task
from emulator.store.base import (
    HOLD_SECONDS,
    HOLD_WAIT,
    Busy,
    PoolStats,
    StoreUnavailable,
    Taken,
    Window,
    WindowState,
)
from emulator.store.codec import decode_job, decode_task, encode_job, encode_task
from emulator.store.url import RedisTarget

KEY_PREFIX = "imgemu:"
SCRIPTS = (
    "next_seq",
    "put_job",
    "schedule",
    "job_status",
    "queue_position",
    "cancel",
    "take_windows",
    "take_concurrency",
    "charge",
    "jobs",
    "claim_node",
    "renew_node",
    "add_metrics",
    "pool_stats",
    "signing_key",
    "put_upload",
    "add_faults",
    "faults",
    "delete_faults",
    "take_fault",
    "patch_config",
)
# Node numbers (``Store.claim_node``): held this many seconds unless renewed, and at most this
# many processes at once on one namespace.
NODE_SECONDS = 30
MAX_NODES = 1024
CONNECT_TIMEOUT = 5.0


def script_text(name: str) -> str:
    """A script as Redis runs it: the shared functions, then its own body."""
    here = resources.files(__name__)
    return here.joinpath("common.lua").read_text() + here.joinpath(f"{name}.lua").read_text()


def _num(value: float) -> str:
    """A float as text that reads back as the same double (here and in Lua)."""
    return repr(float(value))


def _seq(seq: int) -> str:
    """A seq as a member of a sorted set: zero-padded, so text order is number order."""
    return f"{seq:020d}"


Times = tuple[float | None, float, float | None]


def _times(started: bytes, finished: bytes, canceled: bytes) -> Times:
    return (
        float(started) if started else None,
        float(finished),
        float(canceled) if canceled else None,
    )


class RedisStore:
    """The ``Store`` on a Redis server; one connection pool per store.

    ``ttl`` is the store's time to live of a record in seconds (``result_ttl`` plus ``GRACE``).
    Connections open on first use, in the event loop that uses them; ``close`` lets them go.
    """

    shared = True  # every process given the same URL and namespace

    def __init__(self, target: RedisTarget, ttl: float, upload_bytes: int | None = None) -> None:
        self.target = target
        self.ttl = ttl
        self.upload_bytes = upload_bytes
        self.prefix = f"{KEY_PREFIX}{{{target.namespace}}}:"
        self._pool = redis.asyncio.ConnectionPool.from_url(target.url)
        self._redis = redis.asyncio.Redis(connection_pool=self._pool)
        self._scripts = {name: self._redis.register_script(script_text(name)) for name in SCRIPTS}
        self._seq_key = self.prefix + "seq"
        self._node_token = secrets.token_hex(8)  # this store's claim on its node number
        self._index = self.prefix + "jobs"
        self._signing_key = self.prefix + "signing_key"

    def check(self) -> None:
        """Reach the server now (blocking) and load the scripts, or raise ``StoreUnavailable``."""
        try:
            client = redis.Redis.from_url(
                self.target.url,
                socket_connect_timeout=CONNECT_TIMEOUT,
                socket_timeout=CONNECT_TIMEOUT,
            )
            try:
                client.ping()
                for name in SCRIPTS:
                    client.script_load(script_text(name))
            finally:
                client.close()
        except (redis.exceptions.RedisError, OSError, TypeError, ValueError) as exc:
            reason = " ".join(str(exc).split()) or type(exc).__name__
            where = self.target.shown
            raise StoreUnavailable(f"cannot reach the store {where}: {reason}") from None

    async def _run(self, name: str, keys: Sequence[str], args: Sequence[str | bytes]) -> Any:
        return await self._scripts[name](keys=keys, args=args)

    def _job_key(self, request_id: str) -> str:
        return f"{self.prefix}job:{request_id}"

    # -- jobs and pools ---------------------------------------------------------------------

    async def next_seq(self) -> int:
        return int(await self._run("next_seq", (self._seq_key, self._index), (_num(self.ttl),)))

    async def put_job(self, job: Job) -> None:
        await self._run(
            "put_job",
            (self._job_key(job.request_id), self._index),
            (
                job.request_id,
                encode_job(job),
                "" if job.started_at is None else _num(job.started_at),
                _num(job.finished_at),
                "" if job.canceled_at is None else _num(job.canceled_at),
                _seq(job.seq),
                str(job.seq),
                _num(job.service_seconds),
                job.pool,
                _num(self.ttl),
                _num(job.finished_at - job.submitted_at),
                self.prefix,
            ),
        )

    async def schedule(self, job: Job, slots: int, now: float) -> Job:
        pool = job.pool
        start, finish = await self._run(
            "schedule",
            (
                self._job_key(job.request_id),
                self._index,
                f"{self.prefix}free:{pool}",
                f"{self.prefix}starts:{pool}",
                f"{self.prefix}active:{pool}",
                f"{self.prefix}parked:{pool}",
            ),
            (
                _num(now),
                str(slots),
                _num(job.service_seconds),
                _seq(job.seq),
                str(job.seq),
                # The record as scheduled is written with the times the script chooses; the
                # hash's own fields carry them, so the record's copy may be the unscheduled one.
                encode_job(job),
                pool,
                "" if job.canceled_at is None else _num(job.canceled_at),
                _num(self.ttl),
                self.prefix,
                job.request_id,
            ),
        )
        return job.scheduled(float(start), float(finish))

    async def get_job(self, request_id: str) -> Job | None:
        record, started, finished, canceled = await cast(
            Awaitable[list[bytes | None]],
            self._redis.hmget(self._job_key(request_id), ["r", "s", "f", "c"]),
        )
        if record is None or finished is None:
            return None
        return decode_job(record, _times(started or b"", finished, canceled or b""))

    async def queue_position(self, job: Job, now: float) -> int:
        if job.started_at is None or job.started_at <= now:
            return 0
        position = await self._run(
            "queue_position",
            (f"{self.prefix}starts:{job.pool}",),
            (_num(now), _num(job.started_at), _seq(job.seq)),
        )
        return int(position)

    async def job_status(self, request_id: str, now: float) -> tuple[Job, int] | None:
        found = await self._run(
            "job_status", (self._job_key(request_id),), (_num(now), self.prefix)
        )
        if found is None:
            return None
        record, started, finished, canceled, position = found
        return decode_job(record, _times(started, finished, canceled)), int(position)

    async def cancel(self, request_id: str, now: float, slots: int) -> Job:
        found = await self._run(
            "cancel",
            (self._job_key(request_id),),
            (_num(now), str(slots), _num(self.ttl), self.prefix),
        )
        if found is None:
            raise KeyError(request_id)
        record, started, finished, canceled = found
        return decode_job(record, _times(started, finished, canceled))

    async def jobs(self, offset: int = 0, limit: int | None = None) -> list[Job]:
        fields = await self._run(
            "jobs", (self._index,), (str(offset), str(-1 if limit is None else limit), self.prefix)
        )
        return [
            decode_job(fields[i], _times(fields[i + 1], fields[i + 2], fields[i + 3]))
            for i in range(0, len(fields), 4)
        ]

    async def job_count(self) -> int:
        return int(await self._redis.zcard(self._index))

    # -- limits and balances ------------------------------------------------------------------

    async def take_rate_slot(self, key: str, limit: int, window: float, now: float) -> float | None:
        taken = await self.take_windows((Window(key, limit, window),), now)
        return None if taken.refused is None else taken.wait

    async def take_windows(self, windows: Sequence[Window], now: float) -> Taken:
        args = [_num(now), _num(self.ttl)]
        for window in windows:
            args += [str(window.limit), _num(window.seconds), str(window.amount)]
        found = await self._run(
            "take_windows", [f"{self.prefix}rate:{window.key}" for window in windows], args
        )
        refused = int(found[0])
        states = tuple(
            WindowState(int(found[i]), float(found[i + 1])) for i in range(2, len(found), 2)
        )
        if refused == 0:
            return Taken(states)
        return Taken(states, refused - 1, float(found[1]))

    async def take_concurrency(self, key: str, request_id: str, limit: int, now: float) -> Busy:
        found = await self._run(
            "take_concurrency",
            (f"{self.prefix}held:{key}",),
            (
                _num(now),
                str(limit),
                request_id,
                self.prefix,
                _num(HOLD_SECONDS),
                _num(HOLD_WAIT),
                _num(self.ttl),
            ),
        )
        return Busy(int(found[0]), float(found[1]) if len(found) > 1 else None)

    async def release_concurrency(self, key: str, request_id: str) -> None:
        await self._redis.zrem(f"{self.prefix}held:{key}", request_id)

    async def charge(self, key: str, amount: float, default_balance: float | None) -> bool:
        taken = await self._run(
            "charge",
            (f"{self.prefix}bal:{key}",),
            (
                _num(amount),
                "" if default_balance is None else _num(default_balance),
                _num(self.ttl),
            ),
        )
        return bool(taken)

    async def set_balance(self, key: str, amount: float) -> None:
        await self._redis.set(f"{self.prefix}bal:{key}", _num(amount), px=self._ms(0.0))

    async def balance(self, key: str) -> float | None:
        value = await cast(Awaitable[bytes | None], self._redis.get(f"{self.prefix}bal:{key}"))
        return None if value is None else float(value)

    # -- uploads and tasks --------------------------------------------------------------------

    async def put_upload(self, owner: str, file_id: str, data: bytes) -> None:
        budget = -1 if self.upload_bytes is None else self.upload_bytes
        keys = [f"{self.prefix}upload:{owner}:{file_id}"]
        keys += [f"{self.prefix}uploads:{part}" for part in ("index", "sizes", "total", "order")]
        await self._run("put_upload", keys, (data, str(self._ms(0.0)), str(budget)))

    async def get_upload(self, owner: str, file_id: str) -> bytes | None:
        return await cast(
            Awaitable[bytes | None], self._redis.get(f"{self.prefix}upload:{owner}:{file_id}")
        )

    async def put_task(self, task: Task) -> None:
        g = task.generation
        await self._redis.set(
            f"{self.prefix}task:{task.task_id}",
            encode_task(task),
            px=self._ms(g.finishes_at - g.started_at),
        )

    async def get_task(self, task_id: str) -> Task | None:
        data = await cast(Awaitable[bytes | None], self._redis.get(f"{self.prefix}task:{task_id}"))
        return None if data is None else decode_task(data)

    # -- the whole store ----------------------------------------------------------------------

    async def reset(self) -> None:
        """Delete every key of the namespace but its signing key, which the processes sharing
        it keep signing with (other namespaces keep theirs)."""
        batch: list[bytes] = []
        kept = self._signing_key.encode()
        async for key in self._redis.scan_iter(match=self.prefix + "*", count=1000):
            if key == kept:
                continue
            batch.append(key)
            if len(batch) >= 1000:
                await self._redis.unlink(*batch)
                batch.clear()
        if batch:
            await self._redis.unlink(*batch)

    async def close(self) -> None:
        await self._pool.aclose()

    # -- processes --------------------------------------------------------------------------

    async def claim_node(self) -> int:
        """The lowest node number no live process on this namespace holds (``node:<n>``,
        held for ``NODE_SECONDS`` and renewed by ``renew_node``)."""
        node = int(
            await self._run(
                "claim_node",
                [self.prefix + "node:"],
                [self._node_token, str(NODE_SECONDS), str(MAX_NODES)],
            )
        )
        if node < 0:
            raise StoreUnavailable(f"{MAX_NODES} processes already share {self.target.shown}")
        return node

    async def renew_node(self, node: int, release: bool = False) -> None:
        """Keep holding ``node`` another ``NODE_SECONDS`` (or let it go: ``release``)."""
        seconds = "0" if release else str(NODE_SECONDS)
        await self._run("renew_node", [f"{self.prefix}node:{node}"], [self._node_token, seconds])

    async def signing_key(self, candidate: bytes) -> bytes:
        """The namespace's signing key: the first process's random one (``signing_key.lua``)."""
        kept: bytes = await self._run("signing_key", (self._signing_key,), (candidate,))
        return kept

    def _ms(self, extra: float) -> int:
        """PX of a key: the time to live plus ``extra`` seconds, in whole milliseconds."""
        return int((self.ttl + max(0.0, extra)) * 1000) + 1

    # -- metrics ------------------------------------------------------------------------------

    async def add_metrics(self, deltas: Mapping[str, float]) -> None:
        if not deltas:
            return
        args = [_num(self.ttl)]
        for name, amount in deltas.items():
            args.append(name)
            args.append(str(amount) if isinstance(amount, int) else _num(amount))
        await self._run("add_metrics", (self.prefix + "metrics",), args)

    async def metric_totals(self) -> dict[str, float]:
        found = await cast(
            Awaitable[dict[bytes, bytes]], self._redis.hgetall(self.prefix + "metrics")
        )
        return {name.decode(): float(value) for name, value in found.items()}

    async def pool_stats(self, pools: Sequence[str], now: float) -> list[PoolStats]:
        if not pools:
            return []
        keys = []
        for pool in pools:
            keys.append(f"{self.prefix}free:{pool}")
            keys.append(f"{self.prefix}starts:{pool}")
        found = await self._run("pool_stats", keys, (_num(now),))
        stats = [int(n) for n in found]
        return [
            PoolStats(pools[stats[i] - 1], stats[i + 1], stats[i + 2], stats[i + 3])
            for i in range(0, len(stats), 4)
        ]

    # -- fault plans and runtime settings -----------------------------------------------------

    def _live_keys(self) -> tuple[str, str]:
        return self.prefix + "faults", self.prefix + "live"

    async def add_faults(
        self, faults: Sequence[StoredFault], limit: int, once: bool = False
    ) -> list[StoredFault] | None:
        index, live = self._live_keys()
        args: list[str] = [self.prefix, str(limit), "1" if once else "", secrets.token_hex(8)]
        for fault in faults:
            times = "" if fault.times is None else str(fault.times)
            args += [fault.body, str(fault.after), times, _num(fault.probability)]
        keys = (index, self.prefix + "faults:n", self.prefix + "faults:offered", live)
        ids = await self._run("add_faults", keys, args)
        if ids is None:
            return None
        if not ids:  # offered once already
            return []
        return [
            StoredFault(plan_id.decode(), fault.body, fault.after, fault.times, fault.probability)
            for plan_id, fault in zip(ids, faults, strict=True)
        ]

    async def faults(self) -> list[StoredFault]:
        values = await self._run("faults", (self.prefix + "faults",), (self.prefix,))
        return [
            StoredFault(
                plan_id=values[i].decode(),
                body=values[i + 1].decode(),
                after=int(values[i + 2]),
                times=int(values[i + 3]) if values[i + 3] else None,
                probability=float(values[i + 4]),
                seen=int(values[i + 5]),
                applied=int(values[i + 6]),
            )
            for i in range(0, len(values), 7)
        ]

    async def delete_faults(self, plan_ids: Sequence[str] | None = None) -> int:
        every = "1" if plan_ids is None else ""
        args = [self.prefix, secrets.token_hex(8), every, *(plan_ids or ())]
        return int(await self._run("delete_faults", self._live_keys(), args))

    async def take_fault(self, plan_ids: Sequence[str], seed: int) -> tuple[str, bool] | None:
        # The index is named for a cluster's routing only: the plans' keys share its slot.
        keys = (self.prefix + "faults",)
        found = await self._run("take_fault", keys, (self.prefix, str(seed), *plan_ids))
        if found is None:
            return None
        return found[0].decode(), bool(int(found[1]))

    async def live_version(self) -> str:
        token = await cast(Awaitable[bytes | None], self._redis.get(self.prefix + "live"))
        return "" if token is None else token.decode()

    async def config_overrides(self) -> dict[str, Any]:
        found = await cast(
            Awaitable[dict[bytes, bytes]], self._redis.hgetall(self.prefix + "config")
        )
        return {name.decode(): json.loads(value) for name, value in found.items()}

    async def patch_config(self, changes: Mapping[str, Any]) -> None:
        args = [secrets.token_hex(8)]
        for name, value in changes.items():
            args += [name, "" if value is None else json.dumps(value)]
        await self._run("patch_config", (self.prefix + "config", self.prefix + "live"), args)
