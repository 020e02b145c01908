"""Result files: signed, expiring links, and images rendered on first download then cached."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from emulator.domain.catalog import QUEUE_MODELS, resolve_quality
from emulator.domain.drawing import RenderSpec
from emulator.domain.drawing.renderer import Renderer
from emulator.domain.errors import LinkExpired, RequestNotFound
from emulator.domain.records import Job, OutputFile

FILES_PREFIX = "_files"


def prompt_digest(prompt: str) -> str:
    return hashlib.sha256(prompt.encode()).hexdigest()


def transparent_output(params: Mapping[str, Any], model: str, output_format: str) -> bool:
    """Whether a queue job's outputs have a transparent background."""
    info = QUEUE_MODELS.get(model)
    return (
        params.get("background") == "transparent"
        and info is not None
        and info.transparency
        and output_format in ("png", "webp")
    )


def render_spec(job: Job, output: OutputFile, seed: int) -> RenderSpec:
    """Everything that decides an output's bytes: the same job and seed give the same file."""
    params = job.params
    transparent = transparent_output(params, job.model, output.output_format)
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


def _ascii_digits(text: str) -> bool:
    # At most 16 digits: int() refuses thousands of them (and no link lives that long).
    return text.isascii() and text.isdigit() and len(text) <= 16


# Expired files dropped at most per file kept (the cache is bounded in bytes besides).
SWEEP = 8


class FileService:
    """Signs result links, checks them, and renders the files behind them.

    Rendered files are cached up to ``cache_bytes`` (the least recently used go first), each
    until its link expires: after that no link can reach it. The files least recently used
    are dropped once expired as others are kept, so an idle cache holds its last files.
    """

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
        # (result id, image index) -> (when its link expires, bytes), least recently used first
        self._cache: OrderedDict[tuple[str, int], tuple[float, bytes]] = OrderedDict()
        self._cached_bytes = 0

    @property
    def secret(self) -> bytes:
        """The key links are signed with."""
        return self._secret

    def use_secret(self, secret: bytes) -> None:
        """Sign and check links with ``secret`` from now on (the key a shared store holds)."""
        self._secret = secret

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
        if expires is None or sig is None or not _ascii_digits(expires) or not sig.isascii():
            raise LinkExpired()  # ("²" is a digit to ``isdigit``; only ASCII compares in hmac)
        good = self._signature(name, int(expires))
        if not hmac.compare_digest(good, sig) or now > int(expires):
            raise LinkExpired()

    @staticmethod
    def find_output(job: Job, index: int, output_format: str) -> OutputFile:
        for output in job.outputs:
            if output.index == index and output.output_format == output_format:
                return output
        raise RequestNotFound()

    async def render(self, job: Job, output: OutputFile, now: float) -> bytes:
        """The file's bytes at ``now``: from the cache, or made by the renderer."""
        return await self.cached(
            (job.request_id, output.index),
            lambda: self.renderer.render(render_spec(job, output, self.seed)),
            self.expires(job.finished_at),
            now,
        )

    async def cached(
        self,
        key: tuple[str, int],
        make: Callable[[], Awaitable[bytes]],
        expires: float,
        now: float,
    ) -> bytes:
        """File ``key`` (result id, image index) from the cache, or made by ``make`` and kept
        until ``expires`` (its link's expiry) if that is not past at ``now``."""
        found = self._cache.get(key)
        if found is not None:
            if found[0] >= now:
                self._cache.move_to_end(key)
                return found[1]
            self._forget(key)
        data = await make()
        self._remember(key, data, expires, now)
        return data

    def _forget(self, key: tuple[str, int]) -> None:
        self._cached_bytes -= len(self._cache.pop(key)[1])

    def _remember(self, key: tuple[str, int], data: bytes, expires: float, now: float) -> None:
        cache = self._cache
        for _ in range(SWEEP):  # the least recently used, once their links have expired
            if not cache:
                break
            oldest, (until, _data) = next(iter(cache.items()))
            if until >= now:
                break
            self._forget(oldest)
        if len(data) > self._budget or key in cache or expires < now:
            return
        cache[key] = (expires, data)
        self._cached_bytes += len(data)
        while self._cached_bytes > self._budget:
            _, (_, old) = cache.popitem(last=False)
            self._cached_bytes -= len(old)

    def clear(self) -> None:
        self._cache.clear()
        self._cached_bytes = 0
