"""``stylize video``: a video file, stream or image sequence stylised, with its sound."""

from __future__ import annotations

import argparse

from stylize.cli.common import command, stylizer
from stylize.options import add_options

HELP = "stylise a video file, stream URL or image sequence, keeping its audio and timing"


def register(sub: argparse._SubParsersAction) -> None:
    p = command(
        sub, "video", help=HELP, uses=("backend", "device"),
        description=HELP[0].upper() + HELP[1:] + ". IN: any file FFmpeg reads, a network URL, a folder or glob "
        "of images. OUT: .mp4/.m4v/.mkv/.mov/.avi (H.264), .webm (VP9), or a folder (ending in '/') for PNG "
        "frames. Audio streams are copied where the container takes them, else re-encoded. The output appears "
        "only when complete; Ctrl-C removes it and exits 130.",
        epilog="example: stylize video clip.mp4 --style starry.jpg --size 480 -o clip_starry.mp4",
    )  # fmt: skip
    p.add_argument("input", help="video file, URL, image folder or glob")
    p.add_argument("-o", "--output", required=True, help="output video file, or a folder (ending in /) for PNG frames")
    add_options(p, "style", "style_weights", "alpha", "preserve_color", "size", "style_size", "temporal", "model", "weights", "graphs")
    add_options(p.add_argument_group("encoding"), "crf", "preset", "decoder", "encoder", "fps", "audio", "batch")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    report = stylizer(args).video(
        args.input, args.output, args.style, alpha=args.alpha, style_weights=args.style_weights,
        preserve_color=args.preserve_color, size=args.size, temporal=args.temporal, batch=args.batch, crf=args.crf,
        preset=args.preset, fps=args.fps, audio=args.audio, progress=not args.quiet, decoder=args.decoder,
        encoder=args.encoder,
    )  # fmt: skip
    print(report.describe())
    return 0
