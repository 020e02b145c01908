"""What the ``store`` setting names: ``memory``, or a Redis URL with an optional namespace.

Kept apart from the Redis store so the settings can check a URL without importing redis-py.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

MEMORY = "memory"
SCHEMES = ("redis", "rediss", "unix")
DEFAULT_NAMESPACE = "default"
_NAMESPACE = re.compile(r"[A-Za-z0-9_.-]{1,64}")


@dataclass(frozen=True, slots=True)
class RedisTarget:
    """A Redis URL as redis-py takes it, and the namespace of the emulator's keys in it."""

    url: str
    namespace: str

    @property
    def shown(self) -> str:
        """The URL for messages: any password replaced by ``***``."""
        parts = urlsplit(self.url)
        if parts.password is None:
            return self.url
        user = parts.username or ""
        host = parts.netloc.rpartition("@")[2]
        return urlunsplit(parts._replace(netloc=f"{user}:***@{host}"))


def parse(value: str) -> RedisTarget | None:
    """None for ``memory``; else the Redis target, or ``ValueError`` saying what is wrong.

    ``?namespace=NAME`` (letters, digits, ``_.-``; default ``default``) is the emulator's and
    is taken off the URL; every other query parameter is redis-py's.
    """
    if value == MEMORY:
        return None
    parts = urlsplit(value)
    if parts.scheme not in SCHEMES or not (parts.netloc or parts.path):
        raise ValueError(f"must be 'memory' or a redis://host:port/db URL (got {value!r})")
    query = parse_qsl(parts.query, keep_blank_values=True)
    names = [v for k, v in query if k == "namespace"]
    namespace = names[-1] if names else DEFAULT_NAMESPACE
    if not _NAMESPACE.fullmatch(namespace):
        raise ValueError(
            f"namespace must be 1 to 64 letters, digits, '_', '.' or '-' (got {namespace!r})"
        )
    if not names:
        return RedisTarget(value, namespace)
    rest = urlencode([(k, v) for k, v in query if k != "namespace"])
    base = value.partition("?")[0]
    return RedisTarget(f"{base}?{rest}" if rest else base, namespace)
