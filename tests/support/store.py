"""Store test helpers: a job as the queue service hands it to the store."""

from __future__ import annotations

from typing import Any

from emulator.domain.records import Job

RESULT_TTL = 3600.0


def make_job(seq: int, seconds: float, model: str = "gpt_image_1", **fields: Any) -> Job:
    """A job as the queue service hands it to ``schedule``: seq ``seq``, ``seconds`` of work."""
    values: dict[str, Any] = {
        "request_id": f"r{seq}",
        "provider": "seacloud",
        "model": model,
        "owner": "o",
        "seq": seq,
        "params": {},
        "submitted_at": 0.0,
        "started_at": None,
        "finished_at": 0.0,
        "service_seconds": seconds,
    }
    values.update(fields)
    return Job(**values)
