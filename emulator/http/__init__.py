"""The HTTP layer: parse a request, call the domain, render the provider's dialect."""
