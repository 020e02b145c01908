"""``imgemu generate | status | cancel``: the reference clients from a shell.

Without ``--base-url`` each provider is reached on the local emulator at its own mount
(``--emulator-url``, else ``IMGEMU_URL``, else ``http://127.0.0.1:8000``): openai and agcloud
at ``/v1``, seacloud at ``/seacloud/model``, odirouter at ``/odirouter/model``, aa at the root,
with any key.
``--base-url`` takes each provider's own convention (``https://api.openai.com/v1``,
``https://cloud.seaart.ai/model``, ``https://api.aa.com.cn``; the form without ``/v1`` or
``/model`` works too) and, with ``--api-key`` or the provider's variable, points the same
commands at a real provider.

Progress goes to stderr (a live line on a terminal, one plain line per change otherwise); the
paths of the written images go to stdout, one a line. Errors are one line on stderr; the exit
code is 0 done, 1 a provider, job, network or file error, 2 misuse.

Example::

    imgemu generate --provider seacloud --model gpt_image_1 --prompt "a red apple" --out out/
    imgemu generate --provider openai --model gpt-image-1 --prompt "a red apple" --stream --out out/
    imgemu generate --provider openai --base-url https://api.openai.com/v1 --api-key "$KEY" \\
        --model gpt-image-1 --prompt "a red apple" --out out/
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import re
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol, TextIO

import httpx
from rich.console import Console
from rich.live import Live
from rich.text import Text

from clients._aa import AAClient
from clients._core import EMULATOR_URL, PollPolicy, Progress, emulator_base_url, providers_of
from clients._core import PROVIDERS as PROVIDER_TABLE
from clients._errors import (
    AuthenticationError,
    ImgemuError,
    JobCancelledError,
    JobFailedError,
    JobTimeoutError,
    ProviderError,
    RateLimitError,
    TransportError,
    UsageError,
)
from clients._images import ImagesClient
from clients._images_core import ImageCompleted, PartialImage
from clients._queue import QueueClient

QUEUE = providers_of("queue")
IMAGES = providers_of("images")
PROVIDERS = tuple(PROVIDER_TABLE)
EMULATOR_ENV = "IMGEMU_URL"  # the local emulator's root when --emulator-url is not given
LOCAL_KEY = "imgemu-local"  # any key works on the emulator unless keys are configured
DEFAULT_TIMEOUT = 600.0
DEFAULT_INTERVAL = 1.0
DEFAULT_PARTIAL_IMAGES = 2
_MAGIC = {b"\x89PNG": "png", b"\xff\xd8\xff": "jpeg", b"RIFF": "webp"}
# Parameters with a flag of their own, refused in --param.
_OWN_FLAGS = {
    "prompt": "--prompt",
    "model": "--model",
    "image": "--image",
    "images": "--image",
    "mask": "--mask",
    "size": "--size",
    "quality": "--quality",
    "n": "--n",
    "output_format": "--format",
    "background": "--background",
    "stream": "--stream",
    "partial_images": "--partial-images",
}
_CONVENTION = (
    "Base URLs follow each provider's convention: openai and agcloud with /v1 "
    "(https://api.openai.com/v1, as OPENAI_BASE_URL), seacloud and odirouter with /model "
    "(https://cloud.seaart.ai/model), aa the host root (https://api.aa.com.cn); the form "
    "without /v1 or /model works too. Without --base-url the local emulator is used "
    f"(--emulator-url, else {EMULATOR_ENV}, else {EMULATOR_URL}), each provider at its mount, "
    "with any key."
)
_EXIT_CODES = (
    "Progress goes to stderr, results to stdout. Exit codes: 0 done, 1 a provider, job, "
    "network or file error, 2 misuse."
)


class Misuse(Exception):
    """The command was given wrongly: one line on stderr, exit 2."""


class Failure(Exception):
    """The command could not be carried out (a file, the network): one line, exit 1."""


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
    generate = sub.add_parser(
        "generate",
        help="generate or edit images with a provider",
        description="Generate images (or edit --image) and write them to --out. "
        + _CONVENTION
        + " "
        + _EXIT_CODES,
    )
    _common(generate)
    generate.add_argument(
        "--model",
        required=True,
        help="model id as the provider names it (gpt_image_1, gpt-image-1)",
    )
    generate.add_argument("--prompt", required=True, help="what to generate, or the edit to make")
    generate.add_argument(
        "--image",
        action="append",
        type=Path,
        default=[],
        metavar="FILE",
        help="input image to edit (repeat for several)",
    )
    generate.add_argument(
        "--mask", type=Path, metavar="FILE", help="mask, transparent where to edit (with --image)"
    )
    generate.add_argument("--size", help="WIDTHxHEIGHT or auto (default: the provider's)")
    generate.add_argument("--quality", help="low, medium, high or auto (default: the provider's)")
    generate.add_argument("--n", type=int, help="number of images (default 1)")
    generate.add_argument(
        "--format", dest="output_format", choices=["png", "jpeg", "webp"], help="image format"
    )
    generate.add_argument(
        "--background", choices=["auto", "opaque", "transparent"], help="background"
    )
    generate.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="any other parameter (VALUE read as JSON when it parses); repeat for several",
    )
    generate.add_argument(
        "--stream",
        action="store_true",
        help="stream the partial images as they render (openai, agcloud)",
    )
    generate.add_argument(
        "--partial-images",
        type=int,
        metavar="N",
        help=f"partial images per image, 0-3, with --stream (default {DEFAULT_PARTIAL_IMAGES})",
    )
    generate.add_argument(
        "--timeout",
        type=float,
        metavar="SECONDS",
        help="how long to wait for a queue job (then cancelled) or an aa task "
        f"(seacloud, odirouter, aa; default {DEFAULT_TIMEOUT:g})",
    )
    generate.add_argument(
        "--interval",
        type=float,
        metavar="SECONDS",
        help="wait before the first status poll, growing after "
        f"(seacloud, odirouter, aa; default {DEFAULT_INTERVAL:g})",
    )
    generate.add_argument(
        "--out", type=Path, required=True, metavar="DIR", help="directory for the images"
    )
    generate.add_argument(
        "--progress",
        choices=["auto", "rich", "plain"],
        default="auto",
        help="progress on stderr: a live line (rich), a line per change (plain), or rich on a "
        "terminal and plain otherwise (auto, the default)",
    )
    generate.set_defaults(handler=_generate)

    status = sub.add_parser(
        "status",
        help="a queue job's (or 典名词元 task's) status",
        description="Print a queue job's or a 典名词元 task's state on stdout. "
        + _CONVENTION
        + " "
        + _EXIT_CODES,
    )
    _common(status)
    status.add_argument("--model", help="the job's model id (seacloud, odirouter: required)")
    status.add_argument(
        "--logs", action="store_true", help="also print the job's log lines (seacloud, odirouter)"
    )
    status.add_argument("job_id", help="the job's request_id (queue) or the task_id (aa)")
    status.set_defaults(handler=_status)

    cancel = sub.add_parser(
        "cancel",
        help="cancel a queue job",
        description="Cancel a queue job (seacloud, odirouter); exit 1 if it had already "
        "completed. " + _CONVENTION + " " + _EXIT_CODES,
    )
    _common(cancel)
    cancel.add_argument("--model", help="the job's model id (required)")
    cancel.add_argument("job_id", help="the job's request_id")
    cancel.set_defaults(handler=_cancel)


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--provider", required=True, choices=PROVIDERS, help="which API to use")
    parser.add_argument(
        "--base-url",
        metavar="URL",
        help="the provider's base URL: https://api.openai.com/v1, https://cloud.seaart.ai/model, "
        "https://api.aa.com.cn ... (default: the local emulator's mount for the provider)",
    )
    parser.add_argument(
        "--emulator-url",
        metavar="URL",
        help=f"the local emulator's root, used without --base-url (default: {EMULATOR_ENV}, "
        f"else {EMULATOR_URL}): "
        "openai and agcloud at /v1, seacloud at /seacloud/model, odirouter at "
        "/odirouter/model, aa at the root",
    )
    parser.add_argument(
        "--api-key",
        metavar="KEY",
        help="the provider's API key (default: its variable, such as OPENAI_API_KEY; any key "
        "on the local emulator)",
    )


def run(args: argparse.Namespace, out: TextIO | None = None, err: TextIO | None = None) -> int:
    """Run a parsed ``generate``/``status``/``cancel``: 0 done, 1 a provider, job, network or
    file error, 2 misuse. Results go to ``out``, progress and errors (one line) to ``err``;
    both default to the standard streams."""
    out = out or sys.stdout
    err = err or sys.stderr
    handler: Callable[[argparse.Namespace, TextIO, TextIO], int] = args.handler
    try:
        return handler(args, out, err)
    except (Misuse, UsageError) as exc:
        message, code = str(exc), 2
    except KeyboardInterrupt:
        message, code = "interrupted", 130
    except Exception as exc:  # every other failure is one line too, never a traceback
        message, code = _describe(exc, args), 1
    print(f"imgemu: {' '.join(message.split())}", file=err, flush=True)
    return code


def _describe(exc: Exception, args: argparse.Namespace) -> str:
    """One line for a failure: what failed and, where it helps, which flag to change."""
    provider = getattr(args, "provider", "the provider")
    if isinstance(exc, Failure):
        return str(exc)
    if isinstance(exc, TransportError):
        text = _transport_text(exc)
        if getattr(args, "base_url", None) is None and isinstance(
            exc.__cause__, httpx.ConnectError
        ):
            text += (
                f" (is 'imgemu serve' running there? --emulator-url or {EMULATOR_ENV} "
                "names another address)"
            )
        return text
    if isinstance(exc, JobTimeoutError):
        text = f"gave up on {exc.job_id} after {exc.elapsed:.1f}s, still {exc.state} (--timeout)"
        if exc.cancelled:
            return text + "; cancelled it"
        if provider == "aa":
            return text + "; 典名词元 cannot cancel, the task may still finish"
        return text
    if isinstance(exc, JobCancelledError):
        return f"job {exc.job_id} was cancelled"
    if isinstance(exc, JobFailedError):
        return f"job {exc.job_id} failed: {exc}"
    if isinstance(exc, ProviderError):
        text = f"{provider} answered {exc}"
        if exc.request_id:
            text += f" (request {exc.request_id})"
        spec = PROVIDER_TABLE.get(provider)
        if isinstance(exc, AuthenticationError) and spec is not None:
            text += f"; check --api-key or {spec.env}"
        if isinstance(exc, RateLimitError) and exc.retry_after is not None:
            text += f"; retry after {exc.retry_after:g}s"
        return text
    if isinstance(exc, ImgemuError):
        return str(exc)
    if isinstance(exc, httpx.HTTPError | httpx.InvalidURL):
        return f"HTTP failure: {type(exc).__name__}: {exc}"
    if isinstance(exc, OSError):
        return _os_text(exc)
    return f"unexpected {type(exc).__name__}: {exc}"


def _transport_text(exc: TransportError) -> str:
    cause = exc.__cause__
    url = exc.request.url if exc.request is not None else None
    where = f"{url.scheme}://{url.netloc.decode('ascii')}" if url is not None else "the provider"
    reason = re.sub(r"^\[Errno -?\d+\]\s*", "", str(cause or exc)) or type(cause).__name__
    reason = reason[:1].lower() + reason[1:]
    if isinstance(cause, httpx.ConnectTimeout):
        return f"cannot reach {where}: timed out connecting"
    if isinstance(cause, httpx.ConnectError):
        return f"cannot reach {where}: {reason}"
    if isinstance(cause, httpx.TimeoutException):
        return f"{where} did not answer in time: {type(cause).__name__}"
    return f"lost the connection to {where}: {reason}"


def _os_text(exc: OSError) -> str:
    return f"{exc.filename}: {_reason(exc)}" if exc.filename else _reason(exc)


def _reason(exc: OSError) -> str:
    """``No such file or directory`` as ``no such file or directory``."""
    text = exc.strerror or str(exc)
    return text[:1].lower() + text[1:]


def _given(args: argparse.Namespace, *names: str) -> str | None:
    """The flag of the first of ``names`` given on the command line (defaults are None/False)."""
    for name in names:
        value = getattr(args, name, None)
        if value is not None and value is not False:
            return "--" + name.replace("_", "-")
    return None


def _check_url(url: str, flag: str) -> None:
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL:
        parsed = None
    if parsed is None or parsed.scheme not in ("http", "https") or not parsed.host:
        raise Misuse(f"{flag} takes an http:// or https:// URL, not {url!r}")


def _connection(args: argparse.Namespace) -> tuple[str, str]:
    """The base URL and the key: the local emulator's mount for the provider by default."""
    spec = PROVIDER_TABLE[args.provider]
    if args.base_url is not None:
        if args.emulator_url is not None:
            raise Misuse("--emulator-url does not apply with --base-url: give one of them")
        _check_url(args.base_url, "--base-url")
        key = args.api_key or os.environ.get(spec.env)
        if not key:
            raise Misuse(f"no API key: pass --api-key or set {spec.env}")
        return args.base_url, key
    if args.emulator_url is not None:
        emulator, source = args.emulator_url, "--emulator-url"
    elif os.environ.get(EMULATOR_ENV):
        emulator, source = os.environ[EMULATOR_ENV], EMULATOR_ENV
    else:
        emulator, source = EMULATOR_URL, "--emulator-url"
    _check_url(emulator, source)
    key = args.api_key or os.environ.get(spec.env) or LOCAL_KEY
    return emulator_base_url(args.provider, emulator), key


def _params(args: argparse.Namespace) -> dict[str, Any]:
    params: dict[str, Any] = {}
    for name in ("size", "quality", "n", "output_format", "background"):
        value = getattr(args, name)
        if value is not None:
            params[name] = value
    for item in args.param:
        key, sep, text = item.partition("=")
        if not sep or not key:
            raise Misuse(f"--param takes KEY=VALUE, not {item!r}")
        if key in _OWN_FLAGS:
            raise Misuse(f"--param {key}=...: use {_OWN_FLAGS[key]}")
        try:
            params[key] = json.loads(text)
        except ValueError:
            params[key] = text
    return params


def _read(path: Path, flag: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise Failure(f"cannot read {flag} {path}: {_reason(exc)}") from exc


def _data_url(data: bytes) -> str:
    return f"data:image/{_ext(data)};base64,{base64.b64encode(data).decode()}"


def _ext(data: bytes) -> str:
    return next((ext for magic, ext in _MAGIC.items() if data.startswith(magic)), "png")


def _check_out(out_dir: Path) -> None:
    """Refuse an ``--out`` that cannot be written before anything is paid for (made later)."""
    probe = out_dir.absolute()
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    if not probe.is_dir():
        raise Failure(f"cannot write to --out {out_dir}: {probe} is not a directory")
    if not os.access(probe, os.W_OK | os.X_OK):
        raise Failure(f"cannot write to --out {out_dir}: permission denied")


def _save(out_dir: Path, stem: str, images: Sequence[bytes], out: TextIO) -> None:
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise Failure(f"cannot write to --out {out_dir}: {_reason(exc)}") from exc
    for index, data in enumerate(images):
        path = out_dir / f"{stem}_{index}.{_ext(data)}"
        try:
            path.write_bytes(data)
        except OSError as exc:
            raise Failure(f"cannot write to --out {path}: {_reason(exc)}") from exc
        print(path, file=out, flush=True)


def _progress_text(progress: Progress) -> str:
    where = f" position {progress.queue_position}" if progress.queue_position is not None else ""
    return f"{progress.job_id} {progress.state}{where} {progress.elapsed:.1f}s"


def _check_generate(args: argparse.Namespace) -> None:
    """Refuse the flags that do not apply to the provider or to each other."""
    provider = args.provider
    if provider in IMAGES:
        flag = _given(args, "timeout", "interval")
        if flag:
            raise Misuse(
                f"{flag} does not apply to {provider}: it answers in the same call "
                "(only seacloud, odirouter and aa poll a job)"
            )
        if args.partial_images is not None and not args.stream:
            raise Misuse("--partial-images needs --stream")
        if provider == "agcloud" and not args.image:
            raise Misuse("agcloud only edits: pass --image")
    else:
        flag = _given(args, "stream", "partial_images")
        if flag:
            raise Misuse(f"{flag} applies to openai and agcloud only, not {provider}")
    if args.mask is not None and not args.image:
        raise Misuse("--mask needs --image (the image to edit)")
    for name in ("timeout", "interval"):
        value = getattr(args, name)
        if value is not None and not value > 0:
            raise Misuse(f"--{name} must be a positive number of seconds, not {value:g}")


def _generate(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    _check_generate(args)
    base, key = _connection(args)
    params = _params(args)
    images = [_read(path, "--image") for path in args.image]
    mask = None if args.mask is None else _read(args.mask, "--mask")
    _check_out(args.out)
    policy = PollPolicy(
        interval=DEFAULT_INTERVAL if args.interval is None else args.interval,
        timeout=DEFAULT_TIMEOUT if args.timeout is None else args.timeout,
    )
    with reporter(args.progress, err) as report:
        if args.provider in QUEUE:
            if images:
                params["images"] = [_data_url(data) for data in images]
            if mask is not None:
                params["mask"] = _data_url(mask)
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
            stem, written = result.request_id, result.images
        elif args.provider in IMAGES:
            stem, written = _images(args, base, key, params, report)
        else:
            with AAClient(args.provider, base_url=base, api_key=key) as aa:
                task = aa.run(
                    args.prompt,
                    images=list(args.image),
                    mask=args.mask,
                    model=args.model,
                    policy=policy,
                    download=True,
                    on_status=lambda p: report.update(_progress_text(p)),
                    **params,
                )
            report.done(f"{task.task_id} {task.status}, {len(task.images)} image(s)")
            stem, written = task.task_id, task.images
    _save(args.out, stem, written, out)
    return 0


def _images(
    args: argparse.Namespace,
    base: str,
    key: str,
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
        partial = args.partial_images
        params["partial_images"] = DEFAULT_PARTIAL_IMAGES if partial is None else partial
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


def _check_status(args: argparse.Namespace) -> None:
    provider = args.provider
    if args.logs and provider not in QUEUE:
        raise Misuse(f"--logs applies to seacloud and odirouter only, not {provider}")
    if provider == "aa" and args.model is not None:
        raise Misuse("--model does not apply to status --provider aa: the task id is enough")
    if provider in IMAGES:
        raise Misuse(f"--provider {provider} answers in the same call: it has no jobs to look up")
    if provider in QUEUE and not args.model:
        raise Misuse("status of a queue job needs --model")


def _status(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    _check_status(args)
    base, key = _connection(args)
    if args.provider in QUEUE:
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
    with AAClient(args.provider, base_url=base, api_key=key) as aa:
        task = aa.task(args.job_id)
    print(f"{task.task_id} {task.status}", file=out)
    for url in task.urls:
        print(f"  {url}", file=out)
    return 0


def _cancel(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    if args.provider not in QUEUE:
        raise Misuse(
            f"--provider {args.provider} has no cancel: only seacloud and odirouter cancel jobs"
        )
    if not args.model:
        raise Misuse("cancel of a queue job needs --model")
    base, key = _connection(args)
    with QueueClient(args.provider, base_url=base, api_key=key) as queue:
        accepted = queue.cancel(args.model, args.job_id)
    print(
        f"{args.job_id} {'CANCELLATION_REQUESTED' if accepted else 'ALREADY_COMPLETED'}",
        file=out,
    )
    return 0 if accepted else 1
