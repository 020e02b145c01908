"""The request journal: every answered request, summarized, in a bounded ring in the store.

**Entries** (``records.JournalEntry``) say what was asked and how it was answered: the time
it arrived (emulator clock), provider and operation, method, path and query, a digest of the
key (``key_digest``: the owner name jobs are filed under, never the key), the
``X-Imgemu-Test-Id`` it carried, the status, the seconds it took, the error code and message
of a refusal, a fault applied to it, and its fields summarized (``summarize``): every image,
inline (a ``data:`` URL, base64) or a file part, becomes ``{sha256, bytes, width, height,
format}`` (the last three read from its header; null when it does not decode), a long string
its first ``TEXT`` characters and its length, a long list its first ``ITEMS`` items and a
count of the rest. An entry's fields take at most ``FIELDS_BYTES`` bytes as JSON (tighter
bounds are tried, then the fields are left out), so the ring is bounded in memory. The
journal never keeps image bytes.

**The ring** holds the newest ``size`` entries (the ``journal_size`` setting) in the store:
one for every process sharing it. Entries are read newest first, in the order their answers
were noted (across processes, the order they reached the store).

**Off the answer's path.** The HTTP layer notes each request after its answer has gone out
(``Journal.note``: a function and its arguments, kept in a list), and the summarizing and the
store's write happen in the background a moment later (``FLUSH_SECONDS``), many entries to one
write under load. A read flushes this process's notes first, so a process reads its own
requests at once; with a shared store it also waits ``SHARED_READ_WAIT`` for the others'.
Notes waiting for a flush are bounded by the ring's size (the oldest go, as they would from
the ring).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
from collections import deque
from collections.abc import Callable
from fnmatch import fnmatchcase
from typing import Any

import orjson

from emulator.domain.drawing import InvalidImage, decode_inline, probe
from emulator.domain.gateway import owner_of
from emulator.domain.images import Upload
from emulator.domain.inputs import IMAGE_PARAMS
from emulator.domain.records import JournalEntry, record
from emulator.store.base import Store

LOGGER = logging.getLogger("imgemu")

# Bounds of a summary: characters of a string, items of a list, keys of an object, depth.
TEXT = 1000
ITEMS = 20
KEYS = 64
DEPTH = 8
# The most bytes an entry's fields take as JSON; tighter bounds are tried in this order.
FIELDS_BYTES = 6144
_TIGHTER = ((TEXT, ITEMS, KEYS), (200, 8, 32), (80, 3, 16))
# Bounds of the entry's other texts (characters).
PATH = 1024
QUERY = 1024
MESSAGE = 300
TEST_ID = 128
# An image reference in an image parameter shorter than this is kept as it came (a file id,
# a short name): nothing that short is an image worth a digest.
_SHORT_REFERENCE = 64

# Seconds between a note and the flush that writes it (many notes, one write under load).
FLUSH_SECONDS = 0.002
# Seconds a read through a shared store waits for the other processes' flushes.
SHARED_READ_WAIT = 0.025


def key_digest(key: str) -> str:
    """A short, non-secret digest of an API key: the ``owner`` its jobs are filed under."""
    return owner_of(key)


def presented_key(authorization: str | None) -> str | None:
    """The key an ``Authorization`` header presents (``Scheme key``), taken or not."""
    _, _, key = (authorization or "").strip().partition(" ")
    return key.strip() or None


def clip(text: str | None, limit: int) -> str | None:
    """``text`` cut to ``limit`` characters (None stays None)."""
    return text if text is None or len(text) <= limit else text[:limit]


def clean_test_id(value: str) -> str | None:
    """A test id as the journal keeps it: printable, at most ``TEST_ID`` characters; None
    when nothing is left."""
    value = value.strip()[:TEST_ID]
    if not value.isprintable():
        value = "".join(c for c in value if c.isprintable())
    return value or None


# -- summaries ----------------------------------------------------------------------------------


def image_summary(data: bytes) -> dict[str, Any]:
    """``{sha256, bytes, width, height, format}`` of an image (or of any file: then the last
    three are null)."""
    try:
        info = probe(data)
        width: int | None = info.width
        height: int | None = info.height
        fmt: str | None = info.format
    except InvalidImage:
        width = height = fmt = None
    digest = hashlib.sha256(data).hexdigest()
    return {"sha256": digest, "bytes": len(data), "width": width, "height": height, "format": fmt}


class _Summary:
    """One walk over a request's fields within bounds; an image met again (a tighter walk
    over the same fields) is summarized once."""

    def __init__(self) -> None:
        self.images: dict[int, Any] = {}  # id of the text or bytes -> its summary
        self.text, self.items, self.keys = _TIGHTER[0]

    def of(self, fields: Any, bounds: tuple[int, int, int]) -> Any:
        self.text, self.items, self.keys = bounds
        if isinstance(fields, Upload):
            return self._upload(fields)
        return self._value(fields, DEPTH, False)

    def _upload(self, upload: Upload) -> dict[str, Any]:
        found: dict[str, Any] = {}
        for name, text in list(upload.fields.items())[: self.keys]:
            found[name[: self.text]] = self._text(text)
        for name, parts in upload.files.items():
            summaries = [self._image(data) for data in parts[: self.items]]
            if len(parts) > self.items:
                summaries.append({"more": len(parts) - self.items})
            found[name[: self.text]] = summaries[0] if len(parts) == 1 else summaries
        return found

    def _image(self, data: bytes) -> Any:
        found = self.images.get(id(data))
        if found is None:
            found = self.images[id(data)] = image_summary(data)
        return found

    def _reference(self, text: str) -> Any:
        """An image reference: its image's summary when it is inline, else the text."""
        found = self.images.get(id(text))
        if found is not None:
            return found
        try:
            data = decode_inline(text)
        except InvalidImage:
            data = None
        if data is None:  # a URL, or text that is no base64
            return self._text(text)
        found = self.images[id(text)] = image_summary(data)
        return found

    def _text(self, text: str) -> Any:
        if len(text) <= self.text:
            return text
        return {"text": text[: self.text], "length": len(text)}

    def _value(self, value: Any, depth: int, image: bool) -> Any:
        if isinstance(value, str):
            if (image and len(value) >= _SHORT_REFERENCE) or value[:5].lower() == "data:":
                return self._reference(value)
            return self._text(value)
        if isinstance(value, dict):
            if depth <= 0:
                return {"more": len(value)}
            found: dict[str, Any] = {}
            for key, item in list(value.items())[: self.keys]:
                inner = image or key in IMAGE_PARAMS
                if image and key == "file_id":
                    inner = False
                found[str(key)[: self.text]] = self._value(item, depth - 1, inner)
            if len(value) > self.keys:
                found["..."] = {"more": len(value) - self.keys}
            return found
        if isinstance(value, list):
            if depth <= 0:
                return [{"more": len(value)}]
            items = [self._value(item, depth - 1, image) for item in value[: self.items]]
            if len(value) > self.items:
                items.append({"more": len(value) - self.items})
            return items
        if isinstance(value, bytes):
            return self._image(value)
        if value is None or isinstance(value, bool | int | float):
            return value
        return self._text(str(value))


def json_size(value: Any) -> int:
    """Bytes of ``value`` as compact JSON (what the Redis store keeps of it)."""
    try:
        return len(orjson.dumps(value))
    except TypeError:  # an integer beyond 64 bits
        return len(json.dumps(value, separators=(",", ":"), allow_nan=True).encode())


def summarize(fields: Any) -> Any:
    """A request's fields as the journal keeps them: the JSON body or the form's parts, each
    image as its ``image_summary``, long texts and lists bounded, at most ``FIELDS_BYTES`` as
    JSON (tighter bounds, then ``{"omitted": bytes}``). None stays None."""
    if fields is None:
        return None
    walk = _Summary()
    size = 0
    for bounds in _TIGHTER:
        summary = walk.of(fields, bounds)
        size = json_size(summary)
        if size <= FIELDS_BYTES:
            return summary
    return {"omitted": size}


def make_entry(
    *,
    time: float,
    provider: str,
    operation: str,
    method: str,
    path: str,
    query: str | None,
    key: str | None,
    test_id: str | None,
    status: int,
    seconds: float,
    request_id: str | None,
    fields: Any,
    error: str | None = None,
    message: str | None = None,
    fault: dict[str, Any] | None = None,
) -> JournalEntry:
    """An entry from what a request was and how it was answered: ``key`` is the key itself
    (digested here), ``fields`` as the handler parsed them (summarized here); texts bounded."""
    return JournalEntry(
        time=time,
        provider=provider,
        operation=operation,
        method=method,
        path=clip(path, PATH) or "",
        query=clip(query, QUERY) or None,
        key=None if key is None else key_digest(key),
        test_id=test_id,
        status=status,
        seconds=seconds,
        request_id=request_id,
        fields=summarize(fields),
        error=clip(error, MESSAGE),
        message=clip(message, MESSAGE),
        fault=fault,
    )


# -- filters ------------------------------------------------------------------------------------


@record
class Filter:
    """Which entries a read wants; every field given must match (None: any).

    ``path`` is a shell-style pattern (``fnmatch``, case-sensitive; ``*`` crosses ``/``);
    ``status`` an exact status, ``status_class`` its hundreds (4 for 4xx); ``key`` a key's
    digest; ``since`` the earliest arrival, emulator-clock seconds.
    """

    provider: str | None = None
    operation: str | None = None
    path: str | None = None
    status: int | None = None
    status_class: int | None = None
    key: str | None = None
    test_id: str | None = None
    since: float | None = None

    def matches(self, entry: JournalEntry) -> bool:
        """Whether ``entry`` passes every condition given."""
        return (
            (self.provider is None or entry.provider == self.provider)
            and (self.operation is None or entry.operation == self.operation)
            and (self.status is None or entry.status == self.status)
            and (self.status_class is None or entry.status // 100 == self.status_class)
            and (self.key is None or entry.key == self.key)
            and (self.test_id is None or entry.test_id == self.test_id)
            and (self.since is None or entry.time >= self.since)
            and (self.path is None or fnmatchcase(entry.path, self.path))
        )


# -- this process's notes on their way to the store ---------------------------------------------

Note = tuple[Callable[..., JournalEntry], tuple[Any, ...]]


class Journal:
    """The journal of one process: its notes, flushed to the ring in ``store``.

    ``size``: the entries the ring keeps (0: journaling is off and nothing is noted);
    ``shared``: the store is shared with other processes (reads wait for their flushes).
    """

    def __init__(
        self, store: Store, size: int, shared: bool = False, flush_seconds: float = FLUSH_SECONDS
    ) -> None:
        self.store = store
        self.size = size
        self.shared = shared
        self.flush_seconds = flush_seconds
        self._notes: deque[Note] = deque(maxlen=max(1, size))
        self._due = False  # a flush is scheduled
        self._lock = asyncio.Lock()  # one flush at a time: entries reach the ring in order
        self._task: asyncio.Task[None] | None = None
        self._failing = False

    def note(self, make: Callable[..., JournalEntry], *args: Any) -> None:
        """Keep ``make(*args)`` for the next flush, which makes the entry and writes it."""
        self._notes.append((make, args))
        if not self._due:
            self._schedule()

    def _schedule(self) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # noted outside any loop: the next read flushes it
            return
        self._due = True
        loop.call_later(self.flush_seconds, self._start_flush, loop)

    def _start_flush(self, loop: asyncio.AbstractEventLoop) -> None:
        self._due = False
        self._task = loop.create_task(self._flush_in_background())

    async def _flush_in_background(self) -> None:
        try:
            await self.flush()
            self._failing = False
        except Exception as exc:  # the store is unreachable: those entries are lost
            if not self._failing:
                LOGGER.warning("journal: cannot write to the store: %s", exc)
                self._failing = True

    async def flush(self) -> None:
        """Make the entries of every note so far and add them to the ring."""
        async with self._lock:
            notes = self._notes
            while notes:
                batch = list(notes)
                notes.clear()
                entries = []
                for make, args in batch:
                    try:
                        entries.append(make(*args))
                    except Exception:  # a request the journal cannot describe is left out
                        LOGGER.exception("journal: cannot make an entry")
                await self.store.journal_append(entries, self.size)

    async def entries(self, where: Filter, limit: int) -> tuple[list[JournalEntry], int]:
        """The newest ``limit`` entries ``where`` matches, and how many match in all."""
        await self.flush()
        if self.shared:
            await asyncio.sleep(SHARED_READ_WAIT)
        return await self.store.journal_entries(where.matches, limit)

    async def clear(self, test_id: str | None = None) -> None:
        """Empty the ring, or take one test id's entries out of it."""
        if test_id is None:
            await self.discard()
        else:
            await self.flush()
        await self.store.journal_clear(test_id)

    async def discard(self) -> None:
        """Forget the notes not yet written (a reset), once a flush under way is done."""
        self._notes.clear()
        async with self._lock:
            pass

    async def close(self) -> None:
        """The app stops: what is noted goes to the store now."""
        await self.flush()
