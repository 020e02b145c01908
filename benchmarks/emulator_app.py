"""``uvicorn --factory emulator_app:create_app``: the emulator as ``imgemu serve`` builds it.

Settings from ``IMGEMU_*`` variables, the same garbage-collector policy: the one public factory,
``emulator.app.from_environment`` (also ``imgemu.from_environment``).
"""

from __future__ import annotations

from emulator.app import from_environment as create_app

__all__ = ["create_app"]
