"""``AAClient`` and ``AsyncAAClient`` (典名词元): thin drivers over ``AACore``."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from clients._aa_core import AA_PROVIDERS, AACore, AATask
from clients._core import Config, PollPolicy, Progress
from clients._driver import AsyncDriver, SyncDriver
from clients._images_core import ImageInput

_MODEL = "gpt-image-1.5"
_DEFAULT_POLICY = PollPolicy()
StatusCallback = Callable[[Progress], object]
Images = Sequence[str | ImageInput]


class AAClient(SyncDriver[AACore]):
    """典名词元's image API: JSON generations (waiting or as tasks), task queries, uploads.

    ``base_url`` is the host root, no path (``https://api.aa.com.cn``; on the emulator
    ``http://127.0.0.1:8000``); the key comes from ``api_key`` or ``AA_API_KEY``. Input images
    are URLs (``https://``, ``data:``), bytes, paths or binary files, or uploaded ``file_ids``.

    Example::

        with AAClient(base_url="http://127.0.0.1:8000", api_key="sk-x") as client:
            task = client.run("put it on a white table", images=["product.png"], download=True)
            Path("out.png").write_bytes(task.images[0])
    """

    _providers = AA_PROVIDERS

    def _new_core(self, config: Config) -> AACore:
        return AACore(config)

    def generate(
        self,
        prompt: str,
        *,
        images: Images = (),
        file_ids: Sequence[str] = (),
        mask: str | ImageInput | None = None,
        model: str = _MODEL,
        wait: bool = True,
        **params: Any,
    ) -> AATask:
        """Generate; with ``wait=False`` answer a ``pending`` task at once (``"async": true``).

        Example::

            task = client.generate("on a white table", images=[png_bytes], n=2, size="1024x1024")
        """
        flow = self._core.generate(prompt, images, file_ids, mask, model, wait, params)
        return self._drive(flow)

    def task(self, task_id: str) -> AATask:
        """A task as it stands now.

        Example::

            client.task(task.task_id).status  # "processing"
        """
        return self._drive(self._core.task(task_id))

    def upload(self, file: ImageInput) -> str:
        """Upload an image; answer its ``file_id`` for ``generate(file_ids=[...])``.

        Example::

            file_id = client.upload("product.png")
        """
        return self._drive(self._core.upload(file))

    def wait(
        self,
        task: AATask,
        *,
        policy: PollPolicy = _DEFAULT_POLICY,
        download: bool = False,
        on_status: StatusCallback | None = None,
    ) -> AATask:
        """Poll ``task`` until it ends; ``JobFailedError`` if it failed, ``JobTimeoutError``.

        Example::

            done = client.wait(client.generate("...", images=[url], wait=False), download=True)
        """
        flow = self._core.wait(task, policy=policy, download=download, on_status=on_status)
        return self._drive(flow)

    def run(
        self,
        prompt: str,
        *,
        images: Images = (),
        policy: PollPolicy = _DEFAULT_POLICY,
        download: bool = False,
        on_status: StatusCallback | None = None,
        **params: Any,
    ) -> AATask:
        """Start an asynchronous task and ``wait`` for it.

        Example::

            task = client.run("on a white table", images=["in.png"], download=True)
        """
        task = self.generate(prompt, images=images, wait=False, **params)
        return self.wait(task, policy=policy, download=download, on_status=on_status)

    def download(self, url: str) -> bytes:
        """The bytes at a result link.

        Example::

            data = client.download(task.urls[0])
        """
        return self._drive(self._core.download(url))


class AsyncAAClient(AsyncDriver[AACore]):
    """``AAClient`` for asyncio (or trio): the same calls, awaited.

    Example::

        async with AsyncAAClient(base_url="http://127.0.0.1:8000", api_key="sk-x") as client:
            task = await client.run("on a white table", images=[png_bytes], download=True)
    """

    _providers = AA_PROVIDERS

    def _new_core(self, config: Config) -> AACore:
        return AACore(config)

    async def generate(
        self,
        prompt: str,
        *,
        images: Images = (),
        file_ids: Sequence[str] = (),
        mask: str | ImageInput | None = None,
        model: str = _MODEL,
        wait: bool = True,
        **params: Any,
    ) -> AATask:
        """Generate (see ``AAClient.generate``).

        Example::

            task = await client.generate("on a white table", file_ids=[file_id])
        """
        flow = self._core.generate(prompt, images, file_ids, mask, model, wait, params)
        return await self._drive(flow)

    async def task(self, task_id: str) -> AATask:
        """A task as it stands now.

        Example::

            task = await client.task(task_id)
        """
        return await self._drive(self._core.task(task_id))

    async def upload(self, file: ImageInput) -> str:
        """Upload an image; answer its ``file_id``.

        Example::

            file_id = await client.upload(Path("product.png"))
        """
        return await self._drive(self._core.upload(file))

    async def wait(
        self,
        task: AATask,
        *,
        policy: PollPolicy = _DEFAULT_POLICY,
        download: bool = False,
        on_status: StatusCallback | None = None,
    ) -> AATask:
        """Poll ``task`` until it ends (see ``AAClient.wait``).

        Example::

            done = await client.wait(task, policy=PollPolicy(timeout=120))
        """
        flow = self._core.wait(task, policy=policy, download=download, on_status=on_status)
        return await self._drive(flow)

    async def run(
        self,
        prompt: str,
        *,
        images: Images = (),
        policy: PollPolicy = _DEFAULT_POLICY,
        download: bool = False,
        on_status: StatusCallback | None = None,
        **params: Any,
    ) -> AATask:
        """Start an asynchronous task and wait for it (see ``AAClient.run``).

        Example::

            task = await client.run("on a white table", images=[url])
        """
        task = await self.generate(prompt, images=images, wait=False, **params)
        return await self.wait(task, policy=policy, download=download, on_status=on_status)

    async def download(self, url: str) -> bytes:
        """The bytes at a result link.

        Example::

            data = await client.download(task.urls[0])
        """
        return await self._drive(self._core.download(url))
