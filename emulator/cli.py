"""``imgemu serve``: start the emulator (the ``imgemu`` command itself lives in ``imgemu.cli``).

Every setting is a flag, generated from ``emulator.settings.Settings`` so that the flags, the
``IMGEMU_*`` variables and the config file can never list different settings or check them
differently: the values go to the same loader, which names the flag in its one-line error.
"""

from __future__ import annotations

import argparse
import json
import sys
import types
from pathlib import Path
from typing import Any, Literal, get_args, get_origin

from emulator import settings as settings_module

_METAVARS = {int: "N", float: "X", str: "TEXT"}


def _json_value(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        raise argparse.ArgumentTypeError(f"expected JSON, got {text!r}") from None


def _plain(annotation: Any) -> Any:
    """``float | None`` -> ``float``; anything else as it is."""
    if isinstance(annotation, types.UnionType):
        return next(arg for arg in get_args(annotation) if arg is not type(None))
    return annotation


def _default_text(value: Any) -> str:
    if value is None or value in ("", (), {}, []):
        return "none"
    if isinstance(value, tuple):
        return ",".join(value)
    if isinstance(value, settings_module.RateLimit):
        return "off" if value.limit == 0 else f"{value.limit}/{value.window_seconds:g}s"
    return str(value).lower() if isinstance(value, bool) else str(value)


def register(sub: Any) -> None:
    """Add ``serve`` to the ``imgemu`` command's subparsers, a flag per setting."""
    serve = sub.add_parser(
        "serve",
        help="start the emulator (embedded defaults need no flags)",
        description=(
            "Serve every provider's protocol on one port. Each setting is a flag, an "
            "IMGEMU_<NAME> environment variable (JSON for structured values) or a key of the "
            "--config file; flags win over the environment, which wins over the file."
        ),
    )
    serve.add_argument(
        "--config",
        type=Path,
        metavar="FILE",
        help="settings file, TOML or YAML [env IMGEMU_CONFIG]",
    )
    fields = settings_module.Settings.model_fields
    for name, default, text, _choices in settings_module.describe():
        flag = "--" + name.replace("_", "-")
        shown = f"{text} [env {settings_module.env_name(name)}; default {_default_text(default)}]"
        annotation = _plain(fields[name].annotation)
        origin = get_origin(annotation)
        if annotation is bool:
            serve.add_argument(flag, action=argparse.BooleanOptionalAction, dest=name, help=shown)
        elif origin is Literal:
            choices = get_args(annotation)
            kind = type(choices[0])  # a literal of numbers (status codes) reads them as numbers
            serve.add_argument(flag, dest=name, choices=choices, type=kind, help=shown)
        elif origin is tuple:  # a list: comma-separated (or JSON), as in a variable
            serve.add_argument(flag, dest=name, metavar="A,B", help=shown)
        elif annotation in _METAVARS:
            serve.add_argument(
                flag, dest=name, type=annotation, metavar=_METAVARS[annotation], help=shown
            )
        else:  # mappings and nested settings
            serve.add_argument(flag, dest=name, type=_json_value, metavar="JSON", help=shown)


def run(args: argparse.Namespace) -> int:
    """Run ``imgemu serve`` until it is stopped: 0, 2 for bad settings, 1 when the store
    cannot be reached."""
    from emulator.app import create_app
    from emulator.runtime import tune_allocator, tune_garbage_collector
    from emulator.server import make_server, open_control_warning
    from emulator.store import StoreUnavailable

    flags = {name: getattr(args, name) for name in settings_module.Settings.model_fields}

    def warn(message: str) -> None:
        print(f"imgemu: warning: {message}", file=sys.stderr)

    try:
        settings = settings_module.load(flags, config=args.config, warn=warn)
    except settings_module.SettingsError as exc:
        print(f"imgemu: {exc}", file=sys.stderr)
        return 2
    warning = open_control_warning(settings)
    if warning is not None:
        warn(warning)
    try:
        app = create_app(settings)  # with several workers: checks the store before they start
    except StoreUnavailable as exc:
        print(f"imgemu: {exc}", file=sys.stderr)
        return 1
    if settings.workers > 1:
        from emulator.workers import Supervisor

        return Supervisor(settings).run()
    tune_garbage_collector()
    tune_allocator()
    make_server(app, settings).run()
    return 0
