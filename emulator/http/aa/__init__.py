"""典名词元's dialect (provider ``aa``): routes, handlers, and its JSON envelope."""

from emulator.http.aa.routes import API_PREFIX, aa_routes

__all__ = ["API_PREFIX", "aa_routes"]
