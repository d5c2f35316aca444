"""The ``stylize`` command line: one module per subcommand, errors as one line."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from stylize.runtime.errors import UserError

# Subcommand modules; each has ``register(subparsers)`` which sets ``func`` on its parser.
_COMMANDS = ("image", "video", "live", "weights", "train", "paint", "export", "bench", "flicker")


def build_parser() -> argparse.ArgumentParser:
    import importlib

    parser = argparse.ArgumentParser(
        prog="stylize",
        description="Real-time arbitrary style transfer: stills, video files and live webcam.",
        epilog="Run `stylize COMMAND --help` for each command's options. Weights and cached styles live in "
        "the store: --home, or $STYLIZE_HOME, or the user cache folder.",
    )
    parser.add_argument("--home", metavar="DIR", help="store folder (default: $STYLIZE_HOME or the user cache folder)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in _COMMANDS:
        importlib.import_module(f"stylize.cli.{name}").register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    # OpenCV's own warnings (a camera index that fails to open, say) would add lines to our one-line errors
    os.environ.setdefault("OPENCV_LOG_LEVEL", "ERROR")
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except UserError as e:
        print(f"stylize: error: {e}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        print("stylize: interrupted", file=sys.stderr)
        return 130


def run() -> None:
    sys.exit(main())
