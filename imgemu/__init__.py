"""imgemu: an offline emulator and contract-test suite for hosted GPT-Image APIs.

The one name users import. It gathers the three parts, which stay importable on their own:

- ``imgemu.create_app(settings)``: the emulator as an ASGI app (``emulator``), and
  ``imgemu.from_environment()``, the same built from ``IMGEMU_*`` variables as ``imgemu serve``
  does (``uvicorn --factory imgemu:from_environment``);
- the reference clients, re-exported here (``QueueClient``, ``ImagesClient``, ``AAClient`` and
  their async twins, from ``clients``);
- the contract suite, ``contracts.run_contract`` (needs the ``contract`` extra);
- ``imgemu.cli.main``: the ``imgemu`` command (serve, generate, status, cancel, contract).

Example::

    import imgemu

    app = imgemu.create_app(imgemu.Settings(clock="virtual"))
    with imgemu.ImagesClient("openai", base_url="http://127.0.0.1:8000/v1", api_key="k") as c:
        c.generate("a red apple", model="gpt-image-1.5")
"""

from importlib.metadata import PackageNotFoundError, version

from clients import *  # noqa: F403  (the clients' flat surface is imgemu's too)
from clients import __all__ as _client_names
from emulator.app import create_app, from_environment
from emulator.settings import Settings

try:
    __version__ = version("imgemu")
except PackageNotFoundError:  # a checkout that was never installed
    __version__ = "0+unknown"

__all__ = ["Settings", "__version__", "create_app", "from_environment", *_client_names]
