"""The OpenAI Images dialect (OpenAI, AGCloud): routes, handlers, bodies, streams, errors."""

from emulator.http.images.routes import images_routes

__all__ = ["images_routes"]
