"""The queue protocol (SeaCloud, OdiRouter) without I/O: requests, typed answers, errors, flows."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

import httpx

from clients._core import (
    Core,
    Flow,
    PollPolicy,
    Progress,
    body_of,
    fail,
    poll,
    providers_of,
    transient,
)
from clients._errors import JobCancelledError, JobFailedError, JobNotReadyError

QUEUE_PROVIDERS = providers_of("queue")
JobState = Literal["IN_QUEUE", "IN_PROGRESS", "COMPLETED"]


@dataclass(frozen=True, slots=True)
class Submitted:
    """A queued job: its id and the URLs the provider gave for it.

    Example::

        job = client.submit("gpt_image_1", {"prompt": "an apple"})
        print(job.request_id, job.queue_position)
    """

    request_id: str
    model: str
    status_url: str
    response_url: str
    cancel_url: str
    queue_position: int


@dataclass(frozen=True, slots=True)
class LogLine:
    """One log line of a job (``status(..., logs=True)``).

    Example::

        for line in client.status(model, rid, logs=True).logs or ():
            print(line.timestamp, line.level, line.message)
    """

    message: str
    level: str
    source: str
    timestamp: str


@dataclass(frozen=True, slots=True)
class JobStatus:
    """A job's state. ``COMPLETED`` ends success and failure alike: see ``failed``.

    Example::

        status = client.status("gpt_image_1", job.request_id)
        if status.done and not status.failed:
            print(status.inference_time)
    """

    request_id: str
    state: JobState
    response_url: str
    queue_position: int | None = None
    logs: tuple[LogLine, ...] | None = None
    inference_time: float | None = None
    error: str | None = None
    error_type: str | None = None

    @property
    def done(self) -> bool:
        """The job finished (successfully or not)."""
        return self.state == "COMPLETED"

    @property
    def failed(self) -> bool:
        """The job finished without images."""
        return self.done and self.error_type is not None


@dataclass(frozen=True, slots=True)
class Output:
    """One generated image: its link and, once downloaded, its bytes in ``data``.

    Example::

        Path(output.file_name or "out.png").write_bytes(output.data or b"")
    """

    url: str
    content_type: str
    width: int
    height: int
    file_name: str | None = None
    data: bytes | None = None


@dataclass(frozen=True, slots=True)
class QueueResult:
    """A successful job's outputs, in order, and the prompt it echoed.

    Example::

        result = client.run("gpt_image_1", {"prompt": "an apple"}, download=True)
        print([(o.width, o.height, len(o.data or b"")) for o in result.outputs])
    """

    request_id: str
    outputs: tuple[Output, ...]
    metadata: Mapping[str, Any]

    @property
    def images(self) -> tuple[bytes, ...]:
        """The downloaded bytes of every output (empty where not downloaded)."""
        return tuple(o.data or b"" for o in self.outputs)


def _status(body: Mapping[str, Any]) -> JobStatus:
    logs = body.get("logs")
    return JobStatus(
        request_id=body["request_id"],
        state=body["status"],
        response_url=body.get("response_url", ""),
        queue_position=body.get("queue_position"),
        logs=None if logs is None else tuple(LogLine(**line) for line in logs),
        inference_time=(body.get("metrics") or {}).get("inference_time"),
        error=body.get("error"),
        error_type=body.get("error_type"),
    )


def _detail_text(detail: Any) -> str:
    if isinstance(detail, list):  # validation=sync: [{loc, msg, type}]
        return "; ".join(
            f"{'.'.join(str(p) for p in item.get('loc', []))}: {item.get('msg')}"
            for item in detail
            if isinstance(item, dict)
        )
    return str(detail)


def raise_for(response: httpx.Response) -> None:
    """Raise the provider error of any of the queue's error shapes; pass a success."""
    if not response.is_error:
        return
    body = body_of(response)
    code: str | None = None
    request_id = None
    message: Any = response.reason_phrase
    if isinstance(body, dict):
        error, status = body.get("error"), body.get("status")
        if isinstance(error, dict):  # gateway: {"error": {code, message}, "request_id"}
            code, message, request_id = (
                error.get("code"),
                error.get("message"),
                body.get("request_id"),
            )
        elif isinstance(status, dict):  # balance: {"status": {code, message, error_code}}
            code, message = str(status.get("error_code")), status.get("message", message)
        elif isinstance(status, str):  # cancel: {"status": "NOT_FOUND"}
            code = message = status
        elif "detail" in body:
            message = _detail_text(body["detail"])
    raise fail(response, body, str(message), code, request_id)


def _is_job_failure(response: httpx.Response) -> bool:
    body = body_of(response)
    return isinstance(body, dict) and "error_type" in body


class QueueCore(Core):
    """The queue's four operations and ``run`` as flows."""

    def _path(self, model: str, request_id: str | None = None, tail: str = "") -> str:
        path = f"/v1/queue/{model}"
        return path if request_id is None else f"{path}/requests/{request_id}{tail}"

    def submit(self, model: str, params: Mapping[str, Any]) -> Flow[Submitted]:
        response = yield from self.call("POST", self._path(model), json=dict(params))
        raise_for(response)
        body = response.json()
        return Submitted(
            request_id=body["request_id"],
            model=model,
            status_url=body["status_url"],
            response_url=body["response_url"],
            cancel_url=body["cancel_url"],
            queue_position=body.get("queue_position", 0),
        )

    def status(self, model: str, request_id: str, *, logs: bool = False) -> Flow[JobStatus]:
        path = self._path(model, request_id, "/status")
        params = {"logs": "1" if logs else "0"}
        response = yield from self.call("GET", path, params=params)
        raise_for(response)
        return _status(response.json())

    def result(self, model: str, request_id: str, *, download: bool) -> Flow[QueueResult]:
        result = yield from self._result(model, request_id)
        if download:
            result = yield from self.fetch(result)
        return result

    def _result(self, model: str, request_id: str) -> Flow[QueueResult]:
        path = self._path(model, request_id, "/response")
        response = yield from self.call(
            "GET", path, retryable=lambda r: transient(r) and not _is_job_failure(r)
        )
        if response.status_code == 202:
            state = response.json().get("status", "IN_QUEUE")
            raise JobNotReadyError(f"{request_id} is {state}", job_id=request_id, state=state)
        if _is_job_failure(response):
            body = response.json()
            error_type = str(body["error_type"])
            cls = JobCancelledError if error_type == "CANCELED" else JobFailedError
            raise cls(
                _detail_text(body.get("detail")),
                job_id=request_id,
                error_type=error_type,
                status=response.status_code,
            )
        raise_for(response)
        body = response.json()
        outputs = tuple(
            Output(
                url=o["url"],
                content_type=o.get("content_type", "application/octet-stream"),
                width=o.get("width", 0),
                height=o.get("height", 0),
                file_name=o.get("file_name"),
            )
            for o in body.get("outputs", [])
        )
        return QueueResult(body["request_id"], outputs, body.get("metadata") or {})

    def cancel(self, model: str, request_id: str) -> Flow[bool]:
        response = yield from self.call("PUT", self._path(model, request_id, "/cancel"))
        if response.status_code == 400 and body_of(response) == {"status": "ALREADY_COMPLETED"}:
            return False
        raise_for(response)
        return True

    def fetch(self, result: QueueResult) -> Flow[QueueResult]:
        """``result`` with every output's bytes downloaded."""
        outputs = []
        for output in result.outputs:
            data = yield from self.download(output.url)
            outputs.append(dataclasses.replace(output, data=data))
        return dataclasses.replace(result, outputs=tuple(outputs))

    def run(
        self,
        model: str,
        params: Mapping[str, Any],
        *,
        policy: PollPolicy,
        download: bool,
        on_status: Callable[[Progress], object] | None,
    ) -> Flow[QueueResult]:
        job = yield from self.submit(model, params)

        def describe(status: JobStatus, elapsed: float, polls: int) -> Progress:
            logs = tuple(line.message for line in status.logs or ())
            return Progress(
                job.request_id, status.state, status.queue_position, elapsed, polls, logs
            )

        def cancel(progress: Progress) -> Flow[bool]:
            return self.cancel(model, job.request_id)

        yield from poll(
            self.config,
            lambda: self.status(model, job.request_id, logs=policy.logs),
            done=lambda status: status.done,
            describe=describe,
            policy=policy,
            on_status=on_status,
            on_timeout=cancel,
        )
        return (yield from self.result(model, job.request_id, download=download))
