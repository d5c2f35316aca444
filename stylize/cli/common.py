"""What the command modules share: the parser class, a command's parser, logging, the
stylizer built from the options."""

from __future__ import annotations

import argparse
import logging
import sys
from typing import Any

from stylize.api import Stylizer
from stylize.options import GLOBAL, add_options


class Parser(argparse.ArgumentParser):
    """argparse with one-line errors (``stylize: error: ...``, exit 2)."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"stylize: error: {message} (see `{self.prog} --help`)\n")


def command(sub: Any, name: str, *, help: str, description: str = "", epilog: str = "", uses: tuple[str, ...] = (), raw: bool = False) -> Parser:  # noqa: A002
    """A command's parser, with the global options accepted after the command too. ``uses``:
    the global options besides --home and --quiet that apply to it (backend, device)."""
    p = sub.add_parser(
        name,
        help=help,
        description=description or help[0].upper() + help[1:] + ".",
        epilog=epilog or None,
        formatter_class=argparse.RawDescriptionHelpFormatter if raw else argparse.HelpFormatter,
    )
    add_globals(p, uses)
    return p


def add_globals(p: argparse.ArgumentParser, uses: tuple[str, ...]) -> None:
    """The global options on a command's parser (no defaults: one given before the command
    survives); those that do not apply are parsed, to refuse them clearly, but not listed."""
    group = p.add_argument_group("global options (also before the command)")
    add_options(group, *(g for g in GLOBAL if g in ("home", "quiet") or g in uses), suppress=True)
    hidden = [g for g in GLOBAL if g not in ("home", "quiet") and g not in uses]
    add_options(p, *hidden, suppress=True, **{g: {"help": argparse.SUPPRESS} for g in hidden})
    p.set_defaults(uses=uses)


class _StderrHandler(logging.Handler):
    """Notes as ``stylize: ...`` lines on the stderr of the moment (tests swap it)."""

    def emit(self, record: logging.LogRecord) -> None:
        prefix = "stylize: warning: " if record.levelno >= logging.WARNING else "stylize: "
        print(prefix + record.getMessage(), file=sys.stderr)


def configure_logging(quiet: bool) -> None:
    """Notes (INFO) on stderr unless ``quiet``; warnings always."""
    logger = logging.getLogger("stylize")
    logger.handlers.clear()
    logger.addHandler(_StderrHandler())
    logger.setLevel(logging.WARNING if quiet else logging.INFO)
    logger.propagate = False


def reset_logging() -> None:
    """Back to Python's defaults (``main`` may run again in the same process: tests)."""
    logger = logging.getLogger("stylize")
    logger.handlers.clear()
    logger.setLevel(logging.NOTSET)
    logger.propagate = True


def stylizer(args: argparse.Namespace) -> Stylizer:
    """The API's ``Stylizer`` for a command's model options."""
    return Stylizer(
        args.model, weights=args.weights, backend=args.backend, device=args.device, home=args.home, style_size=getattr(args, "style_size", None),
        graphs=getattr(args, "graphs", None),
    )  # fmt: skip
