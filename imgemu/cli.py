"""The ``imgemu`` command: one parser over the parts' subcommands.

``serve`` comes from the emulator, ``generate``/``status``/``cancel`` from the reference
clients and ``contract`` from the contract suite; each part registers its own subcommands and
runs them, so the emulator never imports the clients or the contract suite.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import NoReturn

from clients import cli as client_cli
from contracts import cli as contract_cli
from emulator import cli as serve_cli

DESCRIPTION = (
    "An offline emulator and contract-test suite for hosted GPT-Image APIs "
    "(OpenAI, SeaCloud, OdiRouter, AGCloud, 典名词元)."
)
EPILOG = (
    "Start with 'imgemu serve', then point your application's base URL at it. "
    "'imgemu COMMAND --help' lists a command's options."
)


class _Parser(argparse.ArgumentParser):
    """argparse, but misuse is one line on stderr (and exit 2), not the usage block."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: {message} (see '{self.prog} --help')\n")


def parser() -> argparse.ArgumentParser:
    """The whole command line, every subcommand registered."""
    from imgemu import __version__

    root = _Parser(prog="imgemu", description=DESCRIPTION, epilog=EPILOG)
    root.add_argument(
        "--version", action="version", version=f"imgemu {__version__}", help="print the version"
    )
    sub = root.add_subparsers(dest="command", required=True, metavar="COMMAND")
    serve_cli.register(sub)
    client_cli.register(sub)
    contract_cli.register(sub)
    return root


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``imgemu`` console script: the command's exit code."""
    args = parser().parse_args(argv)
    if args.command == "serve":
        return serve_cli.run(args)
    if args.command == "contract":
        return contract_cli.run(args)
    return client_cli.run(args)


if __name__ == "__main__":
    sys.exit(main())
