"""The plugin is registered by its entry point and inert until a fixture is used: loading it
imports neither the emulator nor its dependencies, and a run whose tests use no fixture of it
starts nothing. ``import imgemu`` imports its parts on first use for the same reason."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
from importlib.metadata import entry_points

import pytest

import clients
import imgemu
from tests.support.plugin import run

# What importing the plugin must not bring in (pytest's own imports aside).
HEAVY = ("starlette", "uvicorn", "PIL", "httpx", "pydantic", "yaml", "emulator", "clients")


def _imports_of(statement: str) -> list[str]:
    """The modules ``statement`` imports in a fresh interpreter, beyond pytest's own."""
    script = textwrap.dedent(
        f"""
        import sys
        import pytest
        before = set(sys.modules)
        {statement}
        print("\\n".join(sorted(set(sys.modules) - before)))
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True
    )
    return done.stdout.split()


def test_the_entry_point_registers_the_plugin() -> None:
    (point,) = [e for e in entry_points(group="pytest11") if e.name == "imgemu"]
    assert point.value == "imgemu.pytest_plugin"


def test_loading_the_plugin_imports_nothing_of_the_emulator() -> None:
    assert _imports_of("import imgemu.pytest_plugin") == ["imgemu", "imgemu.pytest_plugin"]


def test_import_imgemu_imports_its_parts_on_first_use() -> None:
    found = _imports_of("import imgemu")
    assert found == ["imgemu"]
    assert "starlette" in _imports_of("import imgemu; imgemu.create_app")
    assert "clients" in _imports_of("from imgemu import QueueClient")


def test_imgemu_offers_every_client_name() -> None:
    assert sorted(imgemu.CLIENT_NAMES) == sorted(clients.__all__)
    for name in imgemu.__all__:
        assert getattr(imgemu, name) is not None
    assert imgemu.QueueClient is clients.QueueClient
    assert imgemu.testing.serve is not None
    with pytest.raises(AttributeError, match="no attribute 'nothing'"):
        _ = imgemu.nothing  # type: ignore[attr-defined]


def test_a_run_without_its_fixtures_starts_nothing(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import threading

        import pytest


        @pytest.mark.imgemu(clock="virtual")
        def test_plain(pytestconfig):
            assert pytestconfig.pluginmanager.has_plugin("imgemu")
            assert pytestconfig.getoption("imgemu_patch_env") is None
            assert not [t for t in threading.enumerate() if t.name.startswith("imgemu")]
        """
    )
    result = run(pytester, "--strict-markers")
    result.assert_outcomes(passed=1)
    assert not [t for t in threading.enumerate() if t.name.startswith("imgemu")]


def test_the_mark_and_the_option_are_documented(pytester: pytest.Pytester) -> None:
    markers = run(pytester, "--markers")
    markers.stdout.fnmatch_lines(["@pytest.mark.imgemu(**settings): settings of the imgemu_*"])
    helped = run(pytester, "--help")
    helped.stdout.fnmatch_lines(["imgemu emulator fixtures:", "*--imgemu-patch-env*"])
    fixtures = run(pytester, "--fixtures")
    fixtures.stdout.fnmatch_lines(["imgemu_server*", "imgemu_app*", "imgemu_server_session*"])
