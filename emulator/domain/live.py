"""What may change while the emulator runs: fault plans and runtime settings.

Both live in the store, so every worker and replica sharing it works with the same ones; each
process keeps what it last read (``Live``) and reads the store's version again before a
request once ``REFRESH_SECONDS`` have passed (never, with a store of its own: then every change
goes through this process). The control plane answers a change only after waiting that long:
once its answer arrives, every process sharing the store has the change for its next request.

Runtime settings are those ``RUNTIME_FIELDS`` name: changed with ``PATCH /_emulator/config``,
checked with the settings' own constraints, and applied by each process to the services it
runs (``apply``, given by ``emulator.state.build``) for the requests that follow.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from emulator.domain.faults import (
    FaultPlan,
    OperationPlans,
    PlanError,
    by_operation,
    from_stored,
    parse_plan,
)
from emulator.domain.records import StoredFault
from emulator.settings import Settings, SettingsError
from emulator.spec import Document
from emulator.store.base import Store

# Seconds between two reads of a shared store's version by one process, at most: the bound on
# how long another process's change takes to reach this one (the control plane waits it out).
REFRESH_SECONDS = 0.05
# The most plans a store keeps at once.
MAX_PLANS = 1000
# The settings ``PATCH /_emulator/config`` may change while the emulator runs.
RUNTIME_FIELDS = (
    "time_scale",
    "failure_rate",
    "blocked_terms",
    "slots",
    "model_slots",
    "rate_limit",
    "openai_rpm",
    "openai_ipm",
    "agcloud_rpm",
    "agcloud_ipm",
    "queue_rpm",
    "queue_concurrency",
    "aa_rpm",
    "queue_pending_status",
    "queue_cancel_running",
    "queue_position_zero",
)

_log = logging.getLogger("imgemu")


class ConfigError(ValueError):
    """A runtime settings change the emulator cannot take; the message says why."""


def effective(start: Settings, overrides: Mapping[str, Any]) -> Settings:
    """The settings at start with ``overrides`` over them, checked as settings are at start
    (``SettingsError`` names the setting and what is wrong)."""
    return Settings(**{**start.model_dump(), **overrides})


def config_view(settings: Settings, changed: Sequence[str] = ()) -> dict[str, Any]:
    """The runtime settings as the control plane shows them, and the names of those changed."""
    view: dict[str, Any] = settings.model_dump(mode="json", include=set(RUNTIME_FIELDS))
    view = {name: view[name] for name in RUNTIME_FIELDS}
    view["changed"] = sorted(changed)
    return view


class Live:
    """This process's view of the plans and runtime settings in ``store``.

    ``start``: the settings the emulator started with; ``apply``: puts settings into the
    running services; ``config_plans``: the config file's plans, offered to the store on the
    first read (the first process sharing a store since its last reset keeps them).

    One per app: the routes' middleware holds it, and a reset hands it over to the emulator
    it builds (``rebind``).
    """

    def __init__(
        self,
        store: Store,
        start: Settings,
        documents: Mapping[str, Document],
        apply: Callable[[Settings], None],
        config_plans: Sequence[FaultPlan] = (),
    ) -> None:
        self.start = start
        self.documents = documents
        self.seed = start.seed
        self._config_plans = tuple(config_plans)
        self.rebind(store, apply)

    def rebind(self, store: Store, apply: Callable[[Settings], None]) -> None:
        """Start over, with ``apply`` putting settings into a new set of services (a reset):
        nothing read yet, the start's settings, the config file's plans to offer again."""
        self.store = store
        self._apply = apply
        self.settings = self.start  # what the services run with now
        self.plans: tuple[FaultPlan, ...] = ()
        # The plans each operation (provider, kind) may meet: the request's one lookup.
        self.index: dict[tuple[str, str], OperationPlans] = {}
        self._by_id: dict[str, FaultPlan] = {}
        self._overrides: dict[str, Any] = {}
        self._version: str | None = None
        self._offered = False
        self._interval = REFRESH_SECONDS if store.shared else None
        # The monotonic instant from which a request reads the store first (``sync``): at
        # once until the first read, then never with a store of this process's own.
        self.next_read = 0.0
        self._reading: asyncio.Future[None] | None = None
        self._reading_since = 0.0

    # -- reading the store ----------------------------------------------------------------------

    def due(self) -> bool:
        """Whether the store must be read before the next request (``next_read`` has come)."""
        return time.monotonic() >= self.next_read

    async def sync(self) -> None:
        """Read the store's version, and its plans and settings if they changed; requests
        arriving meanwhile wait for the same read (unless it began too long ago to count)."""
        reading = self._reading
        now = time.monotonic()
        stale = self._interval is not None and now - self._reading_since >= self._interval
        if reading is None or reading.done() or stale:
            self._reading_since = now
            reading = self._reading = asyncio.ensure_future(self._read(now))
        await asyncio.shield(reading)

    async def _read(self, started: float) -> None:
        if not self._offered:
            await self._offer()
        version = await self.store.live_version()
        if version != self._version:
            await self._load(version)
        if self._interval is None:
            self.next_read = math.inf
        else:
            self.next_read = max(self.next_read, started + self._interval)

    async def _offer(self) -> None:
        plans = [plan.stored() for plan in self._config_plans]
        if plans and await self.store.add_faults(plans, MAX_PLANS, once=True) is None:
            _log.warning("the config file's fault plans were not kept: %d at most", MAX_PLANS)
        self._offered = True

    async def _load(self, version: str) -> None:
        stored = await self.store.faults()
        overrides = await self.store.config_overrides()
        plans = []
        for fault in stored:
            try:
                plans.append(from_stored(fault, self.documents))
            except PlanError as exc:  # kept by another version of imgemu: not this one's to run
                _log.warning("fault plan %s ignored: %s", fault.plan_id, exc)
        self.plans = tuple(plans)
        self.index = by_operation(plans)
        self._by_id = {plan.plan_id: plan for plan in plans}
        if overrides != self._overrides:
            try:
                settings = effective(self.start, overrides)
            except SettingsError as exc:  # another process's start settings allowed it
                _log.warning("runtime settings ignored: %s", exc)
            else:
                self._apply(settings)
                self.settings = settings
                self._overrides = overrides
        self._version = version

    async def _ready(self) -> None:
        """The config file's plans offered, before the control plane reads or adds any."""
        if not self._offered:
            await self._offer()

    async def changed(self) -> None:
        """This process changed the store: read it now, then let the others read it too
        (with a shared store, wait ``REFRESH_SECONDS``)."""
        await self._load(await self.store.live_version())
        if self._interval is not None:
            await asyncio.sleep(self._interval)

    # -- a request meets the plans ------------------------------------------------------------

    async def take(self, plan_ids: Sequence[str]) -> FaultPlan | None:
        """Count a request for the first of ``plan_ids`` still live; that plan if it applies."""
        found = await self.store.take_fault(plan_ids, self.seed)
        if found is None or not found[1]:
            return None
        return self._by_id.get(found[0])

    # -- the control plane ----------------------------------------------------------------------

    async def add_plan(self, data: Any) -> dict[str, Any]:
        """Check and keep a plan; its view. ``PlanError`` says what is wrong."""
        plan = parse_plan(data, self.documents)
        await self._ready()
        kept = await self.store.add_faults([plan.stored()], MAX_PLANS)
        if kept is None:
            raise PlanError(
                f"at most {MAX_PLANS} plans are kept: delete some (DELETE /_emulator/faults)"
            )
        await self.changed()
        return from_stored(kept[0], self.documents).view()

    async def plan_views(self, test_id: str | None = None) -> list[dict[str, Any]]:
        """Every plan the store keeps (those matching ``test_id`` only, when given), with its
        counts, in the order they were made."""
        return [view for _, view in await self._stored_views(test_id)]

    async def _stored_views(self, test_id: str | None) -> list[tuple[StoredFault, dict[str, Any]]]:
        await self._ready()
        found = []
        for fault in await self.store.faults():
            try:
                plan = from_stored(fault, self.documents)
            except PlanError:
                continue
            if test_id is None or plan.match.test_id == test_id:
                found.append((fault, plan.view(fault.seen, fault.applied)))
        return found

    async def delete_plans(
        self, plan_ids: Sequence[str] | None = None, test_id: str | None = None
    ) -> int:
        """Forget the plans named, those of ``test_id``, or every plan; how many there were."""
        await self._ready()
        if test_id is not None:
            plan_ids = [fault.plan_id for fault, _ in await self._stored_views(test_id)]
            if not plan_ids:
                return 0
        gone = await self.store.delete_faults(plan_ids)
        await self.changed()
        return gone

    async def config(self) -> dict[str, Any]:
        """The runtime settings as the store has them now."""
        overrides = await self.store.config_overrides()
        return config_view(effective(self.start, overrides), list(overrides))

    async def patch_config(self, patch: Any) -> dict[str, Any]:
        """Change runtime settings (a null value goes back to the start's); the whole new
        configuration. ``ConfigError`` says what is wrong, and nothing changes."""
        if not isinstance(patch, dict) or not patch:
            names = ", ".join(RUNTIME_FIELDS)
            raise ConfigError(f"Send a JSON object of the settings to change: {names}")
        for name in patch:
            if name not in RUNTIME_FIELDS:
                raise ConfigError(
                    f"{name}: cannot change while the emulator runs (these can: "
                    f"{', '.join(RUNTIME_FIELDS)})"
                )
        current = await self.store.config_overrides()
        merged = {**current, **patch}
        merged = {name: value for name, value in merged.items() if value is not None}
        try:
            settings = effective(self.start, merged)
        except SettingsError as exc:
            raise ConfigError(str(exc)) from None
        # Kept as the settings read them (a list as a list, a limit with its window).
        dumped = settings.model_dump(mode="json", include=set(patch))
        await self.store.patch_config(
            {name: None if patch[name] is None else dumped[name] for name in patch}
        )
        await self.changed()
        return config_view(settings, list(merged))
