"""`python -m studio`: headless use. Each module in this package with ``register(subparsers)``
adds its subcommands; a subcommand sets ``func(args) -> int`` with ``set_defaults``."""
from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
from typing import Sequence


class CLIError(Exception):
    """A user error: printed as one line on stderr, exit status 2."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m studio",
        description="Image Alignment Studio, headless: taxonomy, rendering, synthesis, import/export, leaderboards, training.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda i: i.name):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        register = getattr(module, "register", None)
        if register is not None:
            register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    try:
        return int(args.func(args) or 0)
    except CLIError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


def make_studio():
    """Studio services for a CLI command (settings from the environment)."""
    from studio.core import Studio

    return Studio()
