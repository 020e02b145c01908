"""Hostile inputs for tests/security: decompression bombs, broken pixel data, deep JSON; the
server process's memory as the kernel counts it, and how long its event loop takes to answer."""

from __future__ import annotations

import functools
import io
import struct
import threading
import time
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
from PIL import Image

_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


@functools.cache
def png_bomb(width: int, height: int) -> bytes:
    """An all-zero RGBA PNG of ``width`` x ``height``: a few hundred KB that decode to
    ``width * height * 4`` bytes. Written row by row, so making it costs no such memory."""
    header = struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0)
    deflate = zlib.compressobj(9)
    row = bytes(1 + width * 4)  # filter byte 0, then transparent black pixels
    parts = [deflate.compress(row) for _ in range(height)]
    parts.append(deflate.flush())
    return (
        _SIGNATURE
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", b"".join(parts))
        + _chunk(b"IEND", b"")
    )


def broken_pixels(size: tuple[int, int] = (256, 256), fmt: str = "PNG") -> bytes:
    """A PNG whose header, chunk checksums and end marker are valid but whose compressed pixel
    data is scrambled: it opens, it does not decode."""
    out = io.BytesIO()
    Image.linear_gradient("L").resize(size).convert("RGB").save(out, fmt)
    data = bytearray(out.getvalue())
    start = data.index(b"IDAT")
    (length,) = struct.unpack(">I", data[start - 4 : start])
    body = start + 4
    for at in range(body + 2, body + length):  # past the zlib header, to the chunk's end
        data[at] ^= 0x5A
    data[body + length : body + length + 4] = struct.pack(
        ">I", zlib.crc32(bytes(data[start : body + length]))
    )
    return bytes(data)


def nested(depth: int) -> bytes:
    """JSON text of an object whose ``prompt`` is ``depth - 1`` nested arrays (``depth``
    levels in all)."""
    return b'{"prompt": ' + b"[" * (depth - 1) + b"]" * (depth - 1) + b"}"


def rss_mb(pid: int) -> tuple[float, float]:
    """(resident, peak resident) MB of process ``pid``."""
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        fields[name] = value
    return int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024


def reset_peak(pid: int) -> None:
    """Start counting process ``pid``'s peak resident memory afresh (Linux ``clear_refs``)."""
    Path(f"/proc/{pid}/clear_refs").write_text("5")


@contextmanager
def loop_watch(base_url: str, every: float = 0.02) -> Iterator[list[float]]:
    """Ask ``/_emulator/health`` every ``every`` seconds while the block runs; the list holds
    each answer's latency in seconds (a stalled event loop shows as a long one)."""
    latencies: list[float] = []
    done = threading.Event()

    def poll() -> None:
        with httpx.Client(base_url=base_url, timeout=30) as client:
            while not done.is_set():
                start = time.perf_counter()
                client.get("/_emulator/health")
                latencies.append(time.perf_counter() - start)
                done.wait(every)

    thread = threading.Thread(target=poll, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not latencies and time.monotonic() < deadline:  # polling before the block begins
        time.sleep(0.005)
    try:
        yield latencies
    finally:
        done.set()
        thread.join(timeout=30)
