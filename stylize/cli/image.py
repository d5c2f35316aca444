"""``stylize image``: stylised stills."""

from __future__ import annotations

import argparse
from pathlib import Path

from tqdm import tqdm

from stylize.cli.common import command, stylizer
from stylize.cli.paths import expand_images, plan_outputs
from stylize.options import add_options
from stylize.runtime.errors import UserError
from stylize.runtime.files import check_writable, refuse_overwriting_inputs

HELP = "stylise still images with one or several styles"


def register(sub: argparse._SubParsersAction) -> None:
    p = command(
        sub, "image", help=HELP, uses=("backend", "device"),
        description=HELP[0].upper() + HELP[1:] + ". CONTENT: image files, folders (the images in them) or quoted "
        "globs ('shots/**/*.jpg'). OUT: a file (one content image), or a folder (an existing one, or a name ending "
        "in /): {content}__{style}.png per content image. The outputs appear only when complete; Ctrl-C, SIGTERM "
        "and SIGHUP leave none half-written.",
        epilog="example: stylize image photo.jpg --style starry.jpg --alpha 0.8 -o out.png",
    )  # fmt: skip
    p.add_argument("content", nargs="+", type=Path, help="content image files, folders or quoted globs")
    p.add_argument("-o", "--output", required=True, help="output file (.png, .jpg, ...) or folder (existing, or ending in /)")
    add_options(p, "style", "style_weights", "alpha", "preserve_color", "style_colors", "size", "style_size", "model", "weights", "graphs", "max_pixels", "tile", style={"required": False})
    p.add_argument("--mask", action="append", type=Path, metavar="IMAGE", help="spatial control: one mask image per --style (white: this style)")
    p.set_defaults(func=run)


def output_paths(contents: list[Path], styles: list[Path], output: str | Path) -> list[Path]:
    """One output per content: ``output`` itself, or ``{content}__{style}.png`` in the folder it
    names (``stylize.cli.paths``); its folder made and checked writable before any work."""
    style_tag = "+".join(s.stem for s in styles)
    targets = plan_outputs(contents, output, lambda c: f"{Path(c).stem}__{style_tag}.png")
    if targets is not None:
        return targets
    single = Path(output)
    if not single.suffix:
        raise UserError(f"output {output} has no extension: name a .png/.jpg file or a folder (existing, or ending in /)")
    try:
        single.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise UserError(f"cannot make the output folder {single.parent}: {e.strerror or e}") from None
    check_writable(single.parent)
    return [single]


def run(args: argparse.Namespace) -> int:
    contents = expand_images(args.content)
    styles = args.style or []  # none for a johnson network: the outputs take its name
    outputs = output_paths(contents, styles or [Path(str(args.weights or args.model))], args.output)
    for out in outputs:  # before anything is loaded
        refuse_overwriting_inputs(out, [*contents, *styles, *(args.mask or [])])
    s = stylizer(args)
    items = list(zip(contents, outputs))
    for content, out in tqdm(items, desc="stylising", unit="image", disable=len(items) < 2 or args.quiet):
        result = s.image_file(
            content, out, args.style, alpha=args.alpha, style_weights=args.style_weights, preserve_color=args.preserve_color,
            masks=args.mask, size=args.size, max_pixels=args.max_pixels, style_colors=args.style_colors, tile=args.tile,
            progress=not args.quiet,
        )  # fmt: skip
        h, w = result.size
        print(f"{content} -> {out} ({w}x{h}, {s.family}, {s.engine.backend})")
    return 0
