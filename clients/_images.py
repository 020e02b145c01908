"""``ImagesClient`` and ``AsyncImagesClient``: thin drivers over ``ImagesCore``."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Sequence
from typing import Unpack

from clients._core import Config
from clients._driver import AsyncDriver, SyncDriver
from clients._images_core import (
    IMAGES_PROVIDERS,
    EventParser,
    ImageEvent,
    ImageInput,
    ImageParams,
    ImagesCore,
    ImagesResult,
    images_result,
)

_MODEL = "gpt-image-1"


class ImagesClient(SyncDriver[ImagesCore]):
    """OpenAI's Images API (``openai``) and AGCloud's compatible edits (``agcloud``).

    ``base_url`` includes ``/v1``, as ``OPENAI_BASE_URL`` does for the official SDK
    (``https://api.openai.com/v1``, ``https://aiandgpu.com/v1``; on the emulator
    ``http://127.0.0.1:8000/v1``); the host alone is taken too and ``/v1`` added. Without it,
    ``openai`` reads ``OPENAI_BASE_URL``, then uses the real provider. The key comes from
    ``api_key`` or ``OPENAI_API_KEY`` / ``AGCLOUD_API_KEY``. Answers are decoded: images are bytes.

    Example::

        with ImagesClient("openai", base_url="http://127.0.0.1:8000/v1", api_key="sk-x") as c:
            result = c.generate("a red apple", size="1536x1024", quality="low")
            Path("apple.png").write_bytes(result.images[0])
    """

    _providers = IMAGES_PROVIDERS

    def _new_core(self, config: Config) -> ImagesCore:
        return ImagesCore(config)

    def generate(
        self, prompt: str, *, model: str = _MODEL, **params: Unpack[ImageParams]
    ) -> ImagesResult:
        """Generate images from ``prompt`` (``n``, ``size``, ``quality``, ... as keywords).

        Example::

            result = client.generate("a red apple", model="gpt-image-2", n=2)
        """
        return images_result(self._drive(self._core.generate(prompt, model, params)))

    def edit(
        self,
        prompt: str,
        image: ImageInput | Sequence[ImageInput],
        *,
        mask: ImageInput | None = None,
        model: str = _MODEL,
        **params: Unpack[ImageParams],
    ) -> ImagesResult:
        """Edit one image or a list (bytes, paths or binary files), optionally in a mask.

        Example::

            result = client.edit("make it green", "apple.png", mask=open("mask.png", "rb"))
        """
        return images_result(self._drive(self._core.edit(prompt, image, mask, model, params)))

    def stream_generate(
        self, prompt: str, *, model: str = _MODEL, **params: Unpack[ImageParams]
    ) -> Iterator[ImageEvent]:
        """``generate`` with ``stream=True``: partial images, then one completed event per image.

        Example::

            for event in client.stream_generate("a red apple", partial_images=2):
                print(event.type)
        """
        response = self._drive(self._core.generate(prompt, model, params, stream=True))
        return self._lines(response, EventParser(response))

    def stream_edit(
        self,
        prompt: str,
        image: ImageInput | Sequence[ImageInput],
        *,
        mask: ImageInput | None = None,
        model: str = _MODEL,
        **params: Unpack[ImageParams],
    ) -> Iterator[ImageEvent]:
        """``edit`` with ``stream=True``; an ``error`` event raises the provider's error.

        Example::

            for event in client.stream_edit("make it green", ["a.png", "b.png"], partial_images=1):
                print(event.type)
        """
        flow = self._core.edit(prompt, image, mask, model, params, stream=True)
        response = self._drive(flow)
        return self._lines(response, EventParser(response))


class AsyncImagesClient(AsyncDriver[ImagesCore]):
    """``ImagesClient`` for asyncio (or trio); streams are async iterators.

    Example::

        url = "http://127.0.0.1:8000/v1"
        async with AsyncImagesClient("agcloud", base_url=url, api_key="sk-x") as client:
            result = await client.edit("make it green", png_bytes, model="gpt-image-2")
    """

    _providers = IMAGES_PROVIDERS

    def _new_core(self, config: Config) -> ImagesCore:
        return ImagesCore(config)

    async def generate(
        self, prompt: str, *, model: str = _MODEL, **params: Unpack[ImageParams]
    ) -> ImagesResult:
        """Generate images (see ``ImagesClient.generate``).

        Example::

            result = await client.generate("a red apple", size="1024x1024")
        """
        return images_result(await self._drive(self._core.generate(prompt, model, params)))

    async def edit(
        self,
        prompt: str,
        image: ImageInput | Sequence[ImageInput],
        *,
        mask: ImageInput | None = None,
        model: str = _MODEL,
        **params: Unpack[ImageParams],
    ) -> ImagesResult:
        """Edit images (see ``ImagesClient.edit``).

        Example::

            result = await client.edit("make it green", [Path("a.png"), Path("b.png")])
        """
        flow = self._core.edit(prompt, image, mask, model, params)
        return images_result(await self._drive(flow))

    async def stream_generate(
        self, prompt: str, *, model: str = _MODEL, **params: Unpack[ImageParams]
    ) -> AsyncIterator[ImageEvent]:
        """A generation's events as an async iterator (see ``ImagesClient.stream_generate``).

        Example::

            async for event in client.stream_generate("an apple", partial_images=2):
                print(event.type)
        """
        response = await self._drive(self._core.generate(prompt, model, params, stream=True))
        async for event in self._lines(response, EventParser(response)):
            yield event

    async def stream_edit(
        self,
        prompt: str,
        image: ImageInput | Sequence[ImageInput],
        *,
        mask: ImageInput | None = None,
        model: str = _MODEL,
        **params: Unpack[ImageParams],
    ) -> AsyncIterator[ImageEvent]:
        """An edit's events as an async iterator (see ``ImagesClient.stream_edit``).

        Example::

            async for event in client.stream_edit("make it green", data, partial_images=1):
                print(event.type)
        """
        flow = self._core.edit(prompt, image, mask, model, params, stream=True)
        response = await self._drive(flow)
        async for event in self._lines(response, EventParser(response)):
            yield event
