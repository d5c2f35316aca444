"""``stylize image``: stylised stills."""

from __future__ import annotations

import argparse
from pathlib import Path

from tqdm import tqdm

from stylize.cli.common import command, stylizer
from stylize.options import add_options
from stylize.runtime.errors import UserError
from stylize.runtime.files import refuse_overwriting_inputs

HELP = "stylise still images with one or several styles"


def register(sub: argparse._SubParsersAction) -> None:
    p = command(
        sub, "image", help=HELP, uses=("backend", "device"),
        description=HELP[0].upper() + HELP[1:] + ". OUT is a file (one content image) or a folder: "
        "{content}__{style}.png per content image.",
        epilog="example: stylize image photo.jpg --style starry.jpg --alpha 0.8 -o out.png",
    )  # fmt: skip
    p.add_argument("content", nargs="+", type=Path, help="content image file(s)")
    p.add_argument("-o", "--output", required=True, type=Path, help="output file (.png, .jpg, ...) or folder")
    add_options(p, "style", "style_weights", "alpha", "preserve_color", "size", "style_size", "model", "weights", "graphs", "max_pixels")
    p.add_argument("--mask", action="append", type=Path, metavar="IMAGE", help="spatial control: one mask image per --style (white: this style)")
    p.set_defaults(func=run)


def output_paths(contents: list[Path], styles: list[Path], output: Path) -> list[Path]:
    """One output per content: ``output`` itself, or ``{content}__{style}.png`` in the folder it names."""
    as_folder = output.is_dir() or str(output).endswith(("/", "\\")) or len(contents) > 1
    if not as_folder:
        if not output.suffix:
            raise UserError(f"output {output} has no extension: name a .png/.jpg file or an existing folder")
        output.parent.mkdir(parents=True, exist_ok=True)
        return [output]
    output.mkdir(parents=True, exist_ok=True)
    style_tag = "+".join(s.stem for s in styles)
    return [output / f"{c.stem}__{style_tag}.png" for c in contents]


def run(args: argparse.Namespace) -> int:
    outputs = output_paths(args.content, args.style, args.output)
    for out in outputs:  # before anything is loaded
        refuse_overwriting_inputs(out, [*args.content, *args.style, *(args.mask or [])])
    s = stylizer(args)
    items = list(zip(args.content, outputs))
    for content, out in tqdm(items, desc="stylising", unit="image", disable=len(items) < 2 or args.quiet):
        result = s.image_file(
            content, out, args.style, alpha=args.alpha, style_weights=args.style_weights, preserve_color=args.preserve_color,
            masks=args.mask, size=args.size, max_pixels=args.max_pixels,
        )  # fmt: skip
        h, w = result.size
        print(f"{content} -> {out} ({w}x{h}, {s.family}, {s.engine.backend})")
    return 0
