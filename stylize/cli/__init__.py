"""The ``stylize`` command line: one module per command, each a thin layer over the API.

Global options (``--home``, ``--quiet``, ``--backend``, ``--device``) are accepted before
or after the command. Every error a user can fix is one line on stderr and exit code 2
(argparse's own included). Ctrl-C exits 130; SIGTERM and SIGHUP end a run the same way
(partial outputs removed, a live recording finished) and exit 128 + the signal's number.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import os
import signal
import sys
from collections.abc import Iterator, Sequence

from stylize.cli.common import Parser, configure_logging, reset_logging
from stylize.options import GLOBAL, OPTIONS, add_options
from stylize.runtime.errors import Terminated, UserError

COMMANDS = ("image", "video", "live", "weights", "train", "train-style", "paint", "export", "bench", "flicker")


def build_parser() -> Parser:
    parser = Parser(
        prog="stylize",
        description="Real-time arbitrary style transfer: stills, video files and live cameras.",
        epilog="Run `stylize COMMAND --help` for each command's options. Global options go before or after "
        "the command. Weights and cached styles live in the store: --home, else $STYLIZE_HOME, else the "
        "user cache folder.",
    )
    add_options(parser, *GLOBAL, suppress=True)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    for name in COMMANDS:
        importlib.import_module(f"stylize.cli.{name.replace('-', '_')}").register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    # OpenCV's own warnings (a camera index that fails to open, say) would add lines to our one-line errors
    os.environ.setdefault("OPENCV_LOG_LEVEL", "ERROR")
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:  # --help, or argparse's one-line error
        return int(e.code or 0)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        _settle_globals(args)
        configure_logging(args.quiet)
        with _signals_as_interrupts():
            return int(args.func(args) or 0)
    except UserError as e:
        print(f"stylize: error: {e}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt as e:
        if isinstance(e, Terminated):
            print(f"stylize: stopped by {e.name}", file=sys.stderr)
            return e.exit_code
        print("stylize: interrupted", file=sys.stderr)
        return 130
    finally:
        reset_logging()


def _settle_globals(args: argparse.Namespace) -> None:
    """Defaults for the global options not given; a one-line error for one given to a
    command it does not apply to."""
    for name in GLOBAL:
        option = OPTIONS[name]
        if option.dest not in vars(args):
            setattr(args, option.dest, option.default)
        elif name not in args.uses and name not in ("home", "quiet"):
            raise UserError(f"{option.flag} does not apply to `stylize {args.command}`")


# SIGTERM (a process manager, `kill`) and SIGHUP (the terminal closed); Windows has neither
STOP_SIGNALS = tuple(s for s in (getattr(signal, "SIGTERM", None), getattr(signal, "SIGHUP", None)) if s is not None)


@contextlib.contextmanager
def _signals_as_interrupts() -> Iterator[None]:
    """While a command runs, SIGTERM and SIGHUP raise ``Terminated`` (a KeyboardInterrupt) in
    the main thread, so they end a run as Ctrl-C does instead of killing it mid-write. A
    signal already ignored stays ignored (``nohup`` ignores SIGHUP); the previous handlers
    come back afterwards. Off the main thread (the API used from a thread) nothing changes."""

    def raise_terminated(signum: int, frame: object) -> None:
        raise Terminated(signum, signal.Signals(signum).name)

    previous = {}
    try:
        for sig in STOP_SIGNALS:
            if signal.getsignal(sig) is signal.SIG_DFL:
                previous[sig] = signal.signal(sig, raise_terminated)
    except ValueError:  # not the main thread
        pass
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def run() -> None:
    sys.exit(main())
