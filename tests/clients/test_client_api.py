"""The public surface: a flat, exact ``__all__``, documented with examples, sync = async."""

from __future__ import annotations

import dataclasses
import inspect
import typing
from collections.abc import Iterator
from typing import Any

import clients
import imgemu

PAIRS = [
    (clients.QueueClient, clients.AsyncQueueClient),
    (clients.ImagesClient, clients.AsyncImagesClient),
    (clients.AAClient, clients.AsyncAAClient),
]


def public_methods(cls: type) -> dict[str, object]:
    return {
        name: member
        for name, member in vars(cls).items()
        if not name.startswith("_") and callable(member)
    }


def _client_classes(annotation: Any) -> Iterator[type]:
    """The classes of the ``clients`` package that an annotation names, generics unpacked."""
    if isinstance(annotation, type) and annotation.__module__.startswith("clients."):
        yield annotation
    for argument in typing.get_args(annotation):
        yield from _client_classes(argument)


def _surface() -> set[type]:
    """Every class a user passes to or gets from an exported class's public API."""
    seen: set[type] = set()
    todo = [getattr(clients, name) for name in clients.__all__]
    while todo:
        obj = todo.pop()
        if not inspect.isclass(obj) or obj in seen:
            continue
        seen.add(obj)
        members = [m for n, m in inspect.getmembers(obj) if not n.startswith("_")]
        if dataclasses.is_dataclass(obj):
            members.append(obj)  # its fields are public: read them from its __init__
        for member in members:
            target = member.fget if isinstance(member, property) else member
            if not callable(target):
                continue
            try:
                hints = typing.get_type_hints(target)
            except (NameError, TypeError):
                continue
            for hint in hints.values():
                todo.extend(_client_classes(hint))
    return seen


def test_all_is_sorted_importable_and_documented() -> None:
    assert clients.__all__ == sorted(clients.__all__)
    for name in clients.__all__:
        obj = getattr(clients, name)
        assert obj is not None
        if inspect.isclass(obj):
            assert (obj.__doc__ or "").strip(), f"{name} has no docstring"


def test_every_class_of_the_public_surface_is_exported() -> None:
    exported = {getattr(clients, name) for name in clients.__all__}
    missing = sorted(cls.__qualname__ for cls in _surface() - exported)
    assert not missing, f"reachable from the public API but not in clients.__all__: {missing}"
    assert len(_surface()) >= 30  # the walk reaches the results, events and errors


def test_imgemu_exports_the_clients_and_its_own_names() -> None:
    assert set(clients.__all__) <= set(imgemu.__all__)
    own = set(imgemu.__all__) - set(clients.__all__)
    assert own == {"Settings", "__version__", "create_app", "from_environment"}
    for name in imgemu.__all__:
        obj = getattr(imgemu, name)
        if inspect.isclass(obj) or inspect.isfunction(obj):
            assert (obj.__doc__ or "").strip(), f"imgemu.{name} has no docstring"


def test_every_error_is_drawn_in_the_module_docstring() -> None:
    doc = clients.__doc__ or ""
    for name in clients.__all__:
        obj = getattr(clients, name)
        if isinstance(obj, type) and issubclass(obj, clients.ImgemuError):
            assert name in doc, name


def test_every_public_class_and_method_has_an_example() -> None:
    for name in clients.__all__:
        obj = getattr(clients, name)
        if not inspect.isclass(obj):
            continue  # type aliases (ImageEvent, ImageInput)
        assert "Example::" in (obj.__doc__ or ""), name
        for method_name, method in public_methods(obj).items():
            assert "Example::" in (inspect.getdoc(method) or ""), f"{name}.{method_name}"
    for sync, async_ in PAIRS:  # inherited from the drivers
        assert "Example::" in (inspect.getdoc(sync.close) or "")
        assert "Example::" in (inspect.getdoc(async_.aclose) or "")


def test_sync_and_async_clients_offer_the_same_calls() -> None:
    for sync, async_ in PAIRS:
        assert set(public_methods(sync)) == set(public_methods(async_))
        for name in public_methods(sync):
            assert inspect.iscoroutinefunction(getattr(async_, name)) or inspect.isasyncgenfunction(
                getattr(async_, name)
            ), name
