"""imgemu's pytest plugin: the emulator in your own tests, one fixture away.

Registered through the ``pytest11`` entry point ``imgemu``, so an installed imgemu offers it to
every pytest run. It is inert until a test uses one of its fixtures: loading it imports pytest
and the standard library only (not the emulator, Starlette, uvicorn or Pillow), and starts
nothing.

Fixtures:

- ``imgemu_server``: a real emulator on ``127.0.0.1`` and a free port (the official openai SDK,
  the sync and async clients and any HTTP library reach it), as new for each test. It yields
  an ``imgemu.testing.Emulator``: ``base_url``, ``url(provider)``, ``journal``, ``faults``,
  ``clock``, ``reset()``, ``client(provider)``, ``settings``...
- ``imgemu_app``: the emulator in-process, no socket: an ``imgemu.testing.InProcessEmulator``,
  the same with ``transport`` (for ``httpx.Client`` and the sync clients) and
  ``async_transport`` (for ``httpx.AsyncClient`` and the async clients).
- ``imgemu_server_session``: one server for the whole session, never reset by the plugin;
  its settings are the fixture ``imgemu_session_settings`` (override it in a conftest).

Both function-scoped fixtures take their settings from ``@pytest.mark.imgemu(**settings)``
(every ``imgemu serve`` setting but the host, port and workers, over
``imgemu.testing.TEST_DEFAULTS``; the closest mark wins, setting by setting). Servers and apps
are kept for the session and reused by the tests asking for the same settings, reset between
them; ``X-Imgemu-Test-Id`` (the test's node id) goes with every request their helpers make.

``--imgemu-url URL`` (or the ini option ``imgemu_url``): ``imgemu_server`` and
``imgemu_server_session`` use the emulator already running there (``imgemu serve --workers N
--store redis://...``) instead of starting one; each test's handle is scoped by its test id
(journal reads, verdicts, ``reset()`` and fault plans cover its own requests only).

``--imgemu-patch-env`` (or the ini option ``imgemu_patch_env = true``, or the mark's
``patch_env=True``; ``patch_env=False`` turns it off for a test) sets, for the test only,
``OPENAI_BASE_URL``, ``IMGEMU_URL`` and every provider's key variable (``OPENAI_API_KEY``,
``AGCLOUD_API_KEY``, ``SEACLOUD_API_KEY``, ``ODIROUTER_API_KEY``, ``AA_API_KEY``) to the
emulator's, so code that reads them (the official SDK: ``OpenAI()``) talks to it unchanged.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, Literal

import pytest

if TYPE_CHECKING:
    from imgemu.testing import Emulator, InProcessEmulator, Pool

MARK = "imgemu"
# The mark's arguments that are the plugin's own, not settings.
PLUGIN_ARGUMENTS = ("patch_env",)
# The longest test id the emulator keeps whole (the journal's bound).
TEST_ID_CHARS = 128


def pytest_addoption(parser: pytest.Parser) -> None:
    """``--imgemu-patch-env`` and the ini option ``imgemu_patch_env``."""
    group = parser.getgroup("imgemu", "imgemu emulator fixtures")
    group.addoption(
        "--imgemu-patch-env",
        action="store_true",
        default=None,
        help="point OPENAI_BASE_URL and the providers' key variables at the emulator for "
        "each test using an imgemu fixture",
    )
    group.addoption(
        "--imgemu-url",
        default=None,
        help="use the emulator running at this URL (imgemu serve --workers N --store "
        "redis://...) for imgemu_server instead of starting one; tests share it, each "
        "scoped by its X-Imgemu-Test-Id",
    )
    parser.addini("imgemu_url", default="", help="the default of --imgemu-url")
    parser.addini(
        "imgemu_patch_env",
        type="bool",
        default=False,
        help="the default of --imgemu-patch-env",
    )


def pytest_configure(config: pytest.Config) -> None:
    """Declare the mark (runs with --strict-markers know it)."""
    config.addinivalue_line(
        "markers",
        f"{MARK}(**settings): settings of the imgemu_server and imgemu_app emulators "
        "(clock='virtual', time_scale=..., api_keys=..., openai_rpm=...; patch_env=True)",
    )


def node_test_id(nodeid: str) -> str:
    """The ``X-Imgemu-Test-Id`` of the test ``nodeid``: printable ASCII (other characters
    escaped), at most ``TEST_ID_CHARS`` (a longer one keeps its head and a digest of the
    whole, so two long ids stay apart)."""
    text = nodeid.encode("ascii", "backslashreplace").decode("ascii")
    text = "".join(c if c.isprintable() else "?" for c in text).strip()
    if len(text) > TEST_ID_CHARS:
        digest = hashlib.sha256(nodeid.encode()).hexdigest()[:8]
        text = f"{text[: TEST_ID_CHARS - 9]}~{digest}"
    return text


def _marked(node: pytest.Item) -> tuple[dict[str, Any], bool | None]:
    """The settings the ``imgemu`` marks ask for (the closest wins) and their ``patch_env``."""
    values: dict[str, Any] = {}
    for mark in reversed(list(node.iter_markers(MARK))):
        if mark.args:
            pytest.fail(
                f"@pytest.mark.{MARK} takes settings by name, not {mark.args!r}", pytrace=False
            )
        values.update(mark.kwargs)
    patch_env = values.pop("patch_env", None)
    return values, patch_env


def _patch_env(config: pytest.Config, marked: bool | None) -> bool:
    if marked is not None:
        return bool(marked)
    flag = config.getoption("imgemu_patch_env")
    return bool(flag) if flag is not None else bool(config.getini("imgemu_patch_env"))


@pytest.fixture(scope="session")
def _imgemu_pool() -> Iterator[Pool]:
    """The session's emulators, started as tests ask for them, stopped at the end."""
    from imgemu.testing import Pool

    pool = Pool()
    yield pool
    pool.close()


def _shared_url(config: pytest.Config) -> str | None:
    """The running emulator ``--imgemu-url`` (or the ini's ``imgemu_url``) names, if any."""
    url = config.getoption("imgemu_url") or config.getini("imgemu_url")
    return str(url).rstrip("/") if url else None


def _shared(request: pytest.FixtureRequest, url: str, test_id: str | None) -> Emulator:
    """A handle on the shared emulator at ``url`` for one test (or the session): its settings
    are read from the environment as ``imgemu serve`` reads them (``IMGEMU_*``: the control
    token, the keys...), and the marks' settings cannot apply (the emulator is not the
    test's to configure)."""
    from emulator.settings import Settings
    from imgemu.testing import Emulator

    values, _ = _marked(request.node)
    if values:
        pytest.fail(
            f"@pytest.mark.{MARK}({', '.join(sorted(values))}=...): a shared emulator "
            f"(--imgemu-url {url}) keeps the settings it was started with",
            pytrace=False,
        )
    emulator = Emulator(url, Settings(), test_id, scoped=test_id is not None)
    try:
        emulator.control("GET", "/health")
    except Exception as exc:
        emulator.close()
        pytest.fail(f"--imgemu-url {url}: the emulator does not answer: {exc}", pytrace=False)
    return emulator


def _lease(
    request: pytest.FixtureRequest,
    pool: Pool,
    kind: Literal["server", "app"],
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[Emulator]:
    from imgemu.testing import make_settings

    values, patch_env = _marked(request.node)
    test_id = node_test_id(request.node.nodeid)
    url = _shared_url(request.config) if kind == "server" else None
    if url is not None:
        emulator = _shared(request, url, test_id)
        emulator.reset()  # this test's journal entries and fault plans, from an earlier run
    else:
        try:
            settings = make_settings(values)
        except ValueError as exc:
            pytest.fail(f"@pytest.mark.{MARK}: {exc}", pytrace=False)
        emulator = pool.acquire(kind, settings, test_id)
    try:
        if _patch_env(request.config, patch_env):
            for name, value in emulator.environment().items():
                monkeypatch.setenv(name, value)
        yield emulator
    finally:
        if url is not None:
            emulator.close()
        else:
            pool.release(emulator)


@pytest.fixture
def imgemu_server(
    request: pytest.FixtureRequest, _imgemu_pool: Pool, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Emulator]:
    """A real emulator on 127.0.0.1 and a free port, as new, for this test: an
    ``imgemu.testing.Emulator`` (``base_url``, ``url(provider)``, ``journal``, ``faults``,
    ``clock``, ``reset()``, ``client(provider)``...). ``@pytest.mark.imgemu(...)`` sets it up."""
    yield from _lease(request, _imgemu_pool, "server", monkeypatch)


@pytest.fixture
def imgemu_app(
    request: pytest.FixtureRequest, _imgemu_pool: Pool, monkeypatch: pytest.MonkeyPatch
) -> Iterator[InProcessEmulator]:
    """The emulator in-process, as new, for this test: an ``imgemu.testing.InProcessEmulator``
    (``transport`` for ``httpx.Client``, ``async_transport`` for ``httpx.AsyncClient``, and
    what ``imgemu_server`` offers). ``@pytest.mark.imgemu(...)`` sets it up."""
    from imgemu.testing import InProcessEmulator

    for emulator in _lease(request, _imgemu_pool, "app", monkeypatch):
        assert isinstance(emulator, InProcessEmulator)
        yield emulator


@pytest.fixture(scope="session")
def imgemu_session_settings() -> dict[str, Any]:
    """The settings of ``imgemu_server_session`` (and ``patch_env``): override this fixture
    to choose them."""
    return {}


@pytest.fixture(scope="session")
def imgemu_server_session(
    pytestconfig: pytest.Config, imgemu_session_settings: dict[str, Any]
) -> Iterator[Emulator]:
    """One real emulator for the whole session, never reset by the plugin (call ``reset()``
    where a test needs it); its settings are ``imgemu_session_settings``."""
    from imgemu.testing import Instance, make_settings

    values = dict(imgemu_session_settings)
    patch_env = values.pop("patch_env", None)
    url = _shared_url(pytestconfig)
    instance = None
    if url is not None:
        if values:
            pytest.fail(
                f"imgemu_session_settings ({', '.join(sorted(values))}): a shared emulator "
                f"(--imgemu-url {url}) keeps the settings it was started with",
                pytrace=False,
            )
        from emulator.settings import Settings
        from imgemu.testing import Emulator

        emulator = Emulator(url, Settings(), None)
    else:
        try:
            settings = make_settings(values)
        except ValueError as exc:
            pytest.fail(f"imgemu_session_settings: {exc}", pytrace=False)
        instance = Instance("server", settings)
        emulator = instance.handle(None)
    try:
        with pytest.MonkeyPatch.context() as monkeypatch:
            if _patch_env(pytestconfig, patch_env):
                for name, value in emulator.environment().items():
                    monkeypatch.setenv(name, value)
            yield emulator
    finally:
        emulator.close()
        if instance is not None:
            instance.stop()
