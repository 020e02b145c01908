"""``GET /``: where each provider lives on this emulator, as HTML for a browser or JSON.

The same facts make the lines ``imgemu serve`` prints on start (``banner``), so what a user
copies from the terminal and what a browser shows cannot disagree.
"""

from __future__ import annotations

import html
from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from emulator.http.common import app_base, json_response
from emulator.providers import PROVIDERS
from emulator.settings import Settings

CONTROL = {
    "health": "GET /_emulator/health",
    "capabilities": "GET /_emulator/capabilities",
    "reset": "POST /_emulator/reset",
    "clock": "GET|POST /_emulator/clock",
    "jobs": "GET /_emulator/jobs",
    "job": "GET /_emulator/jobs/{request_id}",
    "balances": "GET|PUT /_emulator/balances/{key}",
    "faults": "GET|POST|DELETE /_emulator/faults",
    "fault": "DELETE /_emulator/faults/{id}",
    "config": "GET|PATCH /_emulator/config",
    "metrics": "GET /metrics",
}


def providers(settings: Settings, base: str) -> list[dict[str, Any]]:
    """Each provider's base URL on this emulator, in the convention its users already have."""
    entries = []
    for row in PROVIDERS.values():
        provider = row.name
        mounts = row.mounts(settings.queue_provider)
        entry: dict[str, Any] = {
            "provider": provider,
            "title": row.title,
            "protocol": row.protocol,
            "base_url": base + mounts[0],
            "document": f"{base}/openapi/{provider}.json",
            "auth": [f"{scheme} <key>" for scheme in row.auth],
        }
        if len(mounts) > 1:
            entry["also"] = base + mounts[1]
        if provider == "openai":
            entry["env"] = {"OPENAI_BASE_URL": entry["base_url"]}
        entries.append(entry)
    return entries


def describe(settings: Settings, base: str) -> dict[str, Any]:
    """The whole index: providers, documents, the control plane, and how keys are taken."""
    keys = "only the configured keys" if settings.api_keys else "any key"
    return {
        "name": "imgemu",
        "providers": providers(settings, base),
        "control": {name: route for name, route in CONTROL.items()},
        "keys": keys,
        "clock": settings.clock,
        "time_scale": settings.time_scale,
        "seed": settings.seed,
    }


def banner(settings: Settings, base: str, version: str) -> list[str]:
    """The lines ``imgemu serve`` prints once it listens: what to copy into an application."""
    lines = [
        f"imgemu {version}: every provider on {base} ({settings.clock} clock, time scale "
        f"{settings.time_scale:g}, seed {settings.seed}; "
        f"{'configured keys only' if settings.api_keys else 'any API key works'})"
    ]
    for entry in providers(settings, base):
        also = f"  (also {entry['also']})" if "also" in entry else ""
        lines.append(f"  {entry['provider']:<10} {entry['base_url']}{also}")
    lines.append(f"  export OPENAI_BASE_URL={base}/v1   # for the openai SDK")
    lines.append(f"  documents  {base}/openapi/<provider>.json   index  {base}/")
    return lines


def _html(index: dict[str, Any]) -> str:
    rows = "".join(
        f"<tr><td>{html.escape(p['title'])}</td><td><code>{html.escape(p['base_url'])}</code>"
        f"</td><td>{html.escape(', '.join(p['auth']))}</td>"
        f'<td><a href="{html.escape(p["document"])}">{p["provider"]}.json</a></td></tr>'
        for p in index["providers"]
    )
    control = "".join(
        f"<li><code>{html.escape(route)}</code></li>" for route in index["control"].values()
    )
    return (
        '<!doctype html><html><head><meta charset="utf-8"><title>imgemu</title></head><body>'
        "<h1>imgemu</h1><p>An offline emulator of hosted GPT-Image APIs. Point your "
        "application's base URL at the provider's row; "
        f"{html.escape(index['keys'])} is accepted.</p>"
        "<table><tr><th>provider</th><th>base URL</th><th>auth</th><th>document</th></tr>"
        f"{rows}</table><h2>Control plane</h2><ul>{control}</ul></body></html>"
    )


async def index(request: Request) -> Response:
    """HTML for a browser (``Accept: text/html``), JSON for everything else."""
    body = describe(request.app.state.emulator.live.settings, app_base(request))
    if "text/html" in request.headers.get("accept", ""):
        return HTMLResponse(_html(body))
    return json_response(body)
