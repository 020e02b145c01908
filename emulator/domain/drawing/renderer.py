"""The one way services turn a ``RenderSpec`` into bytes: a fresh render, or the load mode's.

By default every spec is rendered (one picture per prompt, off the event loop). In load mode
the pixels depend only on what shapes them (size, format, quality, background, compression,
preview fidelity): one encoded file per such key is kept in a bounded cache and each request's
provenance is stamped into a copy, so a generation costs a dictionary lookup and a copy instead
of a Pillow render.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from dataclasses import replace

from emulator.domain.drawing.render import RenderSpec, render
from emulator.domain.drawing.stamp import stamp
from emulator.domain.metrics import Metrics

LOAD_MODE_PROMPT = "imgemu load mode"
# The labels drawn on a load-mode picture: the ones naming what shapes its pixels.
_PIXEL_LABELS = frozenset({"size", "quality", "format"})


def pixel_key(spec: RenderSpec) -> RenderSpec:
    """The spec of the picture a load-mode request reuses: its pixel-shaping fields only."""
    return replace(
        spec,
        seed=0,
        prompt=LOAD_MODE_PROMPT,
        index=0,
        labels=tuple((k, v) for k, v in spec.labels if k in _PIXEL_LABELS),
        provenance=(),
        base=None,
        mask=None,
    )


class Renderer:
    """Renders specs; in ``load_mode`` reuses encoded pictures from a cache of ``cache_entries``."""

    def __init__(
        self, load_mode: bool = False, cache_entries: int = 256, metrics: Metrics | None = None
    ) -> None:
        self.load_mode = load_mode
        self.metrics = metrics  # counts each image made
        self._entries = cache_entries
        self._pictures: OrderedDict[RenderSpec, bytes] = OrderedDict()

    async def render(self, spec: RenderSpec) -> bytes:
        """``spec``'s file: rendered in a worker thread, or in load mode stamped from the cache."""
        data = await self._make(spec)
        if self.metrics is not None:
            self.metrics.rendered()
        return data

    async def _make(self, spec: RenderSpec) -> bytes:
        if not self.load_mode:
            return await asyncio.to_thread(render, spec)
        key = pixel_key(spec)
        picture = self._pictures.get(key)
        if picture is None:
            picture = await asyncio.to_thread(render, key)
            self._pictures[key] = picture
            while len(self._pictures) > self._entries:
                self._pictures.popitem(last=False)
        else:
            self._pictures.move_to_end(key)
        return stamp(picture, spec.provenance)

    def clear(self) -> None:
        """Forget the load mode's pictures."""
        self._pictures.clear()
