#!/usr/bin/env python3
"""What writing the queue's hot answers costs, three ways: the answer as it was written before
the fast path (a ``Urls`` object, a dict, orjson), as it is now (one URL string, a dict,
orjson: ``render.request_url`` and ``render.submit_body``/``status_body``), and as byte
templates (pre-encoded pieces joined, the host part escaped once and cached). Every form must
give the same bytes; the script checks that before timing.

    .venv/bin/python benchmarks/answer_forms.py [--number 200000]
"""

from __future__ import annotations

import argparse
import timeit
from collections.abc import Callable

import orjson

from emulator.domain.jobs import JobState
from emulator.domain.queue import Snapshot
from emulator.domain.records import Job, Status
from emulator.http.common import scope_base
from emulator.http.queue import render

SCOPE = {
    "type": "http",
    "scheme": "http",
    "root_path": "",
    "headers": [
        (b"host", b"127.0.0.1:8000"),
        (b"authorization", b"Key bench"),
        (b"content-type", b"application/json"),
    ],
}
PREFIX = "/model"
JOB = Job(
    "mmsu_01m7zt47qhr84p57vfqvc2r1yd", "seacloud", "gpt_image_1", "owner", 1, {}, 0.0, 5.0, 9.0
)
SNAP = Snapshot(JOB, JobState(Status.IN_QUEUE), 123456)


class _OldUrls:
    """The ``Urls`` object the handlers built before (three properties)."""

    def __init__(self, base: str, model: str, request_id: str) -> None:
        self.request = f"{base}/v1/queue/{model}/requests/{request_id}"

    @property
    def status(self) -> str:
        return self.request + "/status"

    @property
    def response(self) -> str:
        return self.request + "/response"

    @property
    def cancel(self) -> str:
        return self.request + "/cancel"


def submit_before() -> bytes:
    urls = _OldUrls(scope_base(SCOPE) + PREFIX, JOB.model, JOB.request_id)
    return orjson.dumps(
        {
            "request_id": JOB.request_id,
            "response_url": urls.response,
            "status_url": urls.status,
            "cancel_url": urls.cancel,
            "queue_position": 123456,
        }
    )


def submit_now() -> bytes:
    url = render.request_url(scope_base(SCOPE) + PREFIX, JOB.model, JOB.request_id)
    return orjson.dumps(render.submit_body(JOB.request_id, url, 123456))


_BASES: dict[str, bytes] = {}


def _base_bytes() -> bytes:
    base = scope_base(SCOPE) + PREFIX
    found = _BASES.get(base)
    if found is None:  # escaped as orjson escapes it, once per host
        found = _BASES[base] = orjson.dumps(base)[1:-1] + b"/v1/queue/"
    return found


def submit_template() -> bytes:
    rid = JOB.request_id.encode()
    url = b"".join((_base_bytes(), JOB.model.encode(), b"/requests/", rid))
    return b"".join(
        (
            b'{"request_id":"',
            rid,
            b'","response_url":"',
            url,
            b'/response","status_url":"',
            url,
            b'/status","cancel_url":"',
            url,
            b'/cancel","queue_position":',
            b"%d" % 123456,
            b"}",
        )
    )


def status_now() -> bytes:
    url = render.request_url(scope_base(SCOPE) + PREFIX, JOB.model, JOB.request_id)
    return orjson.dumps(render.status_body(SNAP, url, 0.0, False))


def status_template() -> bytes:
    rid = JOB.request_id.encode()
    url = b"".join((_base_bytes(), JOB.model.encode(), b"/requests/", rid))
    return b"".join(
        (
            b'{"status":"IN_QUEUE","request_id":"',
            rid,
            b'","queue_position":',
            b"%d" % SNAP.queue_position,
            b',"response_url":"',
            url,
            b'/response","logs":null}',
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--number", type=int, default=200_000)
    args = parser.parse_args()
    forms: dict[str, list[tuple[str, Callable[[], bytes]]]] = {
        "submit": [
            ("before: Urls + dict + orjson", submit_before),
            ("now: request_url + dict + orjson", submit_now),
            ("byte template", submit_template),
        ],
        "status": [
            ("now: request_url + dict + orjson", status_now),
            ("byte template", status_template),
        ],
    }
    for op, ways in forms.items():
        answers = {fn() for _, fn in ways}
        assert len(answers) == 1, f"{op}: the forms differ: {answers}"
        for label, fn in ways:
            best = min(timeit.repeat(fn, number=args.number, repeat=5)) / args.number * 1e6
            print(f"{op:8}{label:36}{best:8.3f} us")


if __name__ == "__main__":
    main()
