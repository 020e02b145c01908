"""``imgemu serve``: start the emulator (the ``imgemu`` command itself lives in ``imgemu.cli``)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from emulator import settings as settings_module


def register(sub: Any) -> None:
    """Add ``serve`` to the ``imgemu`` command's subparsers."""
    serve = sub.add_parser("serve", help="start the emulator (embedded defaults need no flags)")
    serve.add_argument("--host", help="address to bind (default 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port to bind (default 8000)")
    serve.add_argument(
        "--queue-provider",
        choices=settings_module.PROVIDERS_QUEUE,
        help="which provider owns the bare /model/... path (default seacloud)",
    )
    serve.add_argument(
        "--time-scale", type=float, help="multiplier of every service time (default 0.1)"
    )
    serve.add_argument("--clock", choices=("real", "virtual"), help="clock kind (default real)")
    serve.add_argument("--seed", type=int, help="seed of ids, latencies and images (default 0)")
    serve.add_argument(
        "--validation",
        choices=("async", "sync"),
        help="invalid requests: REQUEST_INVALID jobs or 422",
    )
    serve.add_argument(
        "--steering", action="store_true", default=None, help="honour X-Imgemu-* request headers"
    )
    serve.add_argument("--config", type=Path, help="settings file (TOML or YAML)")
    serve.add_argument("--no-access-log", action="store_true", help="do not log every request")


def run(args: argparse.Namespace) -> int:
    """Run ``imgemu serve`` until it is stopped: 0, or 2 for bad settings."""
    import uvicorn

    from emulator.app import create_app
    from emulator.runtime import tune_garbage_collector

    overrides = {
        "host": args.host,
        "port": args.port,
        "queue_provider": args.queue_provider,
        "time_scale": args.time_scale,
        "clock": args.clock,
        "seed": args.seed,
        "validation": args.validation,
        "steering": args.steering,
    }
    try:
        settings = settings_module.load(overrides, config=args.config)
    except settings_module.SettingsError as exc:
        print(f"imgemu: {exc}", file=sys.stderr)
        return 2
    app = create_app(settings)
    tune_garbage_collector()
    uvicorn.run(
        app,
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level,
        access_log=not args.no_access_log,
    )
    return 0
