"""``imgemu serve``: start the emulator (the ``imgemu`` command itself lives in ``imgemu.cli``).

Every setting is a flag, generated from ``emulator.settings.Settings`` so that the flags, the
``IMGEMU_*`` variables and the config file can never list different settings.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import fields
from pathlib import Path
from typing import Any

from emulator import settings as settings_module

_STRUCTURED = ("Mapping", "RateLimit")
_METAVARS = {
    "int": "N",
    "float": "X",
    "str": "TEXT",
    "tuple": "A,B",
    "Mapping": "JSON",
    "RateLimit": "JSON",
}


def _flag_type(annotation: str) -> Any:
    if annotation == "int":
        return int
    if annotation.startswith("float"):
        return float
    if annotation.startswith("tuple"):
        return lambda text: tuple(item.strip() for item in text.split(",") if item.strip())
    if annotation.startswith(_STRUCTURED):
        return _json_value
    return str


def _json_value(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        raise argparse.ArgumentTypeError(f"expected JSON, got {text!r}") from None


def _default_text(value: Any) -> str:
    if value is None or value in ("", (), {}):
        return "none"
    if isinstance(value, tuple):
        return ",".join(value)
    if isinstance(value, settings_module.RateLimit):
        return "off" if value.limit == 0 else f"{value.limit}/{value.window_seconds:g}s"
    return str(value).lower() if isinstance(value, bool) else str(value)


def _annotations() -> dict[str, str]:
    return {f.name: str(f.type) for f in fields(settings_module.Settings)}


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
    annotations = _annotations()
    for name, default, text, choices in settings_module.describe():
        flag = "--" + name.replace("_", "-")
        env = settings_module.env_name(name)
        annotation = annotations[name]
        shown = f"{text} [env {env}; default {_default_text(default)}]"
        if annotation == "bool":
            serve.add_argument(flag, action=argparse.BooleanOptionalAction, dest=name, help=shown)
            continue
        metavar = _METAVARS.get(annotation.split(" ")[0].split("[")[0]) if not choices else None
        serve.add_argument(
            flag,
            dest=name,
            type=_flag_type(annotation),
            choices=choices,
            metavar=metavar,
            help=shown,
        )


def run(args: argparse.Namespace) -> int:
    """Run ``imgemu serve`` until it is stopped: 0, or 2 for bad settings."""
    from emulator.app import create_app
    from emulator.runtime import tune_garbage_collector
    from emulator.server import make_server

    annotations = _annotations()
    flags = {name: getattr(args, name) for name in annotations}
    structured = {
        name: value
        for name, value in flags.items()
        if value is not None and annotations[name].startswith(_STRUCTURED)
    }

    def warn(message: str) -> None:
        print(f"imgemu: warning: {message}", file=sys.stderr)

    try:
        overrides = {**flags, **settings_module.from_mapping(structured, "command line")}
        settings = settings_module.load(overrides, config=args.config, warn=warn)
    except settings_module.SettingsError as exc:
        print(f"imgemu: {exc}", file=sys.stderr)
        return 2
    app = create_app(settings)
    tune_garbage_collector()
    make_server(app, settings).run()
    return 0
