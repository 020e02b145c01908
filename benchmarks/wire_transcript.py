#!/usr/bin/env python3
"""Every message the queue routes send, for a fixed script of requests: to prove a change to
the hot path leaves the answers byte for byte as they were (status, header list, body).

Drives apps built by ``emulator.app.create_app`` in-process (raw ASGI: no client rewrites a
header) on a virtual clock with a fixed seed, under several settings (the defaults, sync
validation, steering, balances, a rate limit, CORS, ``log_requests=all``), through submits,
status reads (waiting, running, finished, failed, with and without logs), results, cancels and
every refusal the two hot operations have. Writes one JSON document; two trees are compared by
running this in each (the other tree first on the path) and diffing the files:

    .venv/bin/python benchmarks/wire_transcript.py --out /tmp/after.json
    (cd OLD && PYTHONPATH=OLD /work/wt-perf/.venv/bin/python benchmarks/wire_transcript.py \
        --out /tmp/before.json)
    diff /tmp/before.json /tmp/after.json && echo identical

Only the APIs both trees have are used (``create_app``, ``Settings``, the app's state).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import io
import json
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
from queue_throughput import SEED_BODY, http_scope

from emulator.app import create_app
from emulator.settings import Settings

START = 1_790_000_000.0
SEED = SEED_BODY  # the queue benchmark's body (its wrk script's)
KEY = [(b"authorization", b"Bearer transcript")]  # both providers take Bearer
JSON = [(b"content-type", b"application/json")]

Headers = list[tuple[bytes, bytes]]


def _png() -> str:
    out = io.BytesIO()
    Image.new("RGB", (64, 48), (10, 200, 30)).save(out, format="PNG")
    return "data:image/png;base64," + base64.b64encode(out.getvalue()).decode()


def _scope(
    method: str, path: str, query: bytes, headers: Headers, root_path: str, host: bool
) -> dict[str, Any]:
    head = [(b"host", b"emu.test:8123")] if host else []
    return http_scope(method, path, head + headers, query, root_path)


class Lines(logging.Handler):
    """The request log's lines, without their timings (``ms``), into the transcript."""

    def __init__(self, log: list[dict[str, Any]]) -> None:
        super().__init__()
        self.log = log

    def emit(self, record: logging.LogRecord) -> None:
        fields = ("client", "method", "path", "status", "reason")
        line = {name: getattr(record, name, None) for name in fields}
        self.log.append({"log": record.levelname, **line})


class Run:
    """One app and the messages it sent, request by request."""

    def __init__(self, name: str, **settings: Any) -> None:
        values: dict[str, Any] = {"clock": "virtual", "clock_start": START, "seed": 7}
        values.update(settings)
        self.name = name
        self.app = create_app(Settings(**values))
        self.log: list[dict[str, Any]] = []
        requests = logging.getLogger("imgemu.requests")
        requests.handlers[:] = [Lines(self.log)]
        requests.propagate = False
        requests.setLevel(logging.INFO)

    def advance(self, seconds: float) -> None:
        self.app.state.emulator.clock.advance(seconds)
        self.log.append({"advance": seconds})

    async def call(
        self,
        method: str,
        path: str,
        body: bytes | Sequence[bytes] = b"",
        headers: Headers | None = None,
        query: bytes = b"",
        root_path: str = "",
        host: bool = True,
    ) -> dict[str, Any]:
        chunks = [body] if isinstance(body, bytes) else list(body)
        sent: list[dict[str, Any]] = []
        incoming = [
            {"type": "http.request", "body": chunk, "more_body": i < len(chunks) - 1}
            for i, chunk in enumerate(chunks)
        ]

        async def receive() -> dict[str, Any]:
            if incoming:
                return incoming.pop(0)
            await asyncio.sleep(3600)  # a real server would wait for the disconnect
            return {"type": "http.disconnect"}

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)

        scope = _scope(method, path, query, KEY if headers is None else headers, root_path, host)
        await self.app(scope, receive, send)
        start = sent[0]
        entry = {
            "request": f"{method} {root_path}{path}{'?' + query.decode() if query else ''}",
            "status": start["status"],
            "headers": [[k.decode("latin-1"), v.decode("latin-1")] for k, v in start["headers"]],
            "messages": [sorted(m) for m in sent],
            "body": b"".join(m.get("body", b"") for m in sent[1:]).decode("utf-8", "replace"),
        }
        self.log.append(entry)
        return entry

    async def submit(
        self, body: Any, model: str = "gpt_image_1", prefix: str = "/model", **kw: Any
    ) -> dict[str, Any]:
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        kw.setdefault("headers", KEY + JSON)
        return await self.call("POST", f"{prefix}/v1/queue/{model}", raw, **kw)

    async def status(self, entry: dict[str, Any], **kw: Any) -> dict[str, Any] | None:
        rid = json.loads(entry["body"]).get("request_id")
        if not rid:  # refused (a rate limit, a balance): no job to read
            return None
        model = entry["request"].split("/v1/queue/")[1]
        prefix = entry["request"].split(" ", 1)[1].split("/v1/queue/")[0]
        root = kw.get("root_path", "")
        prefix = prefix[len(root) :] if root and prefix.startswith(root) else prefix
        return await self.call("GET", f"{prefix}/v1/queue/{model}/requests/{rid}/status", **kw)


async def lifecycle(run: Run) -> None:
    """Jobs through every state, read by status (with and without logs), result and cancel."""
    jobs = [await run.submit(SEED) for _ in range(20)]  # more than the 16 slots: some wait
    jobs.append(await run.submit({**SEED, "n": 2, "size": "1536x1024"}, prefix="/seacloud/model"))
    jobs.append(await run.submit({**SEED, "quality": "high"}, model="gpt_image_1_5"))
    jobs.append(await run.submit({**SEED, "output_format": "png"}, prefix="/odirouter/model"))
    edit = {**SEED, "images": [_png()]}
    jobs.append(await run.submit(edit, model="gpt_image_1_edit"))
    jobs.append(await run.submit({**SEED, "size": "bogus", "n": 99}))  # REQUEST_INVALID (async)
    jobs.append(await run.submit({**SEED, "prompt": "a forbidden thing"}))  # blocked, if set
    jobs.append(await run.submit(SEED, query=b"fal_webhook=x"))  # a query on submit
    origin = [(b"origin", b"http://browser.test")]
    jobs.append(await run.submit(SEED, headers=KEY + JSON + origin))
    chunked = json.dumps(SEED).encode()
    await run.call("POST", "/model/v1/queue/gpt_image_1", [chunked[:30], chunked[30:]], KEY + JSON)
    await run.submit(SEED, root_path="/proxy", model="gpt_image_1")
    await run.submit(SEED, host=False)
    for step in (0.0, 1.0, 30.0, 120.0, 4000.0):
        if step:
            run.advance(step)
        for job in (jobs[0], jobs[17], jobs[19], jobs[20], jobs[23], jobs[24], jobs[25]):
            await run.status(job)
        await run.status(jobs[18], query=b"logs=1")
        await run.status(jobs[19], query=b"logs=TRUE&x=1")
        await run.status(jobs[1], query=b"logs=0")
        await run.status(jobs[2], query=b"")
        await run.status(jobs[3], host=False)
        await run.status(jobs[22], root_path="")
        await run.status(jobs[27], headers=KEY + origin)
        rid = json.loads(jobs[16]["body"]).get("request_id", "none")
        await run.call("GET", f"/model/v1/queue/gpt_image_1/requests/{rid}/response")
        if step == 1.0:
            await run.call("PUT", f"/model/v1/queue/gpt_image_1/requests/{rid}/cancel")
    # HEAD of a status, a status stream, wrong methods
    rid = json.loads(jobs[5]["body"]).get("request_id", "none")
    base = f"/model/v1/queue/gpt_image_1/requests/{rid}"
    await run.call("HEAD", base + "/status")
    await run.call("GET", base + "/status/stream")
    await run.call("POST", base + "/status", b"{}", KEY + JSON)
    await run.call("GET", "/model/v1/queue/gpt_image_1")
    await run.call("DELETE", "/model/v1/queue/gpt_image_1")


async def refusals(run: Run) -> None:
    """Every way submit and status refuse, in the order the checks run."""
    ok = await run.submit(SEED)
    rid = json.loads(ok["body"]).get("request_id", "none")
    await run.submit(SEED, headers=JSON)  # no key
    await run.submit(SEED, headers=[(b"authorization", b"Key "), *JSON])
    await run.submit(SEED, headers=[(b"authorization", b"Basic abc"), *JSON])
    await run.submit(SEED, headers=[(b"authorization", b"Key my-invalid-key"), *JSON])
    await run.submit(SEED, headers=[(b"authorization", b"bearer   spaced  "), *JSON])
    await run.submit(SEED, headers=[(b"Authorization", b"Key upper-name"), *JSON])
    await run.submit(SEED, headers=[(b"authorization", b"Key transcript"), *JSON])
    await run.submit(
        SEED, headers=[(b"authorization", b"Key transcript"), *JSON], prefix="/odirouter/model"
    )
    await run.submit(SEED, headers=KEY + KEY + JSON)
    await run.submit(SEED, model="no_such_model")
    await run.submit(SEED, model="gpt_image_1/sub")
    await run.submit(b"not json")
    await run.submit(b"")
    await run.submit(b"[1, 2]")
    await run.submit(b'"text"')
    await run.submit(b"NaN")
    await run.submit(b'{"prompt": NaN}')
    await run.submit(b'{"prompt": "x", "n": 123456789012345678901234567890}')
    await run.submit(b"\xff\xfe")
    await run.submit({})
    await run.submit({**SEED, "webhook_url": "http://x"})
    await run.submit({**SEED, "extra_field": 1})
    await run.submit({**SEED, "n": 0})
    await run.submit({**SEED, "prompt": "é ü 漢字 \u2028"})
    await run.submit({**SEED, "images": ["https://example.com/a.png"]}, model="gpt_image_1_edit")
    await run.submit({**SEED, "images": "not-an-image"}, model="gpt_image_1_edit")
    await run.submit(SEED, headers=KEY + JSON + [(b"x-imgemu-outcome", b"inference_failure")])
    await run.submit(SEED, headers=KEY + JSON + [(b"x-imgemu-outcome", b"nonsense")])
    await run.submit(SEED, headers=KEY + JSON + [(b"x-imgemu-latency", b"2.5")])
    await run.submit(SEED, headers=KEY + JSON + [(b"x-imgemu-latency", b"-1")])
    await run.submit(b"not json", headers=KEY + JSON + [(b"x-imgemu-latency", b"-1")])
    await run.submit(SEED, headers=[*KEY, (b"content-type", b"text/plain")])
    await run.submit(SEED, headers=[(b"authorization", b"Key other"), *JSON])
    base = f"/model/v1/queue/gpt_image_1/requests/{rid}"
    await run.call("GET", base + "/status", headers=[])
    await run.call("GET", base + "/status", headers=[(b"authorization", b"Key invalid")])
    await run.call("GET", base + "/status", headers=[(b"authorization", b"Key someone-else")])
    await run.call("GET", f"/model/v1/queue/gpt_image_1_edit/requests/{rid}/status")
    await run.call("GET", f"/odirouter/model/v1/queue/gpt_image_1/requests/{rid}/status")
    await run.call("GET", f"/seacloud/model/v1/queue/gpt_image_1/requests/{rid}/status")
    await run.call("GET", f"/model/v1/queue/gpt_image_1/sub/requests/{rid}/status")
    await run.call("GET", f"/model/v1/queue/gpt/requests/{rid}/status")
    await run.call("GET", "/model/v1/queue/gpt_image_1/requests/unknown/status")
    await run.call("GET", "/model/v1/queue/no_such_model/requests/unknown/status")
    await run.call("GET", "/model/v1/queue/gpt_image_1/requests/a%20b/status")
    await run.call("GET", base + "/status", query=b"logs=yes")
    await run.call("GET", base + "/status", query=b"logs=true&logs=false")
    await run.call("GET", base + "/status", query=b"%ff=1&logs=1")


PROFILES: dict[str, dict[str, Any]] = {
    "default": {"log_requests": "off"},
    "logged": {"log_requests": "all"},
    "sync": {"validation": "sync", "log_requests": "off"},
    "steering": {"steering": True, "blocked_terms": ["forbidden"], "failure_rate": 0.3},
    "balances": {"balances": {"transcript": 0.2}, "default_balance_usd": 0.0},
    "limited": {"rate_limit": {"limit": 3, "window_seconds": 60}},
    "cors": {"cors_origins": ["*"], "queue_provider": "odirouter"},
    "keys": {"api_keys": {"seacloud": ["transcript"]}, "slots": 1},
}


async def transcript() -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, settings in PROFILES.items():
        run = Run(name, **settings)
        await lifecycle(run)
        await refusals(run)
        out[name] = run.log
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    if os.environ.get("PYTHONHASHSEED") != "0":  # the order of a 405's Allow header is a set's
        os.execve(
            sys.executable, [sys.executable, *sys.argv], {**os.environ, "PYTHONHASHSEED": "0"}
        )
    import emulator

    print(f"emulator from {Path(emulator.__file__).parent}", file=sys.stderr)
    data = asyncio.run(transcript())
    args.out.write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n")
    count = sum(1 for log in data.values() for entry in log if "status" in entry)
    print(f"{count} answers written to {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
