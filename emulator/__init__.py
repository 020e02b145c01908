"""imgemu's emulator: hosted GPT-Image protocols served offline by one Starlette app.

Layers, imported in one direction only: ``http`` (routes, handlers, renderers per dialect)
-> ``domain`` (jobs, rules, images, clock, pricing; never imports Starlette) -> ``store``.
``emulator.app.create_app(settings)`` assembles everything; ``emulator.cli`` is ``imgemu``.
"""
