"""``stylize image``: stylised stills from the command line."""

from __future__ import annotations

import argparse
from pathlib import Path

from stylize.cli.common import add_max_pixels, add_model_options, parse_float_list, store_from, unit_interval
from stylize.runtime.errors import UserError
from stylize.runtime.files import refuse_overwriting_inputs

HELP = "stylise still images with one or several styles"


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "image",
        help=HELP,
        description=HELP + ". OUT is a file (one content image) or a folder ({content}__{style}.png per image).",
        epilog="example: stylize image photo.jpg --style starry.jpg --alpha 0.8 -o out.png",
    )
    p.add_argument("content", nargs="+", type=Path, help="content image file(s)")
    p.add_argument("--style", action="append", required=True, type=Path, metavar="S", help="style image; repeat to mix styles")
    p.add_argument("--style-weights", type=parse_float_list, metavar="W1,W2", help="interpolation weights, one per --style")
    p.add_argument("--alpha", type=unit_interval, default=1.0, help="content-style trade-off, 0 (content) .. 1 (full style); default 1")
    p.add_argument(
        "--preserve-color",
        nargs="?",
        const="color",
        choices=("color", "luminance"),
        help="keep the content's colours: 'color' (default when given) matches the style's colours to the content's; "
        "'luminance' transfers only the luminance",
    )
    p.add_argument("--mask", action="append", type=Path, metavar="M", help="spatial control: one mask image per --style (white = this style)")
    p.add_argument("--size", type=int, default=512, help="scale the content's shorter side to N pixels; 0 keeps its size (default 512)")
    p.add_argument("--style-size", type=int, default=None, help="style image size for encoding (default: 512 shorter side for adain, 256x256 for magenta)")
    add_model_options(p)
    add_max_pixels(p)
    p.add_argument("-o", "--output", required=True, type=Path, help="output file (.png, .jpg, ...) or folder")
    p.set_defaults(func=run)


def _output_paths(contents: list[Path], styles: list[Path], output: Path) -> list[Path]:
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
    from tqdm import tqdm

    from stylize.runtime.backends import open_engine
    from stylize.runtime.engine import StyleCache
    from stylize.runtime.images import load_image, resize, resize_shorter_side, save_image
    from stylize.runtime.models import default_family, find_weights
    from stylize.runtime.stills import StillOptions, fit_mask, stylize_still

    if args.size < 0:
        raise UserError("--size must be 0 (keep) or a positive number of pixels")
    inputs = [*args.content, *args.style, *(args.mask or [])]
    outputs = _output_paths(args.content, args.style, args.output)
    for out in outputs:
        refuse_overwriting_inputs(out, inputs)
    if args.style_weights is not None and len(args.style_weights) != len(args.style):
        raise UserError(f"{len(args.style_weights)} --style-weights given for {len(args.style)} styles")
    if args.mask and len(args.mask) != len(args.style):
        raise UserError(f"{len(args.mask)} --mask given for {len(args.style)} styles: give one mask per style")

    max_pixels = int(args.max_pixels)
    styles = [load_image(s, max_pixels=max_pixels, what="style image").rgb for s in args.style]
    masks_raw = [load_image(m, max_pixels=max_pixels, what="mask").rgb for m in args.mask or []]
    store = store_from(args)
    family = args.model or default_family(store)
    overrides = {"decoder": args.weights} if args.weights and family == "adain" else None
    if args.weights and family != "adain":
        raise UserError("--weights selects an AdaIN decoder; it does not apply to --model magenta")
    weights = find_weights(store, family, overrides)
    contents = [load_image(c, max_pixels=max_pixels, what="content image") for c in args.content]
    backend = "torch" if args.mask and args.backend == "auto" else args.backend  # masks mix inside the torch model
    engine = open_engine(store, weights, backend, args.device, verbose=True)
    cache = StyleCache(engine, store, args.style_size)

    for content, out_path, in_path in tqdm(
        list(zip(contents, outputs, args.content)), desc="stylising", unit="image", disable=len(contents) < 2
    ):
        rgb = resize_shorter_side(content.rgb, args.size)
        h, w = rgb.shape[:2]
        masks = [fit_mask(m, h, w, str(path)) for m, path in zip(masks_raw, args.mask or [])] or None
        options = StillOptions(args.alpha, args.style_weights, args.preserve_color, masks)
        result = stylize_still(engine, cache, rgb, styles, options)
        alpha = resize(content.alpha[..., None], h, w)[..., 0] if content.alpha is not None else None
        save_image(out_path, result, alpha)
        print(f"{in_path} -> {out_path} ({w}x{h}, {family}, {engine.backend})")
    return 0
