"""``stylize paint``: Gatys et al. optimisation for offline stills (slow, best quality).

PyTorch is optional (the ``[train]`` extra): ``stylize.training`` loads when the command runs.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from tqdm import tqdm

from stylize.cli.common import command
from stylize.options import SEED_MAX, OptionError, add_options, arg_type, integer_in, number_in, side_for
from stylize.runtime.errors import UserError
from stylize.runtime.files import refuse_overwriting_inputs
from stylize.runtime.images import IMAGE_SUFFIXES, load_image, resize, save_image
from stylize.runtime.store import Store

HELP = "paint a still by optimisation (Gatys et al.): slow, offline, the reference quality"

STYLE_LAYERS_DEFAULT = "relu1_1,relu2_1,relu3_1,relu4_1,relu5_1"


def layer_weights(text: str) -> dict[str, float]:
    """``relu1_1,relu2_1:0.5`` -> {name: weight}; names without a weight share 1/count each."""
    out: dict[str, float | None] = {}
    for item in (t.strip() for t in text.split(",")):
        if not item:
            continue
        name, _, weight = item.partition(":")
        try:
            out[name.strip()] = number_in(0)(weight) if weight else None
        except OptionError as e:
            raise argparse.ArgumentTypeError(f"bad layer weight in {item!r}: expected NAME or NAME:WEIGHT ({e})") from None
    if not out:
        raise argparse.ArgumentTypeError("expected at least one layer name")
    share = 1.0 / len(out)
    return {name: share if w is None else w for name, w in out.items()}


def schedule_arg(text: str) -> str | list[int]:
    if text in ("auto", "none"):
        return text
    try:
        return [integer_in(1)(s) for s in text.split(",") if s.strip()]
    except OptionError:
        raise argparse.ArgumentTypeError(f"expected auto, none or comma-separated sizes of at least 1, got {text!r}") from None


def iters_arg(text: str) -> int | list[int]:
    try:
        counts = [integer_in(0)(s) for s in text.split(",") if s.strip()]
    except OptionError:
        raise argparse.ArgumentTypeError(f"expected a count or comma-separated counts of at least 0, got {text!r}") from None
    if not counts:
        raise argparse.ArgumentTypeError("expected at least one iteration count")
    return counts[0] if len(counts) == 1 else counts


def register(sub: argparse._SubParsersAction) -> None:
    p = command(
        sub, "paint", help=HELP, uses=("device",),
        description=HELP[0].upper() + HELP[1:] + ". Optimises the pixels of the result so that its VGG-19 features "
        "match the content's (relu4_2) and its Gram matrices match the style's (relu1_1..relu5_1), with a "
        "total-variation penalty. Minutes per image on a CPU; use `stylize image` for real time. Several styles "
        "are blended by mixing their Gram matrices (--style-weights).",
        epilog="example: stylize paint photo.jpg --style starry.jpg --size 512 --iters 500 -o painted.png",
    )  # fmt: skip
    p.add_argument("content", type=Path, help="content image file")
    p.add_argument("-o", "--output", required=True, type=Path, help="output image file (.png, .jpg, ...)")
    add_options(p, "style", "style_weights", "size", "preserve_color", "max_pixels")
    p.add_argument("--iters", type=iters_arg, default=500, metavar="N[,N2..]", help="iterations per schedule stage, or one count per stage (default 500)")
    p.add_argument(
        "--schedule",
        type=schedule_arg,
        default="auto",
        metavar="auto|none|S1,S2..",
        help="coarse-to-fine sizes (shorter sides): auto halves the size down to 256 (2048: 256,512,1024,2048), "
        "none paints at full size only, or list the sizes (default auto)",
    )
    p.add_argument("--content-weight", type=arg_type(number_in(0), "content_weight"), default=1.0, help="content weight alpha (default 1)")
    p.add_argument(
        "--style-weight",
        type=arg_type(number_in(0), "style_weight"),
        default=1e-3,
        help="style weight beta (default 1e-3; the paper's alpha/beta of 1e-3..1e-4 at 512 px is 4.8e-4..4.8e-3 here, "
        "the content loss being per feature element)",
    )
    p.add_argument("--tv-weight", type=arg_type(number_in(0), "tv_weight"), default=1.0, help="total-variation weight: higher is smoother (default 1; 0 turns it off)")
    p.add_argument("--content-layers", type=layer_weights, default="relu4_2", metavar="L[:W],..", help="content layers (default relu4_2)")
    p.add_argument(
        "--style-layers",
        type=layer_weights,
        default=STYLE_LAYERS_DEFAULT,
        metavar="L[:W],..",
        help=f"style layers with optional per-layer weights, e.g. relu1_1:0.5,relu2_1 (default {STYLE_LAYERS_DEFAULT}, "
        "1/5 each as in the paper)",
    )
    p.add_argument("--style-scale", type=arg_type(number_in(above=0), "style_scale"), default=1.0, help="style image size relative to the result's (shorter sides; default 1)")
    p.add_argument("--start", choices=("content", "noise", "style"), default="content", help="start from the content (default), white noise or the style")
    p.add_argument("--optimizer", choices=("lbfgs", "adam"), default="lbfgs", help="L-BFGS (default) or Adam")
    p.add_argument("--lr", type=arg_type(number_in(above=0), "lr"), default=None, help="learning rate (default 1 for L-BFGS, 0.02 for Adam)")
    p.add_argument("--lbfgs-history", type=arg_type(integer_in(1), "lbfgs_history"), default=None, metavar="N", help="L-BFGS memory (default: up to 100 pairs, as many as fit 1 GiB)")
    p.add_argument("--seed", type=arg_type(integer_in(0, SEED_MAX), "seed"), default=0, help="random seed (noise initialisation; default 0)")
    p.add_argument(
        "--features",
        default="adain",
        metavar="adain|FILE",
        help="VGG-19 weights: 'adain' (default) is the store's normalised VGG-19 (adain-vgg, as `stylize image` uses); "
        "or a file: vgg_normalised.pth, or a torchvision vgg19 state dict (features.N.weight keys, e.g. "
        "vgg19-dcbb9e9d.pth) with its ImageNet normalisation folded into the first conv (unverified against the "
        "real file; its feature scale differs, so --style-weight will likely need tuning)",
    )
    p.add_argument("--save-every", type=arg_type(integer_in(0), "save_every"), default=0, metavar="N", help="also write the result every N iterations (OUT_STAGE_ITER.ext)")
    p.set_defaults(func=run)


def _check_output(output: Path, inputs: list[Path]) -> None:
    if output.is_dir():
        raise UserError(f"output {output} is a folder: name an image file")
    if output.suffix.lower() not in IMAGE_SUFFIXES:
        raise UserError(f"unknown image format {output.suffix or '(no extension)'!r} for output {output}; use .png or .jpg")
    parent = output.parent if str(output.parent) else Path(".")
    if not parent.is_dir():
        raise UserError(f"output folder does not exist: {parent}")
    refuse_overwriting_inputs(output, inputs)


def snapshot_path(output: Path, stage_size: tuple[int, int], iteration: int) -> Path:
    return output.with_name(f"{output.stem}_{stage_size[1]}x{stage_size[0]}_{iteration:05d}{output.suffix}")


def run(args: argparse.Namespace) -> int:
    inputs = [args.content, *args.style]
    _check_output(args.output, inputs)
    if args.save_every < 0:
        raise UserError("--save-every must be >= 0")
    if args.style_weights is not None and len(args.style_weights) != len(args.style):
        raise UserError(f"{len(args.style_weights)} --style-weights given for {len(args.style)} styles")
    try:
        import torch  # noqa: F401
    except ImportError as e:
        raise UserError(f"stylize paint needs PyTorch: pip install 'stylize[train]' ({e})") from None
    from stylize.training.gatys.features import vgg_from_file, vgg_from_store
    from stylize.training.gatys.losses import LossWeights
    from stylize.training.gatys.paint import PaintOptions, check_budget, paint

    content = load_image(args.content, max_pixels=args.max_pixels, what="content image")
    styles = [load_image(s, max_pixels=args.max_pixels, what="style image").rgb for s in args.style]
    h0, w0 = content.size
    side = side_for(args.size, w0, h0, "paint")
    options = PaintOptions(size=side or 0, schedule=args.schedule, style_scale=args.style_scale, max_pixels=args.max_pixels)
    check_budget(h0, w0, [s.shape[:2] for s in styles], options, args.max_pixels)  # before the VGG loads
    if args.features == "adain":
        vgg, features = vgg_from_store(Store(args.home)), "adain-vgg"
    else:
        vgg, kind = vgg_from_file(args.features)
        features = f"{Path(args.features).name} ({kind})"
    options = PaintOptions(
        size=side or 0,
        iters=args.iters,
        schedule=args.schedule,
        weights=LossWeights(args.content_weight, args.style_weight, args.tv_weight),
        content_layers=args.content_layers,
        style_layers=args.style_layers,
        style_blend=args.style_weights,
        style_scale=args.style_scale,
        init=args.start,
        optimizer=args.optimizer,
        lr=args.lr,
        lbfgs_history=args.lbfgs_history,
        seed=args.seed,
        preserve_color=args.preserve_color,
        device=args.device,
        max_pixels=args.max_pixels,
    )
    bars: dict[int, tqdm] = {}
    seen = {"stages": 0, "done": 0}

    def on_progress(p) -> None:  # noqa: ANN001 (training.gatys.paint.Progress)
        seen["stages"], seen["done"] = p.stages, p.done
        if not args.quiet:
            if p.stage not in bars:
                for bar in bars.values():
                    bar.close()
                h, w = p.size
                bars[p.stage] = tqdm(total=p.step.iterations, desc=f"stage {p.stage + 1}/{p.stages} {w}x{h}", unit="it")
            bar = bars[p.stage]
            bar.set_postfix({k: f"{v:.3g}" for k, v in {"loss": p.step.loss, **p.step.parts}.items()}, refresh=False)
            bar.update(1)
        if args.save_every and p.done % args.save_every == 0 and p.done < p.total:
            path = snapshot_path(args.output, p.size, p.done)
            refuse_overwriting_inputs(path, inputs)
            save_image(path, p.image())

    try:
        result = paint(vgg, content.rgb, styles, options, on_progress)
    finally:
        for bar in bars.values():
            bar.close()
    h, w = result.shape[:2]
    alpha = resize(content.alpha[..., None], h, w)[..., 0] if content.alpha is not None else None
    save_image(args.output, result, alpha)
    print(f"{args.content} -> {args.output} ({w}x{h}, {seen['done']} iterations in {seen['stages']} stage(s), {features})")
    return 0
