"""``uvicorn --factory emulator_app:create_app``: the emulator with settings from ``IMGEMU_*``.

``emulator.app.create_app()`` called without arguments uses the built-in defaults and ignores
the environment, so the benchmark's server goes through ``emulator.settings.load()`` as
``imgemu serve`` does, with the same garbage-collector policy.
"""

from __future__ import annotations

from starlette.applications import Starlette

from emulator.app import create_app as _create_app
from emulator.runtime import tune_garbage_collector
from emulator.settings import load


def create_app() -> Starlette:
    app = _create_app(load())
    tune_garbage_collector()
    return app
