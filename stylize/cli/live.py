"""``stylize live``: a webcam (or a stream, or a file) stylised as it comes."""

from __future__ import annotations

import argparse
from pathlib import Path

from stylize.cli.common import command, stylizer
from stylize.options import add_options, arg_type, integer_in
from stylize.runtime.errors import UserError

HELP = "stylise a webcam, stream or video file live, in a window or headless"


def register(sub: argparse._SubParsersAction) -> None:
    p = command(
        sub, "live", help=HELP, uses=("backend", "device"),
        description=HELP[0].upper() + HELP[1:] + ". Keys: 1-9 switch style, [ ] alpha, c colour preservation "
        "(off, color, luminance), - + size, t temporal stabilisation (off, on, strong), o original beside, s snapshot, "
        "q or Esc quit. The window needs an OpenCV build with GUI support (opencv-python, not "
        "opencv-python-headless).",
        epilog="examples: stylize live --style a.jpg --style b.jpg   |   "
        "stylize live --camera clip.mp4 --style a.jpg --no-window --frames 100 --record out.mp4",
    )  # fmt: skip
    p.add_argument("--camera", default="0", help="camera index, stream URL or video file (default 0)")
    add_options(p, "style", "alpha", "preserve_color", "style_colors", "size", "style_size", "temporal", "model", "weights", "graphs", "max_pixels", style={"required": False})
    out = p.add_argument_group("output")
    out.add_argument("--no-window", dest="window", action="store_false", help="run headless (no window)")
    out.add_argument("--frames", type=arg_type(integer_in(0), "frames"), default=0, metavar="N", help="stop after N frames (default: until q or the source ends)")
    out.add_argument("--record", type=Path, metavar="FILE", help="also record the stylised feed to a video file")
    out.add_argument("--virtual-cam", action="store_true", help="send the stylised feed to a virtual camera (pip install 'stylize[virtualcam]')")
    out.add_argument("--loop", action="store_true", help="loop a video file used as the camera")
    out.add_argument(
        "--realtime", action=argparse.BooleanOptionalAction, default=None,
        help="pace a video file at its frame rate and drop stale frames, as a camera does (default: when it is shown "
        "or sent to a virtual camera; headless, every frame of the file is stylised)",
    )  # fmt: skip
    out.add_argument("--snapshot-dir", type=Path, default=Path("."), metavar="DIR", help="where s saves snapshots (default: here)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    report = stylizer(args).live(
        args.style, camera=args.camera, alpha=args.alpha, preserve_color=args.preserve_color, size=args.size,
        temporal=args.temporal, window=args.window, frames=args.frames, record=args.record,
        virtual_cam=args.virtual_cam, loop=args.loop, realtime=args.realtime, snapshot_dir=args.snapshot_dir,
        max_pixels=args.max_pixels, style_colors=args.style_colors,
    )  # fmt: skip
    print(report.describe())
    if report.error:
        raise UserError(report.error, exit_code=1)
    return 0
