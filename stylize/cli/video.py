"""``stylize video``: a video file, stream or image sequence stylised, with its sound."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from stylize.cli.common import command, stylizer
from stylize.cli.paths import input_stem, plan_outputs
from stylize.options import add_options
from stylize.runtime.video.convert import check_request

HELP = "stylise a video file, stream URL or image sequence, keeping its audio and timing"


def register(sub: argparse._SubParsersAction) -> None:
    p = command(
        sub, "video", help=HELP, uses=("backend", "device"),
        description=HELP[0].upper() + HELP[1:] + ". IN: any file FFmpeg reads, a network URL, a folder or quoted "
        "glob of images (one image sequence). OUT, for one input: .mp4/.m4v/.mkv/.mov/.avi (H.264), .webm (VP9), "
        "or a folder (existing, or ending in '/') for PNG frames; for several inputs, a folder (existing, or ending "
        "in '/') that gets {input}__{style}.mp4 per input. Audio streams are copied where the container takes them, "
        "else re-encoded. The output appears only when complete; Ctrl-C removes a partial one and exits 130, "
        "SIGTERM and SIGHUP likewise (exit 143, 129).",
        epilog="example: stylize video clip.mp4 --style starry.jpg --size 480 -o clip_starry.mp4",
    )  # fmt: skip
    p.add_argument("input", nargs="+", help="video file, URL, image folder or quoted glob (several: one output each)")
    p.add_argument("-o", "--output", required=True, help="output video file, or a folder (existing, or ending in /): PNG frames of one input, a video per input of several")
    add_options(p, "style", "style_weights", "alpha", "preserve_color", "style_colors", "size", "style_size", "temporal", "model", "weights", "graphs", "max_pixels", style={"required": False})
    add_options(p.add_argument_group("encoding"), "crf", "preset", "decoder", "encoder", "fps", "audio", "batch")
    add_options(p.add_argument_group("on a Ray cluster"), "ray", "segment", "worker_cpus")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    style_tag = "+".join(Path(s).stem for s in args.style or []) or str(args.weights or args.model)  # a johnson network: its name
    if len(args.input) == 1:  # a file, or a folder of PNG frames
        outputs = [args.output]
    else:
        outputs = plan_outputs(args.input, args.output, lambda source: f"{input_stem(source)}__{style_tag}.mp4") or []
    if args.ray is not None:
        return run_on_ray(args, outputs)
    for source, out in zip(args.input, outputs):  # every pair, before anything is loaded
        check_request(source, out, args.batch, args.crf, args.preset, args.fps, decoder=args.decoder, encoder=args.encoder)
    s = stylizer(args)
    for source, out in zip(args.input, outputs):
        report = s.video(
            source, out, args.style, alpha=args.alpha, style_weights=args.style_weights,
            preserve_color=args.preserve_color, size=args.size, temporal=args.temporal, batch=args.batch, crf=args.crf,
            preset=args.preset, fps=args.fps, audio=args.audio, progress=not args.quiet, decoder=args.decoder,
            encoder=args.encoder, max_pixels=args.max_pixels, style_colors=args.style_colors,
        )  # fmt: skip
        print(report.describe())
    return 0


def run_on_ray(args: argparse.Namespace, outputs: Sequence[str | Path]) -> int:
    """``--ray``: every input on one pool of Ray workers; an input that fails is one line on
    stderr and the others are converted (exit 2 where any failed)."""
    s = stylizer(args)
    report = s.videos(
        args.input, outputs, args.style, ray=args.ray, segment=args.segment, worker_cpus=args.worker_cpus, alpha=args.alpha,
        style_weights=args.style_weights, preserve_color=args.preserve_color, size=args.size, temporal=args.temporal,
        batch=args.batch, crf=args.crf, preset=args.preset, fps=args.fps, audio=args.audio, progress=not args.quiet,
        decoder=args.decoder, encoder=args.encoder, max_pixels=args.max_pixels, style_colors=args.style_colors,
    )  # fmt: skip
    for failed in report.failed:
        print(f"stylize: error: {failed.describe()}", file=sys.stderr)
    print(report.describe())
    return 2 if report.failed else 0
