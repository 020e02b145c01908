"""典名词元's protocol without I/O: the envelope, tasks, uploads, and waiting as flows."""

from __future__ import annotations

import base64
import dataclasses
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx

from clients._core import Core, Flow, PollPolicy, Progress, body_of, fail, poll, providers_of
from clients._errors import JobFailedError
from clients._images_core import ImageInput, _part

AA_PROVIDERS = providers_of("envelope")
_GENERATION = "/api/v1/image/generation"
_INSUFFICIENT = "insufficient_credit"


@dataclass(frozen=True, slots=True)
class AAUsage:
    """What a task cost: images, generation seconds and tokens.

    Example::

        print(task.usage.total_tokens if task.usage else 0)
    """

    images: int
    seconds: float
    input_tokens: int
    output_tokens: int
    total_tokens: int


@dataclass(frozen=True, slots=True)
class AATask:
    """A generation task: ``status`` is ``pending``, ``processing``, ``succeeded`` or ``failed``.

    ``urls`` work until ``expired``; ``images`` holds their bytes once downloaded.

    Example::

        task = client.generate("put it on a white table", images=["https://.../in.png"])
        print(task.status, task.urls)
    """

    task_id: str
    status: str
    urls: tuple[str, ...]
    usage: AAUsage | None
    expired: datetime | None
    request_id: str | None
    message: str
    images: tuple[bytes, ...] = ()

    @property
    def done(self) -> bool:
        """The task has ended (succeeded or failed)."""
        return self.status in ("succeeded", "failed")


def raise_for(response: httpx.Response) -> Any:
    """The envelope's ``data`` on success; otherwise the provider error it describes."""
    body = body_of(response)
    if not response.is_error and isinstance(body, dict) and body.get("code") == 0:
        return body.get("data")
    message = str(body.get("message")) if isinstance(body, dict) else str(body)
    code = _INSUFFICIENT if message.startswith(_INSUFFICIENT) else None
    request_id = body.get("request_id") if isinstance(body, dict) else None
    raise fail(response, body, message, code, request_id)


def _task(body: Mapping[str, Any], data: Mapping[str, Any]) -> AATask:
    usage = data.get("usage")
    expired = data.get("expired")
    return AATask(
        task_id=data["task_id"],
        status=data["task_status"],
        urls=tuple(data.get("urls") or ()),
        usage=AAUsage(**usage) if usage else None,
        expired=datetime.fromisoformat(expired) if expired else None,
        request_id=body.get("request_id"),
        message=body.get("message", ""),
    )


def _reference(source: str | ImageInput) -> dict[str, str]:
    """An ``{"image_url": ...}`` from a URL, or a ``data:`` URL from bytes, a path or a file."""
    if isinstance(source, str) and source.startswith(("http://", "https://", "data:")):
        return {"image_url": source}
    _name, data, content_type = _part(source)
    return {"image_url": f"data:{content_type};base64,{base64.b64encode(data).decode()}"}


class AACore(Core):
    """Generation, task query, upload, wait and run as flows."""

    def generate(
        self,
        prompt: str,
        images: Sequence[str | ImageInput],
        file_ids: Sequence[str],
        mask: str | ImageInput | None,
        model: str,
        wait: bool,
        params: Mapping[str, Any],
    ) -> Flow[AATask]:
        if params.get("stream"):
            raise ValueError(
                "stream=True answers an event stream, not a task: this client reads tasks only"
            )
        refs = [_reference(image) for image in images] + [{"file_id": f} for f in file_ids]
        body: dict[str, Any] = {"model": model, "prompt": prompt, "images": refs, **params}
        if mask is not None:
            body["mask"] = _reference(mask)
        if not wait:
            body["async"] = True
        response = yield from self.call("POST", _GENERATION, json=body)
        return _task(response.json(), raise_for(response))

    def task(self, task_id: str) -> Flow[AATask]:
        response = yield from self.call("GET", f"{_GENERATION}/{task_id}")
        return _task(response.json(), raise_for(response))

    def upload(self, file: ImageInput) -> Flow[str]:
        response = yield from self.call("POST", "/api/v1/files", files={"file": _part(file)})
        return str(raise_for(response)["file_id"])

    def wait(
        self,
        task: AATask,
        *,
        policy: PollPolicy,
        download: bool,
        on_status: Callable[[Progress], object] | None,
    ) -> Flow[AATask]:
        def describe(current: AATask, elapsed: float, polls: int) -> Progress:
            return Progress(current.task_id, current.status, None, elapsed, polls)

        def no_cancel(progress: Progress) -> Flow[bool]:  # the protocol has no cancel
            return False
            yield

        if not task.done:
            task_id = task.task_id
            task = yield from poll(
                self.config,
                lambda: self.task(task_id),
                done=lambda current: current.done,
                describe=describe,
                policy=policy,
                on_status=on_status,
                on_timeout=no_cancel,
            )
        if task.status == "failed":
            raise JobFailedError(task.message, job_id=task.task_id, error_type="FAILED")
        if download:
            images = []
            for url in task.urls:
                images.append((yield from self.download(url)))
            task = dataclasses.replace(task, images=tuple(images))
        return task
