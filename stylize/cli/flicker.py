"""``stylize flicker``: how much a stylised video flickers (warping error, Lai et al. 2018)."""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict
from pathlib import Path

from stylize.cli.common import command
from stylize.options import arg_type, integer_in
from stylize.runtime.errors import UserError
from stylize.runtime.temporal.metric import DEFAULT_FLOW, FLOWS, video_warping_error

HELP = "measure the flicker of a stylised video against its source (warping error)"


def register(sub: argparse._SubParsersAction) -> None:
    p = command(
        sub, "flicker", help=HELP,
        description=HELP[0].upper() + HELP[1:] + ": optical flow of the source, occlusions masked by a "
        "forward-backward check, stylised frame t warped onto t-1, mean squared error over the non-occluded "
        "pixels (values in [0, 1]), averaged over frame pairs; pairs across a scene cut are left out. Lower is "
        "steadier; 0 for a still video stylised frame by frame.",
        epilog="example: stylize flicker clip.mp4 clip_starry.mp4",
    )  # fmt: skip
    p.add_argument("input", help="the source video (file, folder or glob of frames)")
    p.add_argument("stylised", help="the stylised video, frame for frame (any size: the source is scaled to it)")
    p.add_argument("--frames", type=arg_type(integer_in(1), "frames"), default=None, metavar="N", help="only the first N frames")
    p.add_argument("--flow", choices=FLOWS, default=DEFAULT_FLOW, help=f"optical flow method (default {DEFAULT_FLOW})")
    p.add_argument("--json", action="store_true", help="print the result as JSON (per-pair errors included)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    for path in (args.input, args.stylised):
        if "://" not in path and not any(c in path for c in "*?[") and not Path(path).exists():
            raise UserError(f"not found: {path}")
    if args.frames is not None and args.frames < 2:
        raise UserError("--frames must be at least 2 (the error compares consecutive frames)")
    result = video_warping_error(args.input, args.stylised, args.frames, args.flow)
    if result.pairs == 0 and not result.cuts:
        raise UserError("no frame pairs to compare: both videos need at least two frames")
    print(json.dumps(asdict(result)) if args.json else result.describe())
    return 0
