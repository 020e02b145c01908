"""``QueueClient`` and ``AsyncQueueClient``: thin drivers over ``QueueCore``."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from clients._core import Config, PollPolicy, Progress
from clients._driver import AsyncDriver, SyncDriver
from clients._queue_core import QUEUE_PROVIDERS, JobStatus, QueueCore, QueueResult, Submitted

StatusCallback = Callable[[Progress], object]
_DEFAULT_POLICY = PollPolicy()


class QueueClient(SyncDriver[QueueCore]):
    """The queue protocol of SeaCloud (``Key`` or ``Bearer`` auth) and OdiRouter (``Bearer``).

    ``base_url`` is the provider's queue root, with ``/model`` (``https://cloud.seaart.ai/model``,
    ``https://odirouter.ai/model``; on the emulator ``http://127.0.0.1:8000/seacloud/model``,
    ``.../odirouter/model``, or the bare ``.../model``); without ``/model`` it is added
    (``http://127.0.0.1:8000/odirouter`` works). The key comes from ``api_key`` or
    ``SEACLOUD_API_KEY`` / ``ODIROUTER_API_KEY``. Pass an
    ``httpx`` transport to run in-process, ``retry`` for 429/5xx retries, ``clock``/``sleep`` to
    run polling on another clock.

    Example::

        url = "http://127.0.0.1:8000/seacloud/model"
        with QueueClient("seacloud", base_url=url, api_key="k") as c:
            result = c.run("gpt_image_1", {"prompt": "a red apple"}, download=True)
            Path("apple.png").write_bytes(result.images[0])
    """

    _providers = QUEUE_PROVIDERS

    def _new_core(self, config: Config) -> QueueCore:
        return QueueCore(config)

    def submit(self, model: str, params: Mapping[str, Any]) -> Submitted:
        """Queue a job: ``params`` is the model's input object (prompt, size, ...).

        Example::

            job = client.submit("gpt_image_1", {"prompt": "a red apple", "size": "1024x1024"})
        """
        return self._drive(self._core.submit(model, params))

    def status(self, model: str, request_id: str, *, logs: bool = False) -> JobStatus:
        """The job's state, with its log lines when ``logs``.

        Example::

            client.status("gpt_image_1", job.request_id).state  # "IN_QUEUE", ...
        """
        return self._drive(self._core.status(model, request_id, logs=logs))

    def result(self, model: str, request_id: str, *, download: bool = False) -> QueueResult:
        """The outputs of a finished job (``JobNotReadyError`` before, ``JobFailedError`` ...).

        Example::

            result = client.result("gpt_image_1", job.request_id, download=True)
        """
        return self._drive(self._core.result(model, request_id, download=download))

    def cancel(self, model: str, request_id: str) -> bool:
        """Ask to cancel; False when the job had already completed.

        Example::

            if not client.cancel("gpt_image_1", job.request_id):
                print("too late: it finished")
        """
        return self._drive(self._core.cancel(model, request_id))

    def run(
        self,
        model: str,
        params: Mapping[str, Any],
        *,
        policy: PollPolicy = _DEFAULT_POLICY,
        download: bool = False,
        on_status: StatusCallback | None = None,
    ) -> QueueResult:
        """Submit, poll under ``policy`` until done, and return the result.

        ``on_status`` gets a ``Progress`` after each poll. Past ``policy.timeout`` the job is
        cancelled and ``JobTimeoutError`` raised; a failed job raises ``JobFailedError``.

        Example::

            result = client.run(
                "gpt_image_2",
                {"prompt": "a red apple", "size": "1536x1024"},
                policy=PollPolicy(interval=2, timeout=300),
                download=True,
                on_status=lambda p: print(p.state, p.queue_position, round(p.elapsed)),
            )
        """
        flow = self._core.run(model, params, policy=policy, download=download, on_status=on_status)
        return self._drive(flow)

    def download(self, url: str) -> bytes:
        """The bytes at a result link.

        Example::

            data = client.download(result.outputs[0].url)
        """
        return self._drive(self._core.download(url))


class AsyncQueueClient(AsyncDriver[QueueCore]):
    """``QueueClient`` for asyncio (or trio): the same calls, awaited.

    Example::

        url = "http://127.0.0.1:8000/odirouter/model"
        async with AsyncQueueClient("odirouter", base_url=url, api_key="k") as client:
            result = await client.run("gpt_image_1", {"prompt": "a red apple"}, download=True)
    """

    _providers = QUEUE_PROVIDERS

    def _new_core(self, config: Config) -> QueueCore:
        return QueueCore(config)

    async def submit(self, model: str, params: Mapping[str, Any]) -> Submitted:
        """Queue a job (see ``QueueClient.submit``).

        Example::

            job = await client.submit("gpt_image_1", {"prompt": "a red apple"})
        """
        return await self._drive(self._core.submit(model, params))

    async def status(self, model: str, request_id: str, *, logs: bool = False) -> JobStatus:
        """The job's state (see ``QueueClient.status``).

        Example::

            status = await client.status("gpt_image_1", job.request_id, logs=True)
        """
        return await self._drive(self._core.status(model, request_id, logs=logs))

    async def result(self, model: str, request_id: str, *, download: bool = False) -> QueueResult:
        """The outputs of a finished job (see ``QueueClient.result``).

        Example::

            result = await client.result("gpt_image_1", job.request_id)
        """
        return await self._drive(self._core.result(model, request_id, download=download))

    async def cancel(self, model: str, request_id: str) -> bool:
        """Ask to cancel (see ``QueueClient.cancel``).

        Example::

            await client.cancel("gpt_image_1", job.request_id)
        """
        return await self._drive(self._core.cancel(model, request_id))

    async def run(
        self,
        model: str,
        params: Mapping[str, Any],
        *,
        policy: PollPolicy = _DEFAULT_POLICY,
        download: bool = False,
        on_status: StatusCallback | None = None,
    ) -> QueueResult:
        """Submit and poll until done (see ``QueueClient.run``); ``on_status`` is a plain call.

        Example::

            result = await client.run("gpt_image_1", params, policy=PollPolicy(timeout=120))
        """
        flow = self._core.run(model, params, policy=policy, download=download, on_status=on_status)
        return await self._drive(flow)

    async def download(self, url: str) -> bytes:
        """The bytes at a result link.

        Example::

            data = await client.download(result.outputs[0].url)
        """
        return await self._drive(self._core.download(url))
