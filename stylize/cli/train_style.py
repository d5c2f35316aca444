"""``stylize train-style``: train a feed-forward network for one style (Johnson et al. 2016).

PyTorch is optional (the ``[train]`` extra): ``stylize.training`` loads when the command runs.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from stylize.cli.common import command
from stylize.cli.train import add_session_options
from stylize.options import SEED_MAX, add_options, arg_type, integer_in, number_in, one_of
from stylize.runtime.errors import UserError
from stylize.runtime.store import Store

HELP = "train a fast network for one style image (Johnson et al. 2016), run by every command like the other models"
LOSSES = ("auto", "perceptual", "teacher")
TEACHERS = ("magenta", "adain")

EPILOG = """\
examples:
  stylize train-style --style starry.jpg --content photos/ --name starry
  stylize train-style --style a.jpg --style b.jpg --content photos/ --name a-and-b   # an equal mix of two
  stylize train-style --style starry.jpg --content photos/ --name starry-fast --width 16 --max-minutes 30
  stylize train-style --name starry --resume               # continue after a stop
  stylize image photo.jpg --weights starry -o out.png       # no --style: the network paints its own
  torchrun --nproc-per-node=4 -m stylize train-style --style ... --content ...   # 4 GPUs, --batch-size per GPU

The loss: 'perceptual' is the paper's (content and Gram style losses on VGG-19 features, and
total variation) and needs the VGG-19 in the store (adain-vgg); 'teacher' distils the network
from an installed arbitrary-style model painting the same style (its pictures and its own
features); 'auto' (default) takes the paper's where the VGG is installed. --width sets the
channels of the first layer (the next stages have 2x and 4x; default 32, as pytorch/examples):
half the width is about 3.6x fewer multiply-adds per pixel. Checkpoints, log.csv, TensorBoard
logs and sample grids go to the run folder (default STORE/runs/NAME); each checkpoint's
network is also written to the store as NAME, with the style image's name and SHA-256.
Ctrl-C (or --max-minutes) stops after the current iteration with a checkpoint; --resume
continues from it exactly."""


def register(sub: argparse._SubParsersAction) -> None:
    p = command(
        sub, "train-style", help=HELP, uses=("device",), raw=True, epilog=EPILOG,
        description="Train a feed-forward network that paints one style image (Johnson et al. 2016): "
        "the model family 'johnson', stylising as fast as its width allows.",
    )  # fmt: skip
    data = p.add_argument_group("data (new runs; a resumed run keeps its own)")
    add_options(data, "style", style={"required": False})  # the network's style; repeated: an equal mix
    data.add_argument("--content", type=Path, metavar="DIR", help="folder of content images, searched recursively")
    data.add_argument("--crop-size", type=arg_type(integer_in(16), "crop_size"), metavar="S", help="random crop size, a multiple of 4 (default 192)")
    data.add_argument("--load-size", type=arg_type(integer_in(16), "load_size"), metavar="L", help="shorter side the images are resized to before cropping (default 384)")
    data.add_argument("--batch-size", type=arg_type(integer_in(1), "batch_size"), metavar="B", help="crops per batch (per process under torchrun; default 4)")
    data.add_argument("--workers", type=arg_type(integer_in(0), "workers"), metavar="N", help="DataLoader worker processes (default min(4, CPU cores))")
    net = p.add_argument_group("network and loss (new runs; a resumed run keeps its own)")
    net.add_argument("--width", type=arg_type(integer_in(1, 512), "width"), metavar="C", help="channels of the first layer; 2C and 4C follow (default 32)")
    net.add_argument("--blocks", type=arg_type(integer_in(0, 64), "blocks"), metavar="N", help="residual blocks (default 5)")
    net.add_argument("--loss", type=arg_type(one_of(LOSSES), "loss"), metavar="|".join(LOSSES), help="perceptual (needs the VGG-19), teacher, or auto (default)")
    net.add_argument("--teacher", type=arg_type(one_of(TEACHERS), "teacher"), metavar="|".join(TEACHERS), help="the installed model the teacher loss distils from (default magenta)")
    net.add_argument("--pixel-weight", type=arg_type(number_in(0), "pixel_weight"), metavar="W", help="teacher loss: weight of the pixels' mean squared error (default 1)")
    net.add_argument("--feature-weight", type=arg_type(number_in(0), "feature_weight"), metavar="W", help="teacher loss: weight of the teacher-feature loss (default 0.01)")
    net.add_argument("--content-weight", type=arg_type(number_in(0), "content_weight"), metavar="W", help="perceptual loss: content weight (default 1)")
    net.add_argument("--style-weight", type=arg_type(number_in(0), "style_weight"), metavar="W", help="perceptual loss: Gram style weight (default 30)")
    net.add_argument("--tv-weight", type=arg_type(number_in(0), "tv_weight"), metavar="W", help="total variation weight (default 0)")
    add_options(net, "style_size")  # the teacher encodes it at its own size; the VGG takes a shorter side of 512
    net.add_argument("--vgg", metavar="NAME", help="VGG-19 weights in the store for the perceptual loss (default adain-vgg)")
    opt = p.add_argument_group("optimisation (new runs; a resumed run keeps its own)")
    opt.add_argument("--iters", type=arg_type(integer_in(1), "iters"), metavar="N", help="train until iteration N (default 40000; a resumed run: its own)")
    opt.add_argument("--lr", type=arg_type(number_in(above=0), "lr"), help="Adam learning rate (default 1e-3)")
    opt.add_argument("--lr-decay", type=arg_type(number_in(0), "lr_decay"), help="lr / (1 + decay * iteration) (default 2e-4)")
    opt.add_argument("--seed", type=arg_type(integer_in(0, SEED_MAX), "seed"), help="seed of the network's init, the sampling order and the crops (default 0)")
    run = p.add_argument_group("run")
    run.add_argument("--name", default="johnson-trained", help="store name of the trained network (default johnson-trained)")
    run.add_argument("--run-dir", type=Path, metavar="DIR", help="checkpoints, logs and samples (default STORE/runs/NAME)")
    run.add_argument("--resume", nargs="?", const="latest", metavar="CKPT", help="continue the run from its newest checkpoint, or from CKPT")
    run.add_argument("--max-minutes", type=arg_type(number_in(above=0), "max_minutes"), metavar="M", help="stop with a checkpoint after M minutes of this session")
    add_session_options(run)
    p.set_defaults(func=run_train_style)


def run_train_style(args: argparse.Namespace) -> int:
    try:
        import torch  # noqa: F401

        from stylize.training.johnson.train import StyleTrainConfig, train_style
    except ImportError as e:
        raise UserError(f"training needs PyTorch: pip install 'stylize[train]' ({e})") from None
    if not args.resume and (args.style is None or args.content is None):
        raise UserError("--style IMAGE and --content DIR are required (or --resume to continue a run)")
    names = ("loss", "teacher", "width", "blocks", "lr", "lr_decay", "pixel_weight", "feature_weight", "content_weight",
             "style_weight", "tv_weight", "seed", "vgg", "style_size", "iters", "save_every", "sample_every", "log_every",
             "keep", "workers", "amp", "overwrite", "name", "resume")  # fmt: skip
    cfg = StyleTrainConfig(
        styles=[str(s) for s in args.style] if args.style else None,
        content=str(args.content) if args.content else None,
        run_dir=str(args.run_dir) if args.run_dir else None,
        batch=args.batch_size,
        size=args.crop_size,
        load_size=args.load_size,
        max_seconds=args.max_minutes * 60 if args.max_minutes else None,
        device=args.device,
        progress=not args.quiet,
        **{n: getattr(args, n) for n in names},
    )
    store = Store(args.home)
    result = train_style(cfg, store, say=None)
    if int(os.environ.get("RANK", "0")) != 0:
        return 0
    last = result.history[-1] if result.history else {}
    losses = ", ".join(f"{k.removeprefix('loss_')} {v:.4g}" for k, v in last.items() if k.startswith("loss_"))
    print(f"iteration {result.iteration}" + (f" (loss {last['loss']:.4g}: {losses})" if last else "") + f"; checkpoint {result.checkpoint}")
    if result.record is not None:
        print(f"network stored as {result.record.name} in {store.root}: use it with --weights {result.record.name}")
    if result.interrupted or result.out_of_time:
        print(f"stopped at iteration {result.iteration}; continue with: stylize train-style --name {args.name} --resume"
              + (f" --run-dir {args.run_dir}" if args.run_dir else ""))
    return 130 if result.interrupted else 0
