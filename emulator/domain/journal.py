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
one for every process sharing it, which drops the entries added first. Entries are read
newest first: by the instant each request arrived (emulator clock), and those of one instant
in the order they were added, newest first.

**Off the answer's path.** The HTTP layer notes each request after its answer has gone out
(``Journal.note``: one tuple, what makes the entry and what it is made from, kept in a list),
and making the entries happens a moment later (``FLUSH_SECONDS``, a timer), many entries to
one write to the store under load. A read flushes this process's notes first, so a process
reads its own requests at once; with a shared store it also waits ``SHARED_READ_WAIT`` for
the others'. Notes waiting for a flush are bounded by the ring's size (the oldest go, as they
would from the ring); until their flush they hold the request's scope, images included, for
those few milliseconds only.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
from collections import deque
from fnmatch import fnmatchcase
from typing import Any, Protocol

import orjson

from emulator.domain.clock import Clock
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


def _plain(fields: dict[Any, Any]) -> bool:
    """Whether ``fields`` is kept as it is: at most ``TEXT`` bytes as JSON, with no list, no
    image parameter, and no colon but the one after each key (so no inner object with keys,
    no URL, no ``data:`` URL). A queue submit's body is one: this is its cheap path, one
    ``orjson.dumps`` and two searches of its bytes; anything else takes the walk."""
    if len(fields) > KEYS or not fields.keys().isdisjoint(IMAGE_PARAMS):
        return False
    try:
        data = orjson.dumps(fields)
    except TypeError:  # an integer beyond 64 bits, a key that is no text
        return False
    return len(data) <= TEXT and data.count(b":") == len(fields) and b"[" not in data


def summarize(fields: Any) -> Any:
    """A request's fields as the journal keeps them: the JSON body or the form's parts, each
    image as its ``image_summary``, long texts and lists bounded, at most ``FIELDS_BYTES`` as
    JSON (tighter bounds, then ``{"omitted": bytes}``). None stays None; a flat object with
    nothing to bound is kept as it is (not copied: request bodies are not changed)."""
    if fields is None or (type(fields) is dict and _plain(fields)):
        return fields
    walk = _Summary()
    size = 0
    for bounds in _TIGHTER:
        summary = walk.of(fields, bounds)
        size = json_size(summary)
        if size <= FIELDS_BYTES:
            return summary
    return {"omitted": size}


def make_entry(
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
    wall: float | None = None,
    retry_after: float | None = None,
    job: str | None = None,
    state: str | None = None,
) -> JournalEntry:
    """An entry from what a request was and how it was answered: ``key`` is the key itself
    (digested here), ``fields`` as the handler parsed them (summarized here); texts bounded.
    ``wall`` is the arrival on the wall clock, ``retry_after`` the wait an error answer asked
    for, ``job`` and ``state`` the job the request made or read and the status it reported.
    (Positional arguments are the cheaper call: every request makes one.)"""
    return JournalEntry(
        time,
        provider,
        operation,
        method,
        path if len(path) <= PATH else path[:PATH],
        query if query is None or len(query) <= QUERY else query[:QUERY],
        None if key is None else owner_of(key),  # key_digest, one call less
        test_id,
        status,
        seconds,
        request_id,
        None if fields is None else summarize(fields),
        None if error is None else clip(error, MESSAGE),
        None if message is None else clip(message, MESSAGE),
        fault,
        wall,
        retry_after,
        job,
        state,
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


class EntryMaker(Protocol):
    """What makes an entry from a noted request (the HTTP layer's middleware)."""

    def entry(
        self, request: Any, arrived: float, status: int, seconds: float, body: Any
    ) -> JournalEntry:
        """The entry of ``request`` (whatever the maker noted), which arrived at ``arrived``
        and was answered ``status`` (with ``body`` kept, if any) after ``seconds``."""


Note = tuple[EntryMaker, Any, float, int, float, Any]


class Journal:
    """The journal of one process: its notes, flushed to the ring in ``store``.

    ``size``: the entries the ring keeps (0: journaling is off and nothing is noted);
    ``clock``: the emulator's, which times the requests' arrivals (a reset hands the journal
    over with its clock: the same virtual clock, or a real one, which any real one equals);
    ``shared``: the store is shared with other processes (reads wait for their flushes).

    A flush is a timer on the running loop, not a task: it makes the entries and hands them
    to the store (``Store.journal_append`` returns at once), so a loop that stops with a
    flush pending simply drops the timer.
    """

    def __init__(
        self,
        store: Store,
        size: int,
        clock: Clock,
        shared: bool = False,
        flush_seconds: float = FLUSH_SECONDS,
    ) -> None:
        self.store = store
        self.size = size
        self.clock = clock
        self.shared = shared
        self.flush_seconds = flush_seconds
        self._notes: deque[Note] = deque(maxlen=max(1, size))
        self._timer: asyncio.TimerHandle | None = None

    def note(
        self,
        maker: EntryMaker,
        request: Any,
        arrived: float,
        status: int,
        seconds: float,
        body: Any,
    ) -> None:
        """Keep a request for the next flush, which makes its entry (``maker.entry``) and
        writes it. A tuple and an append (and once a flush, a timer): every request of every
        operation calls this."""
        self._notes.append((maker, request, arrived, status, seconds, body))
        if self._timer is None:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:  # noted outside any loop: the next read flushes it
                return
            self._timer = loop.call_later(self.flush_seconds, self.flush)

    def flush(self) -> None:
        """Make the entries of every note so far and hand them to the store's ring."""
        timer, self._timer = self._timer, None
        if timer is not None:
            timer.cancel()  # a flush before the timer's own: nothing left for it
        notes = self._notes
        if not notes:
            return
        batch = list(notes)
        notes.clear()
        entries = []
        for maker, request, arrived, status, seconds, body in batch:
            try:
                entries.append(maker.entry(request, arrived, status, seconds, body))
            except Exception:  # a request the journal cannot describe is left out
                LOGGER.exception("journal: cannot make an entry")
        self.store.journal_append(entries, self.size)

    async def entries(self, where: Filter, limit: int) -> tuple[list[JournalEntry], int]:
        """The newest ``limit`` entries ``where`` matches, and how many match in all."""
        self.flush()
        if self.shared:
            await asyncio.sleep(SHARED_READ_WAIT)
        return await self.store.journal_entries(where.matches, limit)

    async def clear(self, test_id: str | None = None) -> None:
        """Empty the ring, or take one test id's entries out of it."""
        if test_id is None:
            self.discard()
        else:
            self.flush()
        await self.store.journal_clear(test_id)

    def discard(self) -> None:
        """Forget the notes not yet written (a reset, before the store forgets the rest)."""
        self._notes.clear()

    def close(self) -> None:
        """The app stops: what is noted goes to the store now (before the store closes)."""
        self.flush()
