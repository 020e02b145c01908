"""Input images of edits: references resolved to bytes, and what a record keeps of them.

References are ``data:`` URLs, bare base64, and URLs. Nothing is fetched from the network by
default: a URL this emulator served resolves to its own file when its signature holds and the
file is the caller's (``OwnFile``), any other URL (another key's file included) to a
deterministic placeholder. ``fetch_remote=allowlist`` fetches from the listed hosts only,
within the walls ``emulator.domain.fetch.Fetcher`` keeps.

A job or a task keeps only what rendering needs: its first input image and its mask, each
reduced to the output size when it is larger (``drawing.fit_base``, ``fit_mask``: the same
pixels as rendering from the input) and one copy per content however many records share it
(``InputResolver.keep``); its parameters keep each inline payload as its digest and size
(``record_params``).
"""

from __future__ import annotations

import asyncio
import hashlib
import re
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

from emulator.domain.drawing import InvalidImage, decode_inline, placeholder, probe
from emulator.domain.drawing.render import fit_base, fit_mask
from emulator.domain.errors import Violation
from emulator.domain.fetch import Fetcher
from emulator.domain.rules import ResolvedImage

_OWN_FILE = re.compile(
    r"/_files/(?P<rid>(?:mmsu|task)_[0-9a-z]{26})/(?P<index>\d+)\.(?P<fmt>png|jpeg|webp)$"
)
# A reference in the parameters longer than this is kept as its digest and size.
MAX_KEPT_REFERENCE = 2048
# The parameters that carry images (every protocol names them so).
IMAGE_PARAMS = ("images", "mask")
# Kept inputs shared between records: the same content is one object for all of them.
SHARED_INPUTS = 256
SHARED_INPUT_BYTES = 64 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class OwnFile:
    """A result file of this emulator's named by an input URL, with its link's signature."""

    request_id: str  # a queue job's or a 典名词元 task's id
    index: int
    output_format: str
    name: str  # ``<id>/<index>.<format>`` as the URL spells it: what the signature covers
    expires: str | None
    sig: str | None


# ``OwnFile`` and the caller's owner (``gateway.owner_of``) -> the file's bytes, or None when
# the link's signature fails, the file is another owner's, or there is no such file.
OwnFileLoader = Callable[[OwnFile, str], Awaitable[bytes | None]]


def record_params(params: dict[str, Any]) -> dict[str, Any]:
    """``params`` as a record keeps them: each long image reference (a ``data:`` URL, base64)
    becomes ``{"sha256": ..., "bytes": ...}`` of the image it decodes to (of its text when it
    decodes to none); URLs, file ids and every other parameter are kept as they came.
    ``params`` itself when it names no image (it is not changed either way)."""
    if "images" not in params and "mask" not in params:
        return params
    kept = dict(params)
    for name in IMAGE_PARAMS:
        if name in kept:
            kept[name] = _slim(kept[name])
    return kept


def _slim(value: Any) -> Any:
    if isinstance(value, str):
        return value if len(value) <= MAX_KEPT_REFERENCE else _digest(value)
    if isinstance(value, list):
        return [_slim(item) for item in value]
    if isinstance(value, dict):
        return {key: _slim(item) for key, item in value.items()}
    return value


def _digest(reference: str) -> dict[str, Any]:
    try:
        data = decode_inline(reference)
    except InvalidImage:
        data = None
    if data is None:
        data = reference.encode("utf-8", "surrogatepass")
    return {"sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)}


class InputResolver:
    """Turns a reference into image bytes and header facts, or a ``Violation`` naming it."""

    def __init__(self, own_file: OwnFileLoader, fetcher: Fetcher | None) -> None:
        self._own_file = own_file
        self._fetcher = fetcher
        # (content digest, width, height, transparent, is mask) -> the bytes records keep
        self._kept: OrderedDict[tuple[bytes, int, int, bool, bool], bytes] = OrderedDict()
        self._kept_bytes = 0

    async def keep(
        self, data: bytes, width: int, height: int, *, transparent: bool, mask: bool = False
    ) -> bytes:
        """What a record keeps of input ``data`` (the base image, or the mask) for a
        ``width`` x ``height`` output: the same object for the same content, and

        - ``data`` reduced to that size (a PNG) when it has more pixels and more bytes than
          the output's raw pixels, which such a PNG never much exceeds (a photo's JPEG is
          often smaller than any lossless copy: decoding it would cost time for nothing);
        - else ``data``.
        """
        key = (hashlib.sha256(data).digest(), width, height, transparent, mask)
        found = self._kept.get(key)
        if found is not None:
            self._kept.move_to_end(key)
            return found
        kept = data
        raw = width * height * (4 if transparent or mask else 3)
        try:
            info = probe(data) if len(data) > raw else None
            if info is not None and info.width * info.height > width * height:
                if mask:
                    fitted = await asyncio.to_thread(fit_mask, data, width, height)
                else:
                    fitted = await asyncio.to_thread(fit_base, data, width, height, transparent)
                kept = fitted if len(fitted) < len(data) else data
        except InvalidImage:
            pass  # kept as sent: rendering says what is wrong with it, as it always did
        self._kept[key] = kept
        self._kept_bytes += len(kept)
        while self._kept_bytes > SHARED_INPUT_BYTES or len(self._kept) > SHARED_INPUTS:
            self._kept_bytes -= len(self._kept.popitem(last=False)[1])
        return kept

    async def resolve(
        self, ref: str, loc: tuple[str | int, ...], *, owner: str
    ) -> ResolvedImage | Violation:
        """``ref`` as an image of ``owner``'s request (whose own result files it may name)."""
        try:
            data = decode_inline(ref)
            if data is None:
                data = await self._from_url(ref, owner)
                if data is None:
                    return Violation(loc, f"Could not download the image at {ref!r}.")
            return ResolvedImage(data=data, info=probe(data))
        except InvalidImage as exc:
            return Violation(loc, str(exc))

    async def _from_url(self, url: str, owner: str) -> bytes | None:
        parts = urlsplit(url)
        own = _OWN_FILE.search(parts.path)
        if own is not None:
            query = parse_qs(parts.query)
            ref = OwnFile(
                request_id=own["rid"],
                index=int(own["index"]),
                output_format=own["fmt"],
                name=f"{own['rid']}/{own['index']}.{own['fmt']}",
                expires=query.get("expires", [None])[-1],
                sig=query.get("sig", [None])[-1],
            )
            # A link that is not good for this caller tells nothing about the file behind it:
            # it becomes the placeholder of any URL not served here (never a fetch of it).
            found = await self._own_file(ref, owner)
            return found if found is not None else placeholder(url)
        if self._fetcher is not None and self._fetcher.covers(url):
            return await self._fetcher.fetch(url)
        return placeholder(url)
