"""典名词元's dialect (provider ``aa``): routes, handlers, and its JSON envelope."""

from emulator.http.aa.routes import aa_routes

__all__ = ["aa_routes"]
