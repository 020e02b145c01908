"""``imgemu contract``: run the contract suite against a provider or the emulator."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any, TextIO

from contracts._context import PROFILES


def register(sub: Any) -> None:
    """Add the ``contract`` command to ``imgemu``'s subcommands."""
    parser = sub.add_parser("contract", help="check a provider (or the emulator) against openapi/")
    parser.add_argument("--provider", required=True, choices=sorted(PROFILES))
    parser.add_argument("--target", required=True, help="the provider's base URL")
    parser.add_argument("--api-key", help="default: the provider's environment variable")
    parser.add_argument("--max-spend-usd", type=float, help="skip paid calls beyond this budget")
    parser.add_argument("--check", action="append", dest="checks", help="only this check")
    parser.add_argument("--examples", type=int, default=10, help="Schemathesis cases per operation")
    parser.add_argument(
        "--derandomize", action="store_true", help="the same Schemathesis cases on every run"
    )
    parser.add_argument("--junit", type=Path, help="write JUnit XML here")
    parser.add_argument("--report", type=Path, help="write a markdown summary here")


def run(args: argparse.Namespace, out: TextIO | None = None, err: TextIO | None = None) -> int:
    """Run the contract; 0 when nothing failed, 1 on a failure, 2 on misuse."""
    from contracts.report import markdown, write_junit, write_markdown
    from contracts.runner import run_contract

    out, err = out or sys.stdout, err or sys.stderr
    if args.max_spend_usd is not None and args.max_spend_usd < 0:
        print("imgemu contract: --max-spend-usd must not be negative", file=err)
        return 2
    if args.examples < 1:
        print("imgemu contract: --examples must be at least 1", file=err)
        return 2
    try:
        report = run_contract(
            args.provider,
            args.target,
            api_key=args.api_key,
            max_spend_usd=args.max_spend_usd,
            checks=args.checks,
            examples=args.examples,
            derandomize=args.derandomize,
        )
    except (KeyError, ValueError) as exc:
        print(f"imgemu contract: {exc}", file=err)
        return 2
    if args.junit:
        write_junit(report, args.junit)
    if args.report:
        write_markdown(report, args.report)
    print(markdown(report), file=out)
    return 0 if report.ok else 1
