"""imgemu's reference client (httpx, sync and async). Built in a later milestone."""

__all__: list[str] = []
