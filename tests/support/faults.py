"""Fault plans' tests: make a plan, read the plans back, count what reached the server.

Every control-plane call carries the control token the replicas of ``tests.load.topology``
are started with (a server without one ignores it)."""

from __future__ import annotations

import re
from typing import Any

import httpx

from tests.helpers import data_url, png_bytes
from tests.load.topology import CONTROL

QUEUE_BODY = {"prompt": "a red apple", "size": "1024x1024", "quality": "low"}
IMAGES_BODY = {
    "model": "gpt-image-1",
    "prompt": "a red apple",
    "size": "1024x1024",
    "quality": "low",
    "output_format": "jpeg",
}
AA_BODY = {
    "model": "gpt-image-1.5",
    "prompt": "a red apple",
    "images": [{"image_url": data_url(png_bytes((64, 64)))}],
    "size": "1024x1024",
    "quality": "low",
}


def add_plan(base_url: str, **plan: Any) -> dict[str, Any]:
    """POST a plan; its view (201 checked)."""
    answer = httpx.post(f"{base_url}/_emulator/faults", json=plan, headers=CONTROL)
    assert answer.status_code == 201, answer.text
    view: dict[str, Any] = answer.json()
    return view


def plans(base_url: str) -> list[dict[str, Any]]:
    answer = httpx.get(f"{base_url}/_emulator/faults", headers=CONTROL)
    listed: list[dict[str, Any]] = answer.json()["faults"]
    return listed


def requests_counted(base_url: str, provider: str, operation: str) -> dict[int, int]:
    """How many requests of one operation reached the server, by status (``/metrics``)."""
    text = httpx.get(f"{base_url}/metrics", headers=CONTROL).text
    pattern = re.compile(
        r'^imgemu_requests_total\{operation="(?P<op>[^"]+)",provider="(?P<provider>[^"]+)",'
        r'status="(?P<status>\d+)"\} (?P<n>[0-9.]+)$',
        re.M,
    )
    return {
        int(m["status"]): int(float(m["n"]))
        for m in pattern.finditer(text)
        if m["op"] == operation and m["provider"] == provider
    }
