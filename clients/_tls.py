"""One TLS context for every HTTP client of the process.

httpx reads the CA bundle for each new client unless handed a context (about 25-60 ms each):
the command line, the contract suite and users' tests make many clients.
"""

from __future__ import annotations

import functools
import ssl

import httpx


@functools.cache
def tls_context() -> ssl.SSLContext:
    """The process's TLS context (certifi's CA bundle, read once)."""
    return httpx.create_ssl_context()
