"""The queue protocol (SeaCloud, OdiRouter): routes, handlers, and its wire dialect."""

from emulator.http.queue.routes import queue_routes

__all__ = ["queue_routes"]
