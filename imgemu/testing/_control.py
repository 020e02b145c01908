"""What a test holds of a running emulator: its addresses, and the control plane as objects.

``Emulator`` is what the fixtures yield: ``base_url`` and ``url(provider)``, the ``journal``
(``GET``/``DELETE /_emulator/journal``), the ``faults`` (``/_emulator/faults``), the ``clock``
(``/_emulator/clock``), ``reset()``, the runtime configuration (``/_emulator/config``), the
verdicts on the client (``/_emulator/verdicts``, ``assert_client_behaved()``) and httpx clients
ready to call a provider. Every request these helpers make carries the test's
``X-Imgemu-Test-Id`` and, when the emulator is locked, its control token.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import httpx

from clients._tls import tls_context
from emulator.providers import PROVIDERS
from emulator.settings import Settings

TEST_ID_HEADER = "X-Imgemu-Test-Id"
CONTROL_TOKEN_HEADER = "X-Imgemu-Control-Token"
# The key the helpers (and the patched environment) use where the settings name none: any key
# works on a default emulator but one containing "invalid".
DEFAULT_KEY = "sk-imgemu-test"
# The most journal entries one read returns (the control plane's page limit).
JOURNAL_READ_MAX = 10_000

Entry = dict[str, Any]
Plan = dict[str, Any]
Finding = dict[str, Any]


class ControlError(RuntimeError):
    """The control plane refused a helper's request; the message is the emulator's."""

    def __init__(self, response: httpx.Response, hint: str = "") -> None:
        self.response = response
        self.status_code = response.status_code
        try:
            body = response.json()
            detail = body.get("detail", body) if isinstance(body, dict) else body
        except ValueError:
            detail = response.text
        request = response.request
        message = f"{request.method} {request.url.path} answered {response.status_code}: {detail}"
        super().__init__(message + (f" ({hint})" if hint else ""))


class _Control:
    """The control plane's HTTP calls, with the test's headers."""

    def __init__(self, http: httpx.Client) -> None:
        self.http = http

    def call(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        params: Mapping[str, Any] | None = None,
        hint: Callable[[httpx.Response], str] | None = None,
    ) -> Any:
        """``method path`` under ``/_emulator``; the decoded body, or ``ControlError`` (its
        message followed by ``hint(response)``)."""
        request = self.http.build_request(
            method,
            "/_emulator" + path,
            content=None if body is None else json.dumps(body),
            params={k: v for k, v in (params or {}).items() if v is not None},
        )
        if body is not None:
            request.headers["Content-Type"] = "application/json"
        response = self.http.send(request)
        if response.status_code >= 400:
            raise ControlError(response, hint(response) if hint else "")
        if response.status_code == 204 or not response.content:
            return None
        return response.json()


def describe(entry: Entry) -> str:
    """One line for a journal entry: time, provider, operation, method, path, status, error,
    fault."""
    parts = [
        f"{entry.get('time', 0):.3f}",
        str(entry.get("provider")),
        str(entry.get("operation")),
        str(entry.get("method")),
        str(entry.get("path")) + (f"?{entry['query']}" if entry.get("query") else ""),
        str(entry.get("status")),
    ]
    if entry.get("error"):
        parts.append(str(entry["error"]))
    if entry.get("state"):
        parts.append(str(entry["state"]))
    if entry.get("retry_after") is not None:
        parts.append(f"retry_after={entry['retry_after']:g}s")
    if entry.get("fault"):
        parts.append(f"fault={json.dumps(entry['fault'], separators=(',', ':'))}")
    if entry.get("test_id"):
        parts.append(f"test_id={entry['test_id']}")
    return " ".join(parts)


def report(findings: Sequence[Finding]) -> str:
    """The verdicts' findings as a readable report: a line each, then its evidence."""
    lines = [f"the client did not behave: {len(findings)} finding(s)"]
    for finding in findings:
        who = [str(finding.get("provider"))]
        if finding.get("test_id"):
            who.append(f"test_id={finding['test_id']}")
        if finding.get("key"):
            who.append(f"key={finding['key']}")
        lines.append(f"- {finding['name']} ({', '.join(who)}): {finding['message']}")
        evidence = finding.get("evidence") or []
        start = _wall(evidence[0]) if evidence else 0.0
        lines.extend(f"    +{_wall(e) - start:.3f}s {describe(e)}" for e in evidence)
    return "\n".join(lines)


def _wall(entry: Entry) -> float:
    wall = entry.get("wall")
    return float(entry.get("time", 0) if wall is None else wall)


def _wanted(filters: Mapping[str, Any]) -> str:
    shown = ", ".join(f"{k}={v!r}" for k, v in filters.items() if v is not None)
    return shown or "any request"


class Journal:
    """The emulator's request journal (``GET``/``DELETE /_emulator/journal``): what the code
    under test sent and how each request was answered.

    Reads cover the whole journal unless ``test_id`` is given (the fixtures reset the emulator
    before each test, so it holds that test's requests, whoever sent them); entries come oldest
    first. ``test_id`` is the test's own: ``find(test_id=journal.test_id)`` keeps the requests
    that carried its header (the helpers' clients, and clients given ``headers``).
    """

    def __init__(self, control: _Control, test_id: str | None, scoped: bool = False) -> None:
        self._control = control
        self.test_id = test_id
        self.scoped = scoped

    def scope_test_id(self) -> str:
        """The test id a read or clear covers by default: the test's own on a shared emulator
        (``scoped``), else every test's."""
        return (self.test_id or "") if self.scoped else ""

    def find(
        self,
        *,
        provider: str | None = None,
        operation: str | None = None,
        path: str | None = None,
        status: int | str | None = None,
        key: str | None = None,
        test_id: str | None = None,
        since: float | None = None,
        limit: int | None = None,
    ) -> list[Entry]:
        """The entries every given filter matches, oldest first: ``provider`` (``openai``,
        ``seacloud``... or ``_emulator`` for the control plane's effects), ``operation``
        (``images.generate``, ``submit``...), ``path`` (a glob: ``*`` crosses ``/``),
        ``status`` (``429`` or a class, ``"4xx"``), ``key`` (the API key as sent), ``test_id``,
        ``since`` (emulator-clock seconds) and ``limit`` (the newest that many)."""
        return self._find(
            {
                "provider": provider,
                "operation": operation,
                "path": path,
                "status": status,
                "key": key,
                "test_id": test_id,
                "since": since,
                "limit": limit,
            }
        )

    def _find(self, filters: Mapping[str, Any]) -> list[Entry]:
        params = {k: v for k, v in filters.items() if v is not None}
        if "status" in params:
            params["status"] = str(params["status"])
        params.setdefault("limit", JOURNAL_READ_MAX)
        params.setdefault("test_id", self.scope_test_id())  # else the header alone would narrow it
        body = self._control.call("GET", "/journal", params=params, hint=_no_journal)
        entries: list[Entry] = body["entries"]
        return entries[::-1]  # the control plane answers newest first

    def clear(self) -> None:
        """Empty the journal (nothing else is reset); on a shared emulator, of this test's
        entries only."""
        self._control.call(
            "DELETE", "/journal", params={"test_id": self.scope_test_id()}, hint=_no_journal
        )

    def assert_called(
        self,
        *,
        times: int | None = None,
        provider: str | None = None,
        operation: str | None = None,
        path: str | None = None,
        status: int | str | None = None,
        key: str | None = None,
        test_id: str | None = None,
    ) -> list[Entry]:
        """Assert that requests matching the filters (as ``find``'s) were made: ``times``
        exactly, or at least one. Returns them; the failure lists what was recorded."""
        wanted = {
            "provider": provider,
            "operation": operation,
            "path": path,
            "status": status,
            "key": key,
            "test_id": test_id,
        }
        found = self._find(wanted)
        if (times is None and not found) or (times is not None and len(found) != times):
            expected = "at least 1" if times is None else str(times)
            raise AssertionError(
                f"expected {expected} request(s) matching {_wanted(wanted)}, found "
                f"{len(found)}\n{self._recorded()}"
            )
        return found

    def assert_not_called(
        self,
        *,
        provider: str | None = None,
        operation: str | None = None,
        path: str | None = None,
        status: int | str | None = None,
        key: str | None = None,
        test_id: str | None = None,
    ) -> None:
        """Assert that no request matching the filters was made; the failure lists them."""
        wanted = {
            "provider": provider,
            "operation": operation,
            "path": path,
            "status": status,
            "key": key,
            "test_id": test_id,
        }
        found = self._find(wanted)
        if found:
            lines = "\n".join(f"  {describe(e)}" for e in found)
            raise AssertionError(
                f"expected no request matching {_wanted(wanted)}, found {len(found)}:\n{lines}"
            )

    def _recorded(self, shown: int = 50) -> str:
        entries = self.find()
        if not entries:
            return "the journal is empty"
        lines = [f"  {describe(e)}" for e in entries[-shown:]]
        more = f" (the last {shown})" if len(entries) > shown else ""
        return f"the journal holds {len(entries)} request(s){more}:\n" + "\n".join(lines)


def _no_journal(response: httpx.Response) -> str:
    if response.status_code == 404:
        return "this emulator has no request journal"
    if response.status_code == 409:
        return "turn it on with @pytest.mark.imgemu(journal_size=1000)"
    return ""


class Faults:
    """Fault plans (``/_emulator/faults``): what the next matching requests get instead of
    their answer. A plan is ``match`` (``provider``, ``operation``, ``path``, ``model``, ``key``,
    ``test_id``), ``action`` (``{"kind": "error", "status": 429, "retry_after": 1}``, ``delay``,
    ``drop``, ``truncate``, ``stream_cut``, ``outcome``, ``slow_queue``), ``times``, ``after``
    and ``probability``; README.md describes each."""

    def __init__(self, control: _Control, test_id: str | None = None) -> None:
        self._control = control
        self.test_id = test_id  # on a shared emulator: plans match this test's requests only

    def add(
        self,
        *,
        action: Mapping[str, Any],
        match: Mapping[str, Any] | None = None,
        times: int | None = None,
        after: int | None = None,
        probability: float | None = None,
    ) -> Plan:
        """Make a plan; the emulator's view of it, with its ``id``. A plan the emulator
        refuses raises ``ControlError`` saying what is wrong."""
        body: dict[str, Any] = {"action": dict(action)}
        match = dict(match or {})
        if self.test_id is not None:
            match.setdefault("test_id", self.test_id)
        if match:
            body["match"] = match
        for name, value in (("times", times), ("after", after), ("probability", probability)):
            if value is not None:
                body[name] = value
        plan: Plan = self._control.call("POST", "/faults", body=body)
        return plan

    def list(self, test_id: str | None = None) -> Sequence[Plan]:
        """Every plan (those matching ``test_id`` only, when given), with its counts
        (``seen``, ``applied``, ``spent``)."""
        body = self._control.call("GET", "/faults", params={"test_id": test_id or self.test_id})
        plans: Sequence[Plan] = body["faults"]
        return plans

    def get(self, plan_id: str) -> Plan:
        """One plan by its id, with its counts; ``KeyError`` if there is none."""
        for plan in self.list():
            if plan["id"] == plan_id:
                return plan
        raise KeyError(plan_id)

    def remove(self, plan_id: str) -> None:
        """Forget one plan (``ControlError`` if there is none)."""
        self._control.call("DELETE", f"/faults/{plan_id}")

    def clear(self, test_id: str | None = None) -> int:
        """Forget every plan (or those of ``test_id``); how many there were."""
        body = self._control.call("DELETE", "/faults", params={"test_id": test_id or self.test_id})
        deleted: int = body["deleted"]
        return deleted


def _real_clock(response: httpx.Response) -> str:
    if response.status_code == 409:
        return 'use @pytest.mark.imgemu(clock="virtual")'
    return ""


class Clock:
    """The emulator's clock (``/_emulator/clock``): read it, and move a virtual one."""

    def __init__(self, control: _Control) -> None:
        self._control = control

    def info(self) -> dict[str, Any]:
        """``{"now": seconds, "kind": "real" | "virtual", "time_scale": ...}``."""
        body: dict[str, Any] = self._control.call("GET", "/clock")
        return body

    def now(self) -> float:
        """The emulator's time, Unix seconds."""
        return float(self.info()["now"])

    def advance(self, seconds: float) -> float:
        """Move a virtual clock forward; the new time."""
        body = self._control.call("POST", "/clock", body={"advance": seconds}, hint=_real_clock)
        return float(body["now"])

    def set(self, when: float) -> float:
        """Move a virtual clock to ``when`` (Unix seconds, not in its past); the new time."""
        body = self._control.call("POST", "/clock", body={"set": when}, hint=_real_clock)
        return float(body["now"])


class Emulator:
    """A running emulator as a test sees it (what ``imgemu_server`` and ``imgemu_app`` yield).

    - ``base_url``: the emulator's root; ``url(provider)``: a provider's base URL in its own
      convention (``.../v1`` for ``openai`` and ``agcloud``, as ``OPENAI_BASE_URL`` takes it;
      ``.../model`` for the queue provider that owns the bare path, ``.../odirouter/model``;
      the root for ``aa``);
    - ``journal``, ``faults``, ``clock``: the control plane (``Journal``, ``Faults``, ``Clock``);
    - ``reset()``, ``config()``, ``configure(**changes)``, ``control(method, path)``;
    - ``verdicts()`` and ``assert_client_behaved()``: what the journal shows the clients did
      wrong (retries too soon, polls too fast, jobs abandoned...);
    - ``client(provider)`` / ``async_client(provider)``: httpx clients on a provider's base URL
      with its ``Authorization`` and the test's headers; ``headers`` those headers alone;
      ``api_key(provider)`` the key they send; ``environment()`` the variables the env patch
      sets;
    - ``settings``: the emulator's settings (``imgemu.Settings``);
    - ``scoped``: the emulator is shared with other tests running at once (``--imgemu-url``):
      journal reads, clears, verdicts and ``reset()`` cover this test's requests only (those
      carrying its ``X-Imgemu-Test-Id``), and fault plans match them only.
    """

    def __init__(
        self,
        base_url: str,
        settings: Settings,
        test_id: str | None,
        transport: httpx.BaseTransport | None = None,
        async_transport: httpx.AsyncBaseTransport | None = None,
        scoped: bool = False,
    ) -> None:
        self.base_url = base_url
        self.settings = settings
        self.test_id = test_id
        self.scoped = scoped
        self._transport = transport
        self._async_transport = async_transport
        self._clients: list[httpx.Client] = []
        self._http = self._sync_client(base_url, self._control_headers())
        control = _Control(self._http)
        self._control = control
        self.journal = Journal(control, test_id, scoped)
        self.faults = Faults(control, test_id if scoped else None)
        self.clock = Clock(control)

    # -- addresses and headers

    def url(self, provider: str) -> str:
        """``provider``'s base URL on this emulator, in the convention its clients take."""
        if provider not in PROVIDERS:
            raise ValueError(f"unknown provider {provider!r}: one of {', '.join(PROVIDERS)}")
        return self.base_url + PROVIDERS[provider].base_path(self.settings.queue_provider)

    @property
    def headers(self) -> dict[str, str]:
        """The test's headers (``X-Imgemu-Test-Id``), for clients the test makes itself."""
        return {TEST_ID_HEADER: self.test_id} if self.test_id else {}

    def _control_headers(self) -> dict[str, str]:
        headers = dict(self.headers)
        if self.settings.control_token:
            headers[CONTROL_TOKEN_HEADER] = self.settings.control_token
        return headers

    def api_key(self, provider: str) -> str:
        """The key the helpers send to ``provider``: the first the settings accept for it
        (``api_keys``), else ``DEFAULT_KEY``."""
        keys = self.settings.api_keys.get(provider)
        return keys[0] if keys else DEFAULT_KEY

    def authorization(self, provider: str) -> dict[str, str]:
        """``provider``'s ``Authorization`` header with ``api_key(provider)``, in the scheme
        its clients send (``Key`` for SeaCloud, ``Bearer`` for the others)."""
        if provider not in PROVIDERS:
            raise ValueError(f"unknown provider {provider!r}: one of {', '.join(PROVIDERS)}")
        scheme = PROVIDERS[provider].auth[0] if PROVIDERS[provider].auth else "Bearer"
        return {"Authorization": f"{scheme} {self.api_key(provider)}"}

    def environment(self) -> dict[str, str]:
        """What the env patch sets: ``OPENAI_BASE_URL``, ``IMGEMU_URL`` and each provider's key
        variable (``OPENAI_API_KEY``, ``AGCLOUD_API_KEY``, ``SEACLOUD_API_KEY``,
        ``ODIROUTER_API_KEY``, ``AA_API_KEY``)."""
        from clients._core import PROVIDERS as CLIENT_PROVIDERS

        variables = {"IMGEMU_URL": self.base_url}
        for name, spec in CLIENT_PROVIDERS.items():
            variables[spec.env] = self.api_key(name)
            if spec.base_url_env:
                variables[spec.base_url_env] = self.url(name)
        return variables

    # -- clients

    def _sync_client(
        self, base_url: str, headers: Mapping[str, str], **options: Any
    ) -> httpx.Client:
        options.setdefault("timeout", 30.0)
        options.setdefault("verify", tls_context())  # the CA bundle read once, not per client
        client = httpx.Client(
            base_url=base_url, headers=headers, transport=self._transport, **options
        )
        self._clients.append(client)
        return client

    def client(self, provider: str | None = None, **options: Any) -> httpx.Client:
        """An ``httpx.Client`` on ``provider``'s base URL (the emulator's root without one)
        sending its ``Authorization`` and the test's headers (and the control token, when the
        emulator has one, on the root). Closed with the fixture; ``options`` go to httpx."""
        base, headers = self._client_setup(provider, options)
        return self._sync_client(base, headers, **options)

    def async_client(self, provider: str | None = None, **options: Any) -> httpx.AsyncClient:
        """The same as ``client``, async; close it yourself (``async with``)."""
        base, headers = self._client_setup(provider, options)
        options.setdefault("timeout", 30.0)
        options.setdefault("verify", tls_context())
        return httpx.AsyncClient(
            base_url=base, headers=headers, transport=self._async_transport, **options
        )

    def _client_setup(
        self, provider: str | None, options: dict[str, Any]
    ) -> tuple[str, dict[str, str]]:
        if provider is None:
            headers = self._control_headers()
            base = self.base_url
        else:
            headers = {**self.headers, **self.authorization(provider)}
            base = self.url(provider)
        headers.update(options.pop("headers", None) or {})
        return base, headers

    # -- the control plane

    def control(self, method: str, path: str, body: Any = None, **params: Any) -> Any:
        """Any control-plane call: ``control("PUT", "/balances/k", {"usd": 1})``; the decoded
        answer, or ``ControlError``."""
        return self._control.call(method, path, body=body, params=params)

    def reset(self) -> None:
        """Forget every job, task, file, balance, fault plan, runtime change and journal
        entry (``POST /_emulator/reset``); a virtual clock keeps its time. On a shared
        emulator (``scoped``: other tests use it at once) only this test's journal entries and
        fault plans are forgotten."""
        if self.scoped:
            self.journal.clear()
            self.faults.clear()
            return
        self._control.call("POST", "/reset")

    def config(self) -> dict[str, Any]:
        """The runtime settings (``GET /_emulator/config``), with the names ``changed``."""
        body: dict[str, Any] = self._control.call("GET", "/config")
        return body

    def configure(self, **changes: Any) -> dict[str, Any]:
        """Change runtime settings for the requests that follow (``PATCH /_emulator/config``:
        ``time_scale``, ``failure_rate``, ``blocked_terms``, ``slots``, the limits...; None
        sets one back to its start value). The whole configuration."""
        body: dict[str, Any] = self._control.call("PATCH", "/config", body=changes)
        return body

    # -- verdicts on the client

    def verdicts(
        self,
        *,
        provider: str | None = None,
        key: str | None = None,
        test_id: str | None = None,
        since: float | None = None,
        poll_floor: float | None = None,
        backoff_floor: float | None = None,
    ) -> list[Finding]:
        """What the journal shows the clients did wrong (``GET /_emulator/verdicts``): the
        findings, oldest first, each with its ``name``, ``message`` and ``evidence`` (journal
        entries). The filters keep some clients only (``key`` is the API key as sent);
        ``poll_floor`` and ``backoff_floor`` replace the emulator's settings' for this read."""
        params = {
            "provider": provider,
            "key": key,
            "test_id": self.journal.scope_test_id() if test_id is None else test_id,
            "since": since,
            "poll_floor": poll_floor,
            "backoff_floor": backoff_floor,
        }
        body = self._control.call("GET", "/verdicts", params=params, hint=_no_journal)
        findings: list[Finding] = body["findings"]
        return findings

    def assert_client_behaved(
        self,
        *,
        ignore: Sequence[str] = (),
        provider: str | None = None,
        key: str | None = None,
        test_id: str | None = None,
        since: float | None = None,
        poll_floor: float | None = None,
        backoff_floor: float | None = None,
    ) -> None:
        """Assert that the verdicts find nothing (but the rules named in ``ignore``); the
        failure is a report of every finding with its evidence. The filters and floors are
        ``verdicts``'."""
        findings = [
            finding
            for finding in self.verdicts(
                provider=provider,
                key=key,
                test_id=test_id,
                since=since,
                poll_floor=poll_floor,
                backoff_floor=backoff_floor,
            )
            if finding["name"] not in ignore
        ]
        if findings:
            raise AssertionError(report(findings))

    def close(self) -> None:
        """Close the clients this object made."""
        for client in self._clients:
            client.close()
        self._clients.clear()

    def __repr__(self) -> str:
        return f"<imgemu emulator at {self.base_url} test_id={self.test_id!r}>"
