"""``stylize video``: a video file, stream or image sequence stylised, with its sound."""

from __future__ import annotations

import argparse
from pathlib import Path

from stylize.cli.common import add_model_options, add_temporal_option, parse_float_list, store_from, unit_interval
from stylize.runtime.errors import UserError

HELP = "stylise a video file, stream URL or image sequence, keeping its audio and timing"


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "video",
        help=HELP,
        description=HELP + ". IN: any file FFmpeg reads, a network URL, a folder or glob of images. "
        "OUT: .mp4/.mkv/.mov/.avi (H.264), .webm (VP9), or a folder (ending in '/') for PNG frames. "
        "Audio streams are copied where the container takes them, else re-encoded (AAC). "
        "The output appears only when complete; Ctrl-C removes it and exits 130.",
        epilog="example: stylize video clip.mp4 --style starry.jpg --size 480 -o clip_starry.mp4",
    )
    p.add_argument("input", help="video file, URL, image folder or glob")
    p.add_argument("-o", "--output", required=True, help="output video file, or a folder (ending in /) for PNG frames")
    p.add_argument("--style", action="append", required=True, type=Path, metavar="S", help="style image; repeat to mix")
    p.add_argument("--style-weights", type=parse_float_list, metavar="W1,W2", help="interpolation weights, one per --style")
    p.add_argument("--alpha", type=unit_interval, default=1.0, help="content-style trade-off (default 1)")
    p.add_argument("--preserve-color", action="store_true", help="keep the video's colours (luminance-only transfer)")
    p.add_argument("--size", type=int, default=None, help="shorter side to stylise at (default: the video's own size)")
    p.add_argument("--batch", type=int, default=1, help="frames per engine call (default 1)")
    p.add_argument("--crf", type=float, default=18, help="x264 constant quality, lower is better (default 18)")
    p.add_argument("--preset", default="medium", help="x264 speed preset (default medium)")
    p.add_argument("--fps", type=float, default=None, help="frame rate of an image sequence (default 25); for a video, resample to this rate")
    p.add_argument("--no-audio", action="store_true", help="leave the audio out")
    add_temporal_option(p)
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    add_model_options(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from stylize.runtime.backends import open_engine
    from stylize.runtime.engine import StyleCache
    from stylize.runtime.images import load_image
    from stylize.runtime.models import default_family, find_weights, mix_styles
    from stylize.runtime.video.containers import check_encoder_options, output_format

    if args.size is not None and args.size < 16:
        raise UserError("--size must be at least 16 pixels")
    if args.batch < 1:
        raise UserError("--batch must be at least 1")
    if args.style_weights is not None and len(args.style_weights) != len(args.style):
        raise UserError(f"{len(args.style_weights)} --style-weights given for {len(args.style)} styles")
    check_encoder_options(output_format(args.output), args.crf, args.preset)  # before any work
    styles = [load_image(s, what="style image").rgb for s in args.style]
    store = store_from(args)
    family = args.model or default_family(store)
    weights = find_weights(store, family, {"decoder": args.weights} if args.weights else None)
    engine = open_engine(store, weights, args.backend, args.device, verbose=True)
    cache = StyleCache(engine, store)
    vector = mix_styles([cache.vector(s) for s in styles], args.style_weights)  # once, never per frame

    from stylize.runtime.video.convert import convert_video

    from stylize.runtime.frames import FrameStylizer

    process = FrameStylizer(engine, vector, args.alpha, args.preserve_color, args.temporal)
    try:
        summary = convert_video(
            args.input,
            args.output,
            process,
            size=args.size,
            batch=args.batch,
            crf=args.crf,
            preset=args.preset,
            fps=args.fps,
            progress=not args.quiet,
            audio=not args.no_audio,
        )
    finally:
        process.close()  # the stabiliser's threads
    stab = process.stabilizer
    temporal = f", temporal {args.temporal}" + (f" blended on {stab.output.device}" if process.on_device else "")
    temporal += f" ({stab.cuts} scene cut(s) reset)" if stab is not None and stab.cuts else ""
    print(summary.describe() + f" [{family}, {engine.backend}{temporal}]")
    return 0
