"""``imgemu contract``: run the contract suite against a provider or the emulator.

Importable without Schemathesis and Hypothesis (``imgemu`` registers this command at start, and
``imgemu --help`` must work without the extra); ``run`` refuses to start without them, and every
error is one line on stderr: exit 2 before any call to the target.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any, TextIO

from clients._core import PROVIDERS, emulator_base_url
from contracts._context import PROFILES
from contracts._preflight import EXTRAS_HINT, ContractUsageError, one_line
from contracts.checks import REGISTRY

PROG = "imgemu contract"
TARGET_HELP = (
    "the provider's base URL, as its clients take it: "
    + ", ".join(f"{p} {emulator_base_url(p)}" for p in PROFILES)
    + " on a default 'imgemu serve'; the form without /v1 or /model is taken too"
)


def register(sub: Any) -> None:
    """Add the ``contract`` command to ``imgemu``'s subcommands."""
    parser: argparse.ArgumentParser = sub.add_parser(
        "contract",
        help="check a provider (or the emulator) against openapi/",
        description=(
            "Check that a provider, or the emulator, keeps the contract in openapi/. "
            f"Needs Schemathesis and Hypothesis: {EXTRAS_HINT}. Exit 0 when nothing failed, "
            "1 on a failure, 2 on misuse or an unreachable target."
        ),
    )
    parser.add_argument(
        "--provider", required=True, choices=sorted(PROFILES), help="the provider to check"
    )
    parser.add_argument("--target", required=True, metavar="URL", help=TARGET_HELP)
    keys = ", ".join(PROVIDERS[p].env for p in PROFILES)
    parser.add_argument(
        "--api-key",
        metavar="KEY",
        help=f"the key to send; default: the provider's variable ({keys}), else a placeholder",
    )
    parser.add_argument(
        "--max-spend-usd",
        type=float,
        metavar="USD",
        help="skip paid calls beyond this budget, at documented prices (default: no cap)",
    )
    parser.add_argument(
        "--check",
        action="append",
        dest="checks",
        metavar="NAME",
        help=f"only this check (repeatable; it must apply to the provider): {', '.join(REGISTRY)}",
    )
    parser.add_argument(
        "--examples",
        type=int,
        default=10,
        metavar="N",
        help="Schemathesis cases per operation and mode (default 10)",
    )
    parser.add_argument(
        "--derandomize", action="store_true", help="the same Schemathesis cases on every run"
    )
    parser.add_argument("--junit", type=Path, metavar="FILE", help="write JUnit XML here")
    parser.add_argument(
        "--report", type=Path, metavar="FILE.md", help="write the markdown summary here"
    )


def run(args: argparse.Namespace, out: TextIO | None = None, err: TextIO | None = None) -> int:
    """Run the contract; 0 when nothing failed, 1 on a failure, 2 on misuse (one line on
    ``err``: unknown or inapplicable checks, bad options, the extras missing, an unreachable
    target), before any check runs."""
    out, err = out or sys.stdout, err or sys.stderr
    try:
        from contracts._preflight import check_options, require_extras, select_checks

        select_checks(args.provider, args.checks)
        check_options(args.max_spend_usd, args.examples, ("--max-spend-usd", "--examples"))
        require_extras()
        from contracts.report import markdown, write_junit, write_markdown
        from contracts.runner import run_contract

        report = run_contract(
            args.provider,
            args.target,
            api_key=args.api_key,
            max_spend_usd=args.max_spend_usd,
            checks=args.checks,
            examples=args.examples,
            derandomize=args.derandomize,
        )
        if args.junit:
            write_junit(report, args.junit)
        if args.report:
            write_markdown(report, args.report)
    except ContractUsageError as exc:
        return _fail(err, str(exc))
    except OSError as exc:  # a report that cannot be written
        return _fail(err, f"{type(exc).__name__}: {exc}")
    except KeyboardInterrupt:
        _fail(err, "interrupted")
        return 130
    except Exception as exc:  # never a traceback: one line, and the misuse code
        return _fail(err, f"unexpected error: {type(exc).__name__}: {exc}")
    print(markdown(report), file=out)
    return 0 if report.ok else 1


def _fail(err: TextIO, message: str) -> int:
    print(f"{PROG}: {one_line(message)}", file=err)
    return 2
