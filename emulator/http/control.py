"""The control plane under ``/_emulator/``: health, reset, clock, jobs, balances, capabilities,
fault plans, runtime settings, the request journal and the verdicts drawn from it.

The routes that change the emulator (reset, the clock, a balance, fault plans, runtime
settings) are journaled as the provider ``_emulator`` when the journal is on.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from functools import partial
from typing import Any

from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.types import Scope

from emulator.domain.catalog import IMAGE_MODELS, QUEUE_MODELS
from emulator.domain.clock import VirtualClock
from emulator.domain.errors import BodyTooLarge, DomainError
from emulator.domain.faults import PlanError
from emulator.domain.gateway import owner_of
from emulator.domain.jobs import state_at
from emulator.domain.journal import Filter, Journal, clean_test_id, key_digest
from emulator.domain.live import ConfigError
from emulator.domain.records import Job, JournalEntry
from emulator.domain.verdicts import RULES, Finding, judge
from emulator.http.common import NotJson, json_response, load_json
from emulator.http.dialects import read_error
from emulator.http.middleware.body_limit import BodyLimit
from emulator.http.middleware.gateway import KEY
from emulator.http.middleware.journal import FIELDS, JournalMiddleware, test_id_of
from emulator.http.queue.render import body_too_large_text
from emulator.providers import PROVIDERS
from emulator.settings import Settings
from emulator.spec import Document
from emulator.state import Emulator, build


def _emulator(request: Request) -> Emulator:
    emulator: Emulator = request.app.state.emulator
    return emulator


async def _json_object(request: Request) -> dict[str, Any] | None:
    try:
        body = load_json(await request.body() or b"{}")
    except NotJson:
        return None
    request.scope[FIELDS] = body
    return body if isinstance(body, dict) else None


def _bad(message: str) -> Response:
    return json_response({"detail": message}, 400)


async def health(request: Request) -> Response:
    return json_response({"status": "ok"})


async def reset(request: Request) -> Response:
    """Forget every job, balance, cached file and metric; a virtual clock keeps its time."""
    old = _emulator(request)
    clock = old.clock if isinstance(old.clock, VirtualClock) else None
    # The store is emptied and kept: a shared one (Redis) forgets for every process at once.
    # The metrics (which the routes count into) are kept too, their unflushed counts dropped.
    old.metrics.clear()
    old.journal.discard()
    await old.store.reset()
    # The signing key is kept too: the other processes sharing the store sign with it.
    fresh = build(
        old.settings,
        clock=clock,
        store=old.store,
        metrics=old.metrics,
        journal=old.journal,
        fetcher=old.fetcher,
        key=old.files.secret,
        live=old.live,
    )
    fresh.ids.assign(old.ids.node_number)  # the process keeps its node number
    # The config file's fault plans start over, and every process sharing the store sees the
    # plans and runtime settings go back to the start's.
    await fresh.live.sync()
    request.app.state.emulator = fresh
    return json_response({"status": "reset"})


def _clock_body(emulator: Emulator) -> dict[str, Any]:
    return {
        "now": emulator.clock.now(),
        "kind": emulator.settings.clock,
        "time_scale": emulator.live.settings.time_scale,
    }


async def get_clock(request: Request) -> Response:
    return json_response(_clock_body(_emulator(request)))


async def move_clock(request: Request) -> Response:
    """``{"advance": seconds}`` or ``{"set": unix_seconds}``; only a virtual clock moves."""
    emulator = _emulator(request)
    clock = emulator.clock
    if not isinstance(clock, VirtualClock):
        return json_response({"detail": "The clock is real; start with --clock virtual"}, 409)
    body = await _json_object(request)
    if body is None or len(body.keys() & {"advance", "set"}) != 1:
        return _bad('Send {"advance": seconds} or {"set": unix_seconds}')
    value = body.get("advance", body.get("set"))
    if isinstance(value, bool) or not isinstance(value, int | float):
        return _bad("The value must be a number")
    try:
        clock.advance(value) if "advance" in body else clock.set(value)
    except ValueError as exc:
        return _bad(str(exc))
    return json_response(_clock_body(emulator))


def _job_view(job: Job, now: float) -> dict[str, Any]:
    state = state_at(job, now)
    return {
        "request_id": job.request_id,
        "provider": job.provider,
        "model": job.model,
        "owner": job.owner,
        "status": state.status.value,
        "error_type": state.error_type.value if state.error_type else None,
        "submitted_at": job.submitted_at,
        "started_at": job.started_at,
        "finished_at": job.finished_at,
        "canceled_at": job.canceled_at,
        "outputs": len(job.outputs),
    }


JOBS_PAGE = 100
JOBS_PAGE_MAX = 10_000


def _query_int(request: Request, name: str, default: int, low: int, high: int) -> int | None:
    text = request.query_params.get(name)
    if text is None:
        return default
    try:
        value = int(text)
    except ValueError:
        return None
    return value if low <= value <= high else None


async def list_jobs(request: Request) -> Response:
    """Jobs oldest first, a page at a time (``?offset=0&limit=100``): a load test makes many."""
    emulator = _emulator(request)
    offset = _query_int(request, "offset", 0, 0, 2**62)
    limit = _query_int(request, "limit", JOBS_PAGE, 1, JOBS_PAGE_MAX)
    if offset is None or limit is None:
        return _bad(f"offset must be an integer >= 0 and limit an integer 1-{JOBS_PAGE_MAX}")
    now = emulator.clock.now()
    jobs = await emulator.store.jobs(offset, limit)
    return json_response(
        {
            "jobs": [_job_view(job, now) for job in jobs],
            "total": await emulator.store.job_count(),
            "offset": offset,
            "limit": limit,
        }
    )


async def get_job(request: Request) -> Response:
    emulator = _emulator(request)
    job = await emulator.store.get_job(request.path_params["request_id"])
    if job is None:
        return json_response({"detail": "Request not found"}, 404)
    return json_response(_job_view(job, emulator.clock.now()))


async def get_balance(request: Request) -> Response:
    """A key's balance in USD (null: unlimited)."""
    emulator = _emulator(request)
    owner = owner_of(request.path_params["key"])
    return json_response({"usd": await emulator.store.balance(owner)})


async def set_balance(request: Request) -> Response:
    """PUT ``{"usd": amount}``: set a key's balance."""
    emulator = _emulator(request)
    request.scope[KEY] = request.path_params["key"]  # journaled by its digest
    owner = owner_of(request.path_params["key"])
    body = await _json_object(request)
    usd = body.get("usd") if body else None
    if isinstance(usd, bool) or not isinstance(usd, int | float):
        return _bad('Send {"usd": amount}')
    await emulator.store.set_balance(owner, float(usd))
    return json_response({"usd": await emulator.store.balance(owner)})


def _provider_view(provider: str, doc: Document, settings: Settings) -> dict[str, Any]:
    row = PROVIDERS[provider]
    if row.protocol == "queue":
        path = row.base_path(settings.queue_provider)
        return {"protocol": "queue", "path": path, "models": sorted(doc.models)}
    paths = sorted({op.path for op in doc.operations.values()})
    view: dict[str, Any] = {"protocol": row.protocol, "paths": paths}
    if provider == "openai":  # what this provider's models do that the catalog's rows do not say
        schema = doc.raw["components"]["schemas"]["ImageModel"]
        view["models"] = list(schema["enum"])
        view["transparent_preview"] = settings.openai_transparent_preview
    return view


async def capabilities(request: Request) -> Response:
    emulator = _emulator(request)
    settings = emulator.settings
    return json_response(
        {
            "providers": {
                provider: _provider_view(provider, doc, settings)
                for provider, doc in emulator.documents.items()
            },
            "models": {
                model_id: {
                    "family": info.family,
                    "edit": info.edit,
                    "transparency": info.transparency,
                }
                for model_id, info in QUEUE_MODELS.items()
            },
            "image_models": {
                model_id: {
                    "family": info.family,
                    "custom_sizes": info.custom_sizes,
                    "transparency": info.transparency,
                    "input_fidelity": list(info.input_fidelity),
                    "quality": info.quality,
                }
                for model_id, info in IMAGE_MODELS.items()
            },
            "validation": settings.validation,
            "clock": settings.clock,
            "time_scale": emulator.live.settings.time_scale,
            "steering": settings.steering,
        }
    )


# -- the request journal ------------------------------------------------------------------------

JOURNAL_PAGE = 100
JOURNAL_PAGE_MAX = 10_000
JOURNAL_FILTERS = ("provider", "operation", "path", "status", "key", "test_id", "since", "limit")
JOURNAL = "_emulator"  # the control plane's name in the journal


def entry_view(entry: JournalEntry) -> dict[str, Any]:
    """An entry as ``GET /_emulator/journal`` shows it."""
    return {
        "time": entry.time,
        "provider": entry.provider,
        "operation": entry.operation,
        "method": entry.method,
        "path": entry.path,
        "query": entry.query,
        "key": entry.key,
        "test_id": entry.test_id,
        "status": entry.status,
        "latency_ms": round(entry.seconds * 1000, 3),
        "request_id": entry.request_id,
        "fields": entry.fields,
        "error": entry.error,
        "message": entry.message,
        "fault": entry.fault,
        "wall": entry.wall,
        "retry_after": entry.retry_after,
        "job": entry.job,
        "state": entry.state,
    }


def _test_id(request: Request) -> str | None:
    """The test a journal request is about: ``?test_id=`` (empty: none, all tests), else the
    request's own ``X-Imgemu-Test-Id``; bounded as the journal keeps test ids."""
    if "test_id" in request.query_params:
        return clean_test_id(request.query_params["test_id"])
    return test_id_of(request.scope)


def journal_filter(request: Request, allowed: Sequence[str] = JOURNAL_FILTERS) -> Filter | str:
    """The filter the query asks for, or what is wrong with it (a test id as ``_test_id``);
    ``allowed`` are the query's names the route takes."""
    query = request.query_params
    unknown = sorted(set(query) - set(allowed))
    if unknown:
        return f"unknown filter {unknown[0]!r}: one of {', '.join(allowed)}"
    status = status_class = None
    text = query.get("status")
    if text is not None:
        if len(text) == 3 and text[0] in "12345" and text[1:].lower() == "xx":
            status_class = int(text[0])
        elif text.isdigit() and 100 <= int(text) <= 599:
            status = int(text)
        else:
            return "status must be a status (429) or a class (4xx)"
    since = None
    text = query.get("since")
    if text is not None:
        try:
            since = float(text)
        except ValueError:
            return "since must be a number of seconds (emulator clock)"
        if not math.isfinite(since):
            return "since must be a number of seconds (emulator clock)"
    key = query.get("key")
    return Filter(
        provider=query.get("provider"),
        operation=query.get("operation"),
        path=query.get("path"),
        status=status,
        status_class=status_class,
        key=None if key is None else key_digest(key),
        test_id=_test_id(request),
        since=since,
    )


def _journal_off() -> Response:
    return json_response({"detail": "The journal is off; start with --journal-size N"}, 409)


async def get_journal(request: Request) -> Response:
    """The newest entries the filters match (``?provider=&operation=&path=&status=&key=
    &test_id=&since=&limit=``), newest first, and how many match in all."""
    emulator = _emulator(request)
    if emulator.journal.size == 0:
        return _journal_off()
    where = journal_filter(request)
    limit = _query_int(request, "limit", JOURNAL_PAGE, 1, JOURNAL_PAGE_MAX)
    if isinstance(where, str):
        return _bad(where)
    if limit is None:
        return _bad(f"limit must be an integer 1-{JOURNAL_PAGE_MAX}")
    entries, total = await emulator.journal.entries(where, limit)
    return json_response({"entries": [entry_view(e) for e in entries], "total": total})


VERDICT_FILTERS = ("provider", "key", "test_id", "since", "poll_floor", "backoff_floor")


def finding_view(finding: Finding) -> dict[str, Any]:
    """A finding as ``GET /_emulator/verdicts`` shows it."""
    return {
        "name": finding.name,
        "rule": RULES[finding.name],
        "message": finding.message,
        "provider": finding.provider,
        "key": finding.key,
        "test_id": finding.test_id,
        "job": finding.job,
        "evidence": [entry_view(e) for e in finding.evidence],
    }


def _floor(request: Request, name: str, default: float) -> float | None:
    text = request.query_params.get(name)
    if text is None:
        return default
    try:
        value = float(text)
    except ValueError:
        return None
    return value if 0 <= value <= 3600 else None


async def get_verdicts(request: Request) -> Response:
    """What the journal shows each client did wrong (``emulator.domain.verdicts``), for the
    clients the filters keep (``?provider=&key=&test_id=&since=``), with the floors the
    settings give unless the query names others (``?poll_floor=&backoff_floor=``)."""
    emulator = _emulator(request)
    if emulator.journal.size == 0:
        return _journal_off()
    where = journal_filter(request, VERDICT_FILTERS)
    if isinstance(where, str):
        return _bad(where)
    settings = emulator.settings
    poll_floor = _floor(request, "poll_floor", settings.verdict_poll_floor)
    backoff_floor = _floor(request, "backoff_floor", settings.verdict_backoff_floor)
    if poll_floor is None:
        return _bad("poll_floor must be a number of seconds, 0-3600")
    if backoff_floor is None:
        return _bad("backoff_floor must be a number of seconds, 0-3600")
    entries, total = await emulator.journal.entries(where, emulator.journal.size)
    findings = judge(entries, poll_floor, backoff_floor)
    return json_response(
        {
            "findings": [finding_view(f) for f in findings],
            "checked": total,
            "rules": RULES,
            "poll_floor": poll_floor,
            "backoff_floor": backoff_floor,
        }
    )


async def clear_journal(request: Request) -> Response:
    """Empty the journal (nothing else), or with a test id (``_test_id``) take out that
    test's entries only: 204."""
    await _emulator(request).journal.clear(_test_id(request))
    return Response(status_code=204)


# -- fault plans and runtime settings (``emulator.domain.live``) ---------------------------------


async def add_fault(request: Request) -> Response:
    """``POST /_emulator/faults``: a plan (``emulator.domain.faults``); 201 with its id."""
    body = await _json_object(request)
    if body is None:
        return _bad('Send a plan: {"match": {...}, "action": {"kind": ...}, "times": N}')
    try:
        view = await _emulator(request).live.add_plan(body)
    except PlanError as exc:
        return _bad(str(exc))
    return json_response(view, 201)


async def list_faults(request: Request) -> Response:
    """``GET /_emulator/faults[?test_id=...]``: every plan with its counts."""
    test_id = request.query_params.get("test_id")
    return json_response({"faults": await _emulator(request).live.plan_views(test_id)})


async def delete_faults(request: Request) -> Response:
    """``DELETE /_emulator/faults[?test_id=...]``: forget every plan (or one test's)."""
    test_id = request.query_params.get("test_id")
    return json_response({"deleted": await _emulator(request).live.delete_plans(test_id=test_id)})


async def delete_fault(request: Request) -> Response:
    """``DELETE /_emulator/faults/{plan_id}``: forget one plan."""
    plan_id = request.path_params["plan_id"]
    if not await _emulator(request).live.delete_plans([plan_id]):
        return json_response({"detail": f"No fault plan {plan_id!r}"}, 404)
    return json_response({"deleted": 1})


async def get_config(request: Request) -> Response:
    """``GET /_emulator/config``: the runtime settings, and which were changed."""
    return json_response(await _emulator(request).live.config())


async def patch_config(request: Request) -> Response:
    """``PATCH /_emulator/config``: change runtime settings (null: back to the start's)."""
    try:
        body = load_json(await request.body() or b"null")
    except NotJson:
        body = None
    request.scope[FIELDS] = body
    try:
        view = await _emulator(request).live.patch_config(body)
    except ConfigError as exc:
        return _bad(str(exc))
    return json_response(view)


def _too_large(exc: DomainError, scope: Scope) -> Response:
    assert isinstance(exc, BodyTooLarge)
    return json_response({"detail": body_too_large_text(exc)}, 413)


def control_routes(
    middleware: Sequence[Middleware] = (),
    body_limit: int = 1024 * 1024,
    journal: Journal | None = None,
) -> list[BaseRoute]:
    """The control plane: one mount for everything under ``/_emulator/``, so ``middleware``
    (the control token's lock) stands before every path of it, routed or not; the routes that
    read a body take at most ``body_limit`` bytes; with a ``journal``, those that change the
    emulator are journaled in it."""

    def effect(operation: str, path: str | None = None, bounded: bool = False) -> list[Middleware]:
        stack = []
        if journal is not None:
            read = partial(read_error, "control")
            stack.append(Middleware(JournalMiddleware, journal, JOURNAL, operation, read, path))
        if bounded:
            stack.append(Middleware(BodyLimit, limit=body_limit, refuse=_too_large))
        return stack

    routes = [
        Route("/health", health, methods=["GET"]),
        Route("/reset", reset, methods=["POST"], middleware=effect("reset")),
        Route("/clock", get_clock, methods=["GET"]),
        Route("/clock", move_clock, methods=["POST"], middleware=effect("clock", bounded=True)),
        Route("/jobs", list_jobs, methods=["GET"]),
        Route("/jobs/{request_id}", get_job, methods=["GET"]),
        Route("/balances/{key}", get_balance, methods=["GET"]),
        Route(
            "/balances/{key}",
            set_balance,
            methods=["PUT"],
            middleware=effect("balance", "/_emulator/balances/{key}", bounded=True),
        ),
        Route("/capabilities", capabilities, methods=["GET"]),
        Route("/faults", add_fault, methods=["POST"], middleware=effect("faults", bounded=True)),
        Route("/faults", list_faults, methods=["GET"]),
        Route("/faults", delete_faults, methods=["DELETE"], middleware=effect("faults")),
        Route("/faults/{plan_id}", delete_fault, methods=["DELETE"], middleware=effect("faults")),
        Route("/config", get_config, methods=["GET"]),
        Route(
            "/config", patch_config, methods=["PATCH"], middleware=effect("config", bounded=True)
        ),
        Route("/journal", get_journal, methods=["GET"]),
        Route("/journal", clear_journal, methods=["DELETE"]),
        Route("/verdicts", get_verdicts, methods=["GET"]),
    ]
    return [Mount("/_emulator", routes=routes, middleware=middleware)]
