"""``imgemu generate | status | cancel``: the reference clients from a shell.

Against the emulator by default (``http://127.0.0.1:8000``, each provider under its own path);
``--base-url`` and ``--api-key`` point the same commands at a real provider. On a terminal
``generate`` shows a live line (state, queue position, elapsed); otherwise it prints one plain
line per change, for logs and CI.

Example::

    imgemu generate --provider seacloud --model gpt_image_1 --prompt "a red apple" --out out/
    imgemu generate --provider openai --model gpt-image-1 --prompt "a red apple" --stream --out out/
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol, TextIO

from rich.console import Console
from rich.live import Live
from rich.text import Text

from clients._aa import AAClient
from clients._core import PollPolicy, Progress
from clients._errors import ImgemuError, UsageError
from clients._images import ImagesClient
from clients._images_core import ImageCompleted, PartialImage
from clients._queue import QueueClient

EMULATOR = "http://127.0.0.1:8000"
QUEUE = ("seacloud", "odirouter")
IMAGES = ("openai", "agcloud")
PROVIDERS = (*QUEUE, *IMAGES, "aa")
# Each provider's base URL on the emulator (a real provider's is given with --base-url).
EMULATOR_PATHS = {"seacloud": "/seacloud/model", "odirouter": "/odirouter/model"}
LOCAL_KEY = "imgemu-local"  # any key works on the emulator unless keys are configured
_MAGIC = {b"\x89PNG": "png", b"\xff\xd8\xff": "jpeg", b"RIFF": "webp"}


class Reporter(Protocol):
    """Where ``generate`` reports progress."""

    def update(self, text: str) -> None: ...

    def done(self, text: str) -> None: ...


class PlainReporter:
    """One line per change: for logs, pipes and CI."""

    def __init__(self, out: TextIO) -> None:
        self._out = out
        self._last = ""

    def update(self, text: str) -> None:
        if text != self._last:
            print(text, file=self._out, flush=True)
            self._last = text

    def done(self, text: str) -> None:
        print(text, file=self._out, flush=True)


class LiveReporter:
    """A line redrawn in place on a terminal (rich)."""

    def __init__(self, live: Live) -> None:
        self._live = live

    def update(self, text: str) -> None:
        self._live.update(Text(text))

    def done(self, text: str) -> None:
        self._live.update(Text(text))


@contextmanager
def reporter(mode: str, out: TextIO) -> Iterator[Reporter]:
    """A live reporter on a terminal (or ``--progress rich``), else a plain one."""
    live = mode == "rich" or (mode == "auto" and out.isatty())
    if not live:
        yield PlainReporter(out)
        return
    console = Console(file=out, force_terminal=mode == "rich" or None)
    with Live(Text("starting"), console=console, refresh_per_second=8, transient=False) as view:
        yield LiveReporter(view)


def register(sub: Any) -> None:
    """Add ``generate``, ``status`` and ``cancel`` to the ``imgemu`` command's subparsers."""
    generate = sub.add_parser("generate", help="generate or edit images with a provider")
    _common(generate)
    generate.add_argument("--model", required=True, help="model id as the provider names it")
    generate.add_argument("--prompt", required=True)
    generate.add_argument("--image", action="append", type=Path, default=[], help="input image")
    generate.add_argument("--mask", type=Path, help="mask: transparent where to edit")
    generate.add_argument("--size")
    generate.add_argument("--quality")
    generate.add_argument("--n", type=int)
    generate.add_argument("--format", dest="output_format", choices=["png", "jpeg", "webp"])
    generate.add_argument("--background", choices=["auto", "opaque", "transparent"])
    generate.add_argument(
        "--param", action="append", default=[], metavar="KEY=VALUE", help="any other parameter"
    )
    generate.add_argument("--stream", action="store_true", help="stream (openai, agcloud)")
    generate.add_argument("--partial-images", type=int, default=2, help="with --stream (2)")
    generate.add_argument("--timeout", type=float, default=600.0, help="seconds; then cancel")
    generate.add_argument("--interval", type=float, default=1.0, help="first poll interval")
    generate.add_argument("--out", type=Path, required=True, help="directory for the images")
    generate.add_argument(
        "--progress", choices=["auto", "rich", "plain"], default="auto", help="display"
    )
    generate.set_defaults(handler=_generate)

    status = sub.add_parser("status", help="a queue job's (or 典名词元 task's) status")
    _common(status)
    status.add_argument("--model", help="queue model id (queue providers)")
    status.add_argument("--logs", action="store_true")
    status.add_argument("job_id")
    status.set_defaults(handler=_status)

    cancel = sub.add_parser("cancel", help="cancel a queue job")
    _common(cancel)
    cancel.add_argument("--model", required=True, help="queue model id")
    cancel.add_argument("job_id")
    cancel.set_defaults(handler=_cancel)


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--provider", required=True, choices=PROVIDERS)
    parser.add_argument(
        "--base-url", help=f"the provider's URL (default: the emulator, {EMULATOR})"
    )
    parser.add_argument("--api-key", help="default: the provider's environment variable")


def run(args: argparse.Namespace, out: TextIO | None = None, err: TextIO | None = None) -> int:
    """Run a parsed ``generate``/``status``/``cancel``: 0 done, 1 a provider or job error,
    2 misuse. ``out`` and ``err`` default to the standard streams."""
    out = out or sys.stdout
    err = err or sys.stderr
    handler: Callable[[argparse.Namespace, TextIO], int] = args.handler
    try:
        return handler(args, out)
    except UsageError as exc:
        print(f"imgemu: {exc}", file=err)
        return 2
    except ImgemuError as exc:
        print(f"imgemu: {type(exc).__name__}: {exc}", file=err)
        return 1


def _connection(args: argparse.Namespace) -> tuple[str, str | None]:
    """The base URL and key: the emulator's path for the provider unless told otherwise."""
    if args.base_url:
        return args.base_url.rstrip("/"), args.api_key
    base = EMULATOR + EMULATOR_PATHS.get(args.provider, "")
    env = {
        "seacloud": "SEACLOUD_API_KEY",
        "odirouter": "ODIROUTER_API_KEY",
        "openai": "OPENAI_API_KEY",
        "agcloud": "AGCLOUD_API_KEY",
        "aa": "AA_API_KEY",
    }[args.provider]
    return base, args.api_key or os.environ.get(env) or LOCAL_KEY


def _params(args: argparse.Namespace) -> dict[str, Any]:
    params: dict[str, Any] = {}
    for name in ("size", "quality", "n", "output_format", "background"):
        value = getattr(args, name)
        if value is not None:
            params[name] = value
    for item in args.param:
        key, sep, text = item.partition("=")
        if not sep or not key:
            raise UsageError(f"--param takes KEY=VALUE, not {item!r}")
        try:
            params[key] = json.loads(text)
        except ValueError:
            params[key] = text
    return params


def _data_url(path: Path) -> str:
    data = path.read_bytes()
    return f"data:image/{_ext(data)};base64,{base64.b64encode(data).decode()}"


def _ext(data: bytes) -> str:
    return next((ext for magic, ext in _MAGIC.items() if data.startswith(magic)), "png")


def _save(out_dir: Path, stem: str, images: Sequence[bytes], out: TextIO) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    for index, data in enumerate(images):
        path = out_dir / f"{stem}_{index}.{_ext(data)}"
        path.write_bytes(data)
        print(path, file=out)


def _progress_text(progress: Progress) -> str:
    where = f" position {progress.queue_position}" if progress.queue_position is not None else ""
    return f"{progress.job_id} {progress.state}{where} {progress.elapsed:.1f}s"


def _generate(args: argparse.Namespace, out: TextIO) -> int:
    base, key = _connection(args)
    params = _params(args)
    policy = PollPolicy(interval=args.interval, timeout=args.timeout)
    with reporter(args.progress, out) as report:
        if args.provider in QUEUE:
            if args.image:
                params["images"] = [_data_url(path) for path in args.image]
            if args.mask:
                params["mask"] = _data_url(args.mask)
            params["prompt"] = args.prompt
            with QueueClient(args.provider, base_url=base, api_key=key) as queue:
                result = queue.run(
                    args.model,
                    params,
                    policy=policy,
                    download=True,
                    on_status=lambda p: report.update(_progress_text(p)),
                )
            report.done(f"{result.request_id} COMPLETED, {len(result.outputs)} image(s)")
            stem, images = result.request_id, result.images
        elif args.provider in IMAGES:
            stem, images = _images(args, base, key, params, report)
        else:
            with AAClient(args.provider, base_url=base, api_key=key) as aa:
                task = aa.run(
                    args.prompt,
                    images=list(args.image),
                    model=args.model,
                    policy=policy,
                    download=True,
                    on_status=lambda p: report.update(_progress_text(p)),
                    **params,
                )
            report.done(f"{task.task_id} {task.status}, {len(task.images)} image(s)")
            stem, images = task.task_id, task.images
    _save(args.out, stem, images, out)
    return 0


def _images(
    args: argparse.Namespace,
    base: str,
    key: str | None,
    params: dict[str, Any],
    report: Reporter,
) -> tuple[str, tuple[bytes, ...]]:
    start = time.monotonic()
    with ImagesClient(args.provider, base_url=base, api_key=key) as client:
        if not args.stream:
            report.update(f"generating with {args.model}")
            if args.image:
                result = client.edit(
                    args.prompt, list(args.image), mask=args.mask, model=args.model, **params
                )
            else:
                result = client.generate(args.prompt, model=args.model, **params)
            report.done(f"done in {time.monotonic() - start:.1f}s")
            return f"{args.provider}_{result.created}", result.images
        params["partial_images"] = args.partial_images
        if args.image:
            events = client.stream_edit(
                args.prompt, list(args.image), mask=args.mask, model=args.model, **params
            )
        else:
            events = client.stream_generate(args.prompt, model=args.model, **params)
        images: list[bytes] = []
        for event in events:
            elapsed = time.monotonic() - start
            if isinstance(event, PartialImage):
                report.update(f"image {len(images) + 1}: partial {event.index} {elapsed:.1f}s")
            elif isinstance(event, ImageCompleted):
                images.append(event.image)
                report.update(f"image {len(images)}: completed {elapsed:.1f}s")
        report.done(f"done in {time.monotonic() - start:.1f}s, {len(images)} image(s)")
        return f"{args.provider}_{int(time.time())}", tuple(images)


def _status(args: argparse.Namespace, out: TextIO) -> int:
    base, key = _connection(args)
    if args.provider in QUEUE:
        if not args.model:
            raise UsageError("status of a queue job needs --model")
        with QueueClient(args.provider, base_url=base, api_key=key) as queue:
            status = queue.status(args.model, args.job_id, logs=args.logs)
        line = f"{args.job_id} {status.state}"
        if status.queue_position is not None:
            line += f" position {status.queue_position}"
        if status.error_type:
            line += f" {status.error_type}: {status.error}"
        print(line, file=out)
        for log in status.logs or ():
            print(f"  {log.timestamp} {log.level} {log.message}", file=out)
        return 0
    if args.provider == "aa":
        with AAClient(args.provider, base_url=base, api_key=key) as aa:
            task = aa.task(args.job_id)
        print(f"{task.task_id} {task.status}", file=out)
        for url in task.urls:
            print(f"  {url}", file=out)
        return 0
    raise UsageError(f"{args.provider} answers in the same call: it has no jobs to look up")


def _cancel(args: argparse.Namespace, out: TextIO) -> int:
    if args.provider not in QUEUE:
        raise UsageError(f"{args.provider} has no cancel: only the queue providers do")
    base, key = _connection(args)
    with QueueClient(args.provider, base_url=base, api_key=key) as queue:
        accepted = queue.cancel(args.model, args.job_id)
    print(
        f"{args.job_id} {'CANCELLATION_REQUESTED' if accepted else 'ALREADY_COMPLETED'}",
        file=out,
    )
    return 0 if accepted else 1
