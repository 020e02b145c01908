"""Result files: signed, expiring links, and images rendered on first download then cached."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections import OrderedDict
from collections.abc import Awaitable, Callable

from emulator.domain.catalog import QUEUE_MODELS, resolve_quality
from emulator.domain.drawing import RenderSpec
from emulator.domain.drawing.renderer import Renderer
from emulator.domain.errors import LinkExpired, RequestNotFound
from emulator.domain.records import Job, OutputFile

FILES_PREFIX = "_files"


def prompt_digest(prompt: str) -> str:
    return hashlib.sha256(prompt.encode()).hexdigest()


def render_spec(job: Job, output: OutputFile, seed: int) -> RenderSpec:
    """Everything that decides an output's bytes: the same job and seed give the same file."""
    params = job.params
    info = QUEUE_MODELS.get(job.model)
    transparent = (
        params.get("background") == "transparent"
        and info is not None
        and info.transparency
        and output.output_format in ("png", "webp")
    )
    quality = resolve_quality(str(params.get("quality", "auto")))
    labels = (
        ("model", job.model),
        ("size", f"{output.width}x{output.height}"),
        ("quality", quality),
        ("format", output.output_format),
        ("image", f"{output.index + 1}/{job.n_outputs}"),
    )
    provenance = (
        ("request_id", job.request_id),
        ("prompt_sha256", prompt_digest(str(params.get("prompt", "")))),
        ("params", json.dumps(_public_params(params), sort_keys=True)),
    )
    return RenderSpec(
        seed=seed,
        prompt=str(params.get("prompt", "")),
        index=output.index,
        width=output.width,
        height=output.height,
        output_format=output.output_format,  # type: ignore[arg-type]
        compression=int(params.get("output_compression", 100)),
        transparent=transparent,
        labels=labels,
        provenance=provenance,
        base=job.inputs[0] if job.inputs else None,
        mask=job.mask,
    )


def _public_params(params: dict[str, object]) -> dict[str, object]:
    """Request parameters for metadata, with image payloads left out."""
    return {k: v for k, v in params.items() if k not in ("images", "mask", "prompt")}


class FileService:
    """Signs result links, checks them, and renders the files behind them."""

    def __init__(
        self,
        secret: bytes,
        ttl: float,
        seed: int,
        cache_bytes: int,
        renderer: Renderer | None = None,
    ) -> None:
        self._secret = secret
        self.renderer = renderer or Renderer()
        self.ttl = ttl
        self.seed = seed
        self._budget = cache_bytes
        self._cache: OrderedDict[tuple[str, int], bytes] = OrderedDict()
        self._cached_bytes = 0

    def _signature(self, name: str, expires: int) -> str:
        message = f"{name}:{expires}".encode()
        return hmac.new(self._secret, message, hashlib.sha256).hexdigest()[:32]

    @staticmethod
    def file_name(job: Job, output: OutputFile) -> str:
        return f"{job.request_id}/{output.index}.{output.output_format}"

    def link(self, job: Job, output: OutputFile) -> str:
        """The path and query of an output's URL (the HTTP layer puts the base in front)."""
        return self.signed(self.file_name(job, output), self.expires(job.finished_at))

    def expires(self, finished_at: float) -> int:
        """When the links of a result that finished at ``finished_at`` stop working."""
        return int(finished_at + self.ttl)

    def signed(self, name: str, expires: int) -> str:
        """The path and query of file ``name`` (``<id>/<index>.<format>``), good to ``expires``."""
        return f"{FILES_PREFIX}/{name}?expires={expires}&sig={self._signature(name, expires)}"

    def verify(self, name: str, expires: str | None, sig: str | None, now: float) -> None:
        """Raise ``LinkExpired`` unless the signature is right and the link has not expired."""
        if expires is None or sig is None or not expires.isdigit():
            raise LinkExpired()
        good = self._signature(name, int(expires))
        if not hmac.compare_digest(good, sig) or now > int(expires):
            raise LinkExpired()

    @staticmethod
    def find_output(job: Job, index: int, output_format: str) -> OutputFile:
        for output in job.outputs:
            if output.index == index and output.output_format == output_format:
                return output
        raise RequestNotFound()

    async def render(self, job: Job, output: OutputFile) -> bytes:
        """The file's bytes: from the cache, or made by the renderer."""
        return await self.cached(
            (job.request_id, output.index),
            lambda: self.renderer.render(render_spec(job, output, self.seed)),
        )

    async def cached(self, key: tuple[str, int], make: Callable[[], Awaitable[bytes]]) -> bytes:
        """File ``key`` (result id, image index) from the cache, or made by ``make`` and kept."""
        data = self._cache.get(key)
        if data is not None:
            self._cache.move_to_end(key)
            return data
        data = await make()
        self._remember(key, data)
        return data

    def _remember(self, key: tuple[str, int], data: bytes) -> None:
        if len(data) > self._budget or key in self._cache:
            return
        self._cache[key] = data
        self._cached_bytes += len(data)
        while self._cached_bytes > self._budget:
            _, old = self._cache.popitem(last=False)
            self._cached_bytes -= len(old)

    def clear(self) -> None:
        self._cache.clear()
        self._cached_bytes = 0
