"""Input images of edits: references resolved to bytes, and what a record keeps of them.

References are ``data:`` URLs, bare base64, and URLs. Nothing is fetched from the network by
default: a URL this emulator served resolves to its own file when its signature holds and the
file is the caller's (``OwnFile``), any other URL (another key's file included) to a
deterministic placeholder. ``fetch_remote=allowlist`` fetches from the listed hosts only,
within the walls ``emulator.domain.fetch.Fetcher`` keeps.

Every input is bounded before it costs anything (``ImageLimits``): its bytes as sent, and its
pixels as its header gives them, before any pixel is decoded. Once a request is otherwise
valid and its output size known, every input image is decoded fully, once, in a worker thread
(``InputResolver.fit``): an image whose header parses but whose data does not is refused then,
as the request's input, never found out when its output is drawn. Decodes in flight hold their
pixels from one budget (``PixelBudget``, as many as one image may have): a large image waits
for room, so the pixels decoded at once stay bounded however many requests arrive.

A job or a task keeps only what rendering needs: its first input image and its mask, each
reduced to the output size when it is larger (``drawing.fit_base``, ``fit_mask``: the same
pixels as rendering from the input) and one copy per content however many records share it
(``InputResolver.keep``); its parameters keep each inline payload as its digest and size
(``record_params``). Rendering a record's outputs, however many, decodes no more than the
output's pixels each.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
from collections import OrderedDict, deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import parse_qs, urlsplit

from emulator.domain.drawing import (
    ImageInfo,
    ImageLimits,
    ImageTooLarge,
    InvalidImage,
    decode_inline,
    placeholder,
    probe,
)
from emulator.domain.drawing.render import check_decodes, fit_base, fit_mask
from emulator.domain.errors import Violation
from emulator.domain.fetch import Fetcher
from emulator.domain.rules import ResolvedImage

_OWN_FILE = re.compile(
    r"/_files/(?P<rid>(?:mmsu|task)_[0-9a-z]{26})/(?P<index>\d+)\.(?P<fmt>png|jpeg|webp)$"
)
# A reference in the parameters longer than this is kept as its digest and size.
MAX_KEPT_REFERENCE = 2048
# A URL longer than this is cut short where an error names it.
MAX_SHOWN_URL = 200
# The parameters that carry images (every protocol names them so).
IMAGE_PARAMS = ("images", "mask")
# Kept inputs shared between records: the same content is one object for all of them.
SHARED_INPUTS = 256
SHARED_INPUT_BYTES = 64 * 1024 * 1024
# Digests of inputs found to decode, remembered so the same content is decoded once.
CHECKED_INPUTS = 1024
# Data larger than this is hashed or base64-decoded in a worker thread, off the event loop.
OFF_LOOP_BYTES = 1024 * 1024

T = TypeVar("T")


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


class PixelBudget:
    """Pixels that decodes in flight may hold at once, granted first come, first served.

    A decode asks for its image's pixels (at most the whole budget) and waits until they are
    free; it returns them when its worker thread ends, even if the request that asked has gone
    (its thread still holds the memory until then). Made without an event loop: any loop may
    use it, one at a time.
    """

    def __init__(self, pixels: int) -> None:
        self.pixels = pixels
        self.used = 0
        self._waiting: deque[tuple[int, asyncio.Future[None]]] = deque()

    async def run(self, pixels: int, work: Callable[[], T]) -> T:
        """``work()`` in a worker thread once ``pixels`` (capped at the budget) are free."""
        pixels = max(1, min(pixels, self.pixels))
        await self._acquire(pixels)
        try:
            task = asyncio.ensure_future(asyncio.to_thread(work))
        except BaseException:
            self._release(pixels)
            raise
        task.add_done_callback(lambda _: self._release(pixels))
        return await asyncio.shield(task)

    async def _acquire(self, pixels: int) -> None:
        if not self._waiting and self.used + pixels <= self.pixels:
            self.used += pixels
            return
        granted: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting.append((pixels, granted))
        try:
            await granted
        except BaseException:
            if granted.done() and not granted.cancelled():
                self._release(pixels)  # granted as it was cancelled: hand the pixels on
            else:
                granted.cancel()  # skipped when its turn comes
            raise

    def _release(self, pixels: int) -> None:
        self.used -= pixels
        while self._waiting:
            wanted, granted = self._waiting[0]
            if granted.done():
                self._waiting.popleft()
                continue
            if self.used + wanted > self.pixels:
                break
            self._waiting.popleft()
            self.used += wanted
            granted.set_result(None)


@dataclass(frozen=True, slots=True)
class Fitted:
    """What a record keeps of an edit's inputs: its first image and its mask, as ``keep``
    leaves them (None: there is none)."""

    base: bytes | None = None
    mask: bytes | None = None


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


async def kept_params(params: dict[str, Any]) -> dict[str, Any]:
    """``record_params(params)``, in a worker thread when an inline image in them is large
    (its digest decodes and hashes it)."""
    if "images" not in params and "mask" not in params:
        return params
    if _inline_bytes(params.get("images")) + _inline_bytes(params.get("mask")) < OFF_LOOP_BYTES:
        return record_params(params)
    return await asyncio.to_thread(record_params, params)


def _inline_bytes(value: Any) -> int:
    if isinstance(value, str):
        return len(value) if len(value) > MAX_KEPT_REFERENCE else 0
    if isinstance(value, list):
        return sum(_inline_bytes(item) for item in value)
    if isinstance(value, dict):
        return sum(_inline_bytes(item) for item in value.values())
    return 0


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
    """Turns a reference into image bytes and header facts, or a ``Violation`` naming it;
    decodes the inputs of a request once it is otherwise valid (``fit``), bounded by
    ``limits``."""

    def __init__(
        self,
        own_file: OwnFileLoader,
        fetcher: Fetcher | None,
        limits: ImageLimits | None = None,
    ) -> None:
        self._own_file = own_file
        self._fetcher = fetcher
        self.limits = limits or ImageLimits()
        self.budget = PixelBudget(self.limits.max_pixels)
        # (content digest, width, height, transparent, is mask) -> the bytes records keep
        self._kept: OrderedDict[tuple[bytes, int, int, bool, bool], bytes] = OrderedDict()
        self._kept_bytes = 0
        self._checked: OrderedDict[bytes, None] = OrderedDict()  # digests that decoded

    def inspect(self, data: bytes, loc: tuple[str | int, ...]) -> ResolvedImage | Violation:
        """``data`` (a form's file part, an uploaded file) with its header facts, or the
        ``Violation`` saying why it is no usable input image."""
        try:
            return ResolvedImage(data=data, info=probe(data, self.limits))
        except ImageTooLarge as exc:
            return Violation(loc, str(exc), "image_too_large", exc.facts)
        except InvalidImage as exc:
            return Violation(loc, str(exc), "invalid_image_format")

    async def resolve(
        self, ref: str, loc: tuple[str | int, ...], *, owner: str
    ) -> ResolvedImage | Violation:
        """``ref`` as an image of ``owner``'s request (whose own result files it may name),
        within the limits."""
        try:
            data = await _off_loop(len(ref), decode_inline, ref)
            if data is None:
                data = await self._from_url(ref, owner)
                if data is None:
                    shown = ref if len(ref) <= MAX_SHOWN_URL else ref[: MAX_SHOWN_URL - 3] + "..."
                    return Violation(loc, f"Could not download the image at {shown!r}.")
            return ResolvedImage(data=data, info=probe(data, self.limits))
        except ImageTooLarge as exc:
            return Violation(loc, str(exc), "image_too_large", exc.facts)
        except InvalidImage as exc:
            return Violation(loc, str(exc))

    async def fit(
        self,
        images: Sequence[ResolvedImage | None],
        mask: ResolvedImage | None,
        width: int,
        height: int,
        *,
        transparent: bool,
        field: str = "images",
    ) -> Fitted | Violation:
        """Decode every input image and the mask fully, once, for a ``width`` x ``height``
        output: what a record keeps of them (the first image and the mask, see ``keep``), or
        the ``Violation`` naming the first that cannot be decoded (``field``: the name of the
        request's image field)."""
        base: bytes | None = None
        for index, image in enumerate(images):
            if image is None:
                continue
            try:
                if base is None:
                    base = await self.keep(
                        image.data, width, height, transparent=transparent, info=image.info
                    )
                else:
                    await self.check(image.data, image.info)
            except InvalidImage as exc:
                return Violation((field, index), str(exc), "invalid_image_format")
        kept_mask: bytes | None = None
        if mask is not None:
            try:
                kept_mask = await self.keep(
                    mask.data, width, height, transparent=False, mask=True, info=mask.info
                )
            except InvalidImage as exc:
                return Violation(("mask",), str(exc), "invalid_image_format")
        return Fitted(base, kept_mask)

    async def keep(
        self,
        data: bytes,
        width: int,
        height: int,
        *,
        transparent: bool,
        mask: bool = False,
        info: ImageInfo | None = None,
    ) -> bytes:
        """What a record keeps of input ``data`` (the base image, or the mask) for a
        ``width`` x ``height`` output, after decoding every pixel of it (in a worker thread,
        within the pixel budget): the same object for the same content, and

        - ``data`` itself when it has no more pixels than the output and no more bytes than
          its raw pixels (a photo's JPEG is often smaller than any lossless copy);
        - else ``data`` reduced to that size, as a PNG.

        Raises ``InvalidImage`` (``ImageTooLarge``) for data that cannot be decoded or is
        over the limits; ``info``, its header's facts, when the caller has them already.
        """
        key = (await _sha256(data), width, height, transparent, mask)
        found = self._kept.get(key)
        if found is not None:
            self._kept.move_to_end(key)
            return found
        if info is None:
            info = probe(data, self.limits)
        if mask:
            fitted = await self.budget.run(
                info.width * info.height, lambda: fit_mask(data, width, height)
            )
        else:
            fitted = await self.budget.run(
                info.width * info.height, lambda: fit_base(data, width, height, transparent)
            )
        kept = data if fitted is None else fitted
        self._remember_checked(key[0])
        self._kept[key] = kept
        self._kept_bytes += len(kept)
        while self._kept_bytes > SHARED_INPUT_BYTES or len(self._kept) > SHARED_INPUTS:
            self._kept_bytes -= len(self._kept.popitem(last=False)[1])
        return kept

    async def check(self, data: bytes, info: ImageInfo) -> None:
        """Decode every pixel of an input a record does not keep (an edit's second image...),
        once per content; ``InvalidImage`` if it cannot be decoded."""
        digest = await _sha256(data)
        if digest in self._checked:
            self._checked.move_to_end(digest)
            return
        await self.budget.run(info.width * info.height, lambda: check_decodes(data, "The image"))
        self._remember_checked(digest)

    def _remember_checked(self, digest: bytes) -> None:
        self._checked[digest] = None
        self._checked.move_to_end(digest)
        while len(self._checked) > CHECKED_INPUTS:
            self._checked.popitem(last=False)

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


async def _off_loop(size: int, work: Callable[[str], T], arg: str) -> T:
    """``work(arg)``, in a worker thread when it handles ``size`` bytes or more."""
    if size < OFF_LOOP_BYTES:
        return work(arg)
    return await asyncio.to_thread(work, arg)


async def _sha256(data: bytes) -> bytes:
    if len(data) < OFF_LOOP_BYTES:
        return hashlib.sha256(data).digest()
    return await asyncio.to_thread(lambda: hashlib.sha256(data).digest())
