"""The import graph of the four packages: no cycle, and the layers import in one direction.

Every import counts: at the top of a module, inside a function, under ``TYPE_CHECKING``. A
cycle hidden in a function is still a cycle: the two modules cannot be understood, tested or
moved apart. The direction is http -> domain -> store, and the store knows the records only:

- ``emulator.domain`` imports neither the HTTP layer nor what assembles and serves it
  (``emulator.http``, ``.app``, ``.state``, ``.server``, ``.cli``), nor Starlette or uvicorn;
- ``emulator.store`` imports nothing of the emulator but ``emulator.domain.records``;
- ``emulator.domain.records`` imports the standard library only;
- no module of ``emulator`` imports ``clients``, ``contracts`` or ``imgemu``: only imgemu joins
  the parts.

The checkers are pure functions over a graph (module -> the modules it imports); the tests at
the bottom feed them small graphs built by hand, so each rule is seen to fail.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("emulator", "clients", "contracts", "imgemu")
RECORDS = "emulator.domain.records"

Graph = Mapping[str, Collection[str]]


# --- the graph -------------------------------------------------------------------------------


def module_files(root: Path, packages: Iterable[str]) -> dict[str, Path]:
    """Each module's dotted name and file (a package is its ``__init__.py``)."""
    found: dict[str, Path] = {}
    for package in packages:
        for path in sorted(root.joinpath(package).rglob("*.py")):
            parts = path.relative_to(root).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            found[".".join(parts)] = path
    return found


def imports_of(module: str, path: Path, known: Collection[str]) -> set[str]:
    """Every module ``module`` imports, wherever the statement stands.

    Relative imports are resolved; ``from pkg import name`` is ``pkg.name`` when that is a known
    module, else ``pkg``. Names outside ``known`` (the standard library, Starlette...) are kept
    as written, so a rule can name them.
    """
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                source = ".".join([*base, node.module] if node.module else base)
            else:
                source = node.module or ""
            for alias in node.names:
                child = f"{source}.{alias.name}" if source else alias.name
                names.add(child if child in known or not source else source)
    return names


def import_graph(root: Path, packages: Iterable[str]) -> dict[str, set[str]]:
    files = module_files(root, packages)
    return {module: imports_of(module, path, files) for module, path in files.items()}


# --- the checks ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Cycle:
    """Modules that import each other, and one path that shows it."""

    path: tuple[str, ...]  # a, b, ..., a
    modules: tuple[str, ...]  # the whole strongly connected component, sorted

    def __str__(self) -> str:
        return " -> ".join(self.path) + f"  (the cycle's modules: {', '.join(self.modules)})"


def cycles(graph: Graph) -> list[Cycle]:
    """One ``Cycle`` per strongly connected component that has one.

    Tarjan's algorithm over the graph's own modules; edges to other names are ignored.
    """
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[set[str]] = []

    def edges(node: str) -> list[str]:
        return sorted(target for target in graph[node] if target in graph)

    def connect(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in edges(node):
            if target not in index:
                connect(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component: set[str] = set()
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.add(member)
                if member == node:
                    break
            if len(component) > 1 or node in graph[node]:
                components.append(component)

    for node in sorted(graph):
        if node not in index:
            connect(node)
    found = [Cycle(_cycle_through(graph, c), tuple(sorted(c))) for c in components]
    return sorted(found, key=lambda cycle: cycle.modules)


def _cycle_through(graph: Graph, component: set[str]) -> tuple[str, ...]:
    """A shortest path from the component's first module back to itself, inside it."""
    start = min(component)
    paths = {start: [start]}
    queue = [start]
    for node in queue:
        for target in sorted(graph[node]):
            if target == start:
                return (*paths[node], start)
            if target in component and target not in paths:
                paths[target] = [*paths[node], target]
                queue.append(target)
    raise AssertionError(f"no cycle through {start}")  # a component always has one


def _under(name: str, prefixes: Iterable[str]) -> bool:
    """Whether ``name`` is one of ``prefixes`` or inside one of them."""
    return any(name == prefix or name.startswith(prefix + ".") for prefix in prefixes)


@dataclass(frozen=True, slots=True)
class Rule:
    """Modules under ``importers`` import nothing under ``forbidden`` but what ``allowed`` names."""

    importers: str
    forbidden: tuple[str, ...]
    why: str
    allowed: tuple[str, ...] = ()

    def breaches(self, graph: Graph) -> Iterator[str]:
        for module in sorted(graph):
            if not _under(module, (self.importers,)):
                continue
            for name in sorted(graph[module]):
                if _under(name, self.forbidden) and not _under(name, self.allowed):
                    yield f"{module} imports {name}: {self.why}"


RULES = (
    Rule(
        "emulator.domain",
        (
            "emulator.http",
            "emulator.app",
            "emulator.state",
            "emulator.server",
            "emulator.cli",
            "starlette",
            "uvicorn",
        ),
        "the domain stays below the HTTP layer",
    ),
    Rule(
        "emulator.store",
        ("emulator",),
        "the store knows the records only",
        allowed=("emulator.store", RECORDS),
    ),
    Rule(RECORDS, ("emulator",), "the records import nothing of the emulator"),
    Rule(
        "emulator",
        ("clients", "contracts", "imgemu"),
        "only imgemu joins the parts",
    ),
)


def breaches(graph: Graph, rules: Iterable[Rule] = RULES) -> list[str]:
    return [breach for rule in rules for breach in rule.breaches(graph)]


def outside_stdlib(graph: Graph, module: str) -> list[str]:
    """What ``module`` imports beyond the standard library."""
    stdlib = {*sys.stdlib_module_names, "__future__"}
    return sorted(name for name in graph[module] if name.split(".")[0] not in stdlib)


# --- the repository --------------------------------------------------------------------------

GRAPH = import_graph(REPO, PACKAGES)


def test_the_check_sees_files() -> None:
    assert len([m for m in GRAPH if m.startswith("emulator.domain.")]) > 10
    assert {*PACKAGES, RECORDS, "emulator.store.memory", "contracts.checks"} <= set(GRAPH)
    # Imports inside functions and under TYPE_CHECKING count.
    assert RECORDS in GRAPH["emulator.store.base"]
    assert "emulator.app" in GRAPH["emulator.cli"]
    assert "contracts._preflight" in GRAPH["contracts"]
    assert "emulator.cli" in GRAPH["imgemu.cli"]  # ``from emulator import cli`` resolved


def test_no_import_cycle() -> None:
    found = cycles(GRAPH)
    assert not found, "import cycles:\n" + "\n".join(map(str, found))


def test_the_layers_import_in_one_direction() -> None:
    found = breaches(GRAPH)
    assert not found, "\n".join(found)


def test_the_records_import_the_standard_library_only() -> None:
    assert not outside_stdlib(GRAPH, RECORDS)


# --- the checks fail ------------------------------------------------------------------------


def test_a_cycle_is_reported_with_its_modules() -> None:
    graph = {
        "a": {"b", "os"},
        "b": {"c"},
        "c": {"a", "d"},
        "d": set(),
        "e": {"e"},
        "f": {"d"},
    }
    assert cycles(graph) == [
        Cycle(("a", "b", "c", "a"), ("a", "b", "c")),
        Cycle(("e", "e"), ("e",)),
    ]
    assert str(cycles(graph)[0]) == "a -> b -> c -> a  (the cycle's modules: a, b, c)"
    assert cycles({"a": {"b"}, "b": {"c"}, "c": set()}) == []


def test_a_cycle_through_a_function_level_import_is_seen(tmp_path: Path) -> None:
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "one.py").write_text("from pkg.two import helper\n")
    (package / "two.py").write_text(
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n"
        "    from . import three\n"
        "def helper() -> None:\n"
        "    from .one import x\n"
    )
    (package / "three.py").write_text("import os\n")
    graph = import_graph(tmp_path, ["pkg"])
    assert graph["pkg.two"] == {"typing", "pkg.three", "pkg.one"}
    assert cycles(graph) == [Cycle(("pkg.one", "pkg.two", "pkg.one"), ("pkg.one", "pkg.two"))]


def test_each_wrong_direction_is_reported() -> None:
    graph = {
        "emulator.domain.queue": {"emulator.domain.records", "emulator.http.common"},
        "emulator.domain.aa": {"starlette.requests", "emulator.settings"},
        "emulator.store.memory": {"emulator.domain.records", "emulator.domain.aa", "heapq"},
        "emulator.store": {"emulator.store.memory"},
        RECORDS: {"dataclasses", "emulator.domain.catalog"},
        "emulator.http.queue": {"emulator.domain.queue", "starlette.routing", "clients"},
        "imgemu": {"emulator.app", "clients", "contracts"},
    }
    assert breaches(graph) == [
        "emulator.domain.aa imports starlette.requests: the domain stays below the HTTP layer",
        "emulator.domain.queue imports emulator.http.common: the domain stays below the HTTP layer",
        "emulator.store.memory imports emulator.domain.aa: the store knows the records only",
        "emulator.domain.records imports emulator.domain.catalog: "
        "the records import nothing of the emulator",
        "emulator.http.queue imports clients: only imgemu joins the parts",
    ]


def test_a_record_importing_beyond_the_standard_library_is_reported() -> None:
    graph = {RECORDS: {"__future__", "dataclasses", "enum", "collections.abc", "attrs"}}
    assert outside_stdlib(graph, RECORDS) == ["attrs"]
