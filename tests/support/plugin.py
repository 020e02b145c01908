"""Running the shipped pytest plugin as a user does: a test file in a temporary directory, run
by pytest in this process (``pytester.runpytest_inprocess``), with the plugin loaded from its
entry point as installed.

A run in this process forgets afterwards the modules first imported during it, and the next run
would import them again (a second copy of each, slow and not always sound: httpx maps
httpcore's exceptions once, so a fresh httpcore's would go unmapped). Importing here what the
fixtures' servers and the example tests import lazily keeps one copy for every run.
"""

from __future__ import annotations

import re
from pathlib import Path

import anyio._backends._asyncio  # noqa: F401
import httpcore  # noqa: F401
import openai
import openai.resources.images  # noqa: F401
import PIL.Image
import PIL.JpegImagePlugin
import PIL.PngImagePlugin  # noqa: F401
import pytest
import uvicorn.lifespan.on
import uvicorn.loops.auto
import uvicorn.loops.uvloop
import uvicorn.protocols.websockets.auto  # noqa: F401

import emulator.app  # noqa: F401
import imgemu.testing
import imgemu.testing._server  # noqa: F401

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
SECTION = "## In your own tests"
# Flags of every run: no cache directory in the temporary one, and a warning fails the run.
FLAGS = ("-p", "no:cacheprovider", "-W", "error")


def run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    """pytest in ``pytester``'s directory, in this process, as a user runs it."""
    return pytester.runpytest_inprocess(*FLAGS, *args)


def readme_examples() -> list[str]:
    """The example test files of the README's section on the plugin, in order."""
    text = README.read_text(encoding="utf-8")
    start = text.index(SECTION)
    end = text.index("\n## ", start + len(SECTION))
    return re.findall(r"^```python\n(.*?)^```", text[start:end], re.M | re.S)
