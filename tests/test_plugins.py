"""The suite's own plugins (tests/plugins): the guard against shared node ids, modules left
uncollected when their marks rule them out, and the uvicorn test server whose shutdown copies
uvicorn's."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from tests.helpers import free_port
from tests.plugins.markers import ruled_out
from tests.plugins.node_ids import duplicates
from tests.plugins.servers import COPIED, _Server, fingerprint

NODE_IDS = ("-p", "tests.plugins.node_ids", "-p", "no:cacheprovider")

# Two items of one name in one file: what a plugin that builds its own items can produce.
TWINS = """
import pytest

class Twin(pytest.Item):
    def runtest(self):
        pass

class Twins(pytest.File):
    def collect(self):
        for name in NAMES:
            yield Twin.from_parent(self, name=name)

def pytest_collect_file(parent, file_path):
    if file_path.suffix == ".twins":
        return Twins.from_parent(parent, path=file_path)
"""


def test_duplicates_lists_each_shared_id_once_with_its_count() -> None:
    assert duplicates(["a", "b", "a", "c", "a", "b"]) == {"a": 3, "b": 2}
    assert duplicates(["a", "b"]) == {}


def test_items_that_share_a_node_id_fail_the_run_naming_the_id(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(f"NAMES = ['same', 'same', 'other']\n{TWINS}")
    pytester.makefile(".twins", a="")
    result = pytester.runpytest(*NODE_IDS)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        [
            "ERROR: 1 node id(s) are shared by several collected items:",
            "  a.twins::same (2 items)",
            "Give each its own id*",
        ]
    )
    assert "other" not in result.stderr.str()


def test_a_shared_id_fails_even_when_its_items_are_deselected(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(f"NAMES = ['same', 'same', 'other']\n{TWINS}")
    pytester.makefile(".twins", a="")
    result = pytester.runpytest(*NODE_IDS, "-k", "other")
    assert result.ret == pytest.ExitCode.USAGE_ERROR


def test_unique_node_ids_run_as_usual(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(f"NAMES = ['one', 'two']\n{TWINS}")
    pytester.makefile(".twins", a="")
    pytester.runpytest(*NODE_IDS).assert_outcomes(passed=2)


SCHEMA = """
import schemathesis

schema = schemathesis.openapi.from_dict({
    "openapi": "3.0.3",
    "info": {"title": "t", "version": "1"},
    "paths": {
        "/a": {"get": {"responses": {"200": {"description": "ok"}}}},
        "/b": {"get": {"responses": {"200": {"description": "ok"}}}},
    },
})

@schema.parametrize()
def test_api(case):
    pass
"""


def test_schemathesis_items_get_the_operation_in_their_id(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_api=SCHEMA)
    result = pytester.runpytest(*NODE_IDS, "--collect-only", "-q")
    assert result.ret == pytest.ExitCode.OK, result.stderr.str()
    result.stdout.fnmatch_lines(
        ["test_api.py::test_api[[]GET /a[]]", "test_api.py::test_api[[]GET /b[]]"]
    )


@pytest.mark.parametrize(
    ("markexpr", "marks", "out"),
    [
        ("not slow", {"slow"}, True),
        ("not slow", {"slow", "server"}, True),
        ("not slow and not container", {"slow", "container"}, True),
        ("server and not slow", {"slow"}, False),  # a test may be marked server: undecided
        ("not slow", {"server"}, False),  # a test may be marked slow: undecided
        ("slow", {"slow"}, False),
        ("slow or server", set(), False),
        ("not slow(reason='x')", {"slow"}, False),  # arguments are the items' business
        ("", {"slow"}, False),
    ],
)
def test_a_module_is_ruled_out_only_by_its_own_marks(
    markexpr: str, marks: set[str], out: bool
) -> None:
    assert ruled_out(markexpr, marks) is out


SLOW_MODULE = """
import pytest

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("n", [1, 2])
def test_slow(n):
    pass
"""
MARKERS = "def pytest_configure(config):\n    config.addinivalue_line('markers', 'slow: slow')\n"


@pytest.mark.parametrize(
    ("markexpr", "collected", "passed"),
    [
        ("not slow", ["test_quick"], 1),
        ("slow", ["test_quick", "test_slow[1]", "test_slow[2]"], 2),
        ("", ["test_quick", "test_slow[1]", "test_slow[2]"], 3),
    ],
)
def test_a_module_its_marks_rule_out_is_not_collected(
    pytester: pytest.Pytester, markexpr: str, collected: list[str], passed: int
) -> None:
    pytester.makeconftest(MARKERS)
    pytester.makepyfile(test_slow=SLOW_MODULE, test_quick="def test_quick():\n    pass\n")
    select = ["-m", markexpr] if markexpr else []
    reprec = pytester.inline_run("-p", "tests.plugins.markers", "-p", "no:cacheprovider", *select)
    reprec.assertoutcome(passed=passed)
    items = [call.item.name for call in reprec.getcalls("pytest_itemcollected")]
    assert sorted(items) == collected


def test_the_uvicorn_steps_the_test_server_copies_are_unchanged() -> None:
    changed = [name for name, digest in COPIED.items() if fingerprint(name) != digest]
    assert not changed, (
        f"uvicorn {uvicorn.__version__} changed Server.{', Server.'.join(changed)}: "
        "tests/plugins/servers.py's _Server copies their steps. Bring the copy up to date "
        "(or drop it if uvicorn now stops quickly), then record the new fingerprints in COPIED."
    )


def test_the_test_server_serves_then_stops_running_the_lifespan_shutdown() -> None:
    phases: list[str] = []

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        phases.append("startup")
        yield
        phases.append("shutdown")

    async def slow(request: Request) -> PlainTextResponse:
        await asyncio.sleep(0.2)
        return PlainTextResponse("done")

    app = Starlette(routes=[Route("/slow", slow)], lifespan=lifespan)
    port = free_port()
    server = _Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    assert server.ready.wait(10)
    assert server.started
    deadline = time.monotonic() + 10
    answers: list[httpx.Response] = []
    call = threading.Thread(
        target=lambda: answers.append(httpx.get(f"http://127.0.0.1:{port}/slow", timeout=10))
    )
    call.start()
    while not server.server_state.tasks:  # the call has reached the app
        assert time.monotonic() < deadline, "the call never reached the server"
        time.sleep(0.01)
    server.should_exit = True
    thread.join(timeout=10)
    call.join(timeout=10)
    assert not thread.is_alive()
    assert [(r.status_code, r.text) for r in answers] == [(200, "done")]  # the call finished
    assert phases == ["startup", "shutdown"]
