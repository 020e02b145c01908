"""The queue protocol (SeaCloud, OdiRouter): routes, handlers, and its wire dialect."""

from emulator.http.queue.routes import queue_router

__all__ = ["queue_router"]
