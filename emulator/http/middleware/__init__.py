"""Cross-cutting work as pure ASGI middleware, one module each; ``emulator/app.py`` assembles them.

Around the whole app, outermost first:

- ``request_log``: refused requests (or all) with their reason;
- CORS (Starlette's), when origins are configured.

Around each provider operation's route, as its ``endpoint.Endpoint`` asks (worked out once
when the routes are made, so a request pays for no lookup beyond routing):

- ``request_id``: the request's id, drawn once into the scope; ``x-request-id`` on every answer
  of the dialects that send one (Images, 典名词元);
- ``gateway``: the key (``Authorization``), then the rate limit for the operations that count
  against it; a refusal is answered in the provider's dialect;
- ``steering``: ``X-Imgemu-Outcome`` and ``X-Imgemu-Latency`` parsed once into the scope (only
  when ``settings.steering`` is on); a bad value is raised where the handler asks for it, so
  every operation keeps its order of checks;
- ``drain``: for the operations that read a body, a read still waiting when the server begins
  to stop ends with the provider's 503;
- ``faults``: innermost, the fault plans that may take the request (``POST /_emulator/faults``):
  an error in the dialect, a delay, a dropped connection, a cut body or stream, or an outcome
  or slower queue handed to the domain as steering; the plan applied is left in the scope.

The control plane, the documents, result files and ``/`` have no route middleware.
"""
