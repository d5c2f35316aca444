"""``stylize train``: train or fine-tune the AdaIN decoder on folders of images.

PyTorch is optional (the ``[train]`` extra): ``stylize.training`` loads when the command runs.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from stylize.cli.common import command
from stylize.options import SEED_MAX, arg_type, integer_in, number_in
from stylize.runtime.errors import UserError
from stylize.runtime.store import Store

HELP = "train or fine-tune the AdaIN decoder on folders of content and style images"

EPILOG = """\
examples:
  stylize train --content-dir photos/ --style-dir paintings/ --name my-decoder
  stylize train --content-dir photos/ --style-dir paintings/ --init adain-decoder --iters 5000 --name tuned
  stylize train --name my-decoder --resume                 # continue after a stop
  stylize image photo.jpg --style s.jpg --weights my-decoder -o out.png
  torchrun --nproc-per-node=4 -m stylize train --content-dir ... --style-dir ...   # 4 GPUs, --batch-size per GPU

The VGG-19 encoder comes from the store (adain-vgg); training never uses random encoder
weights. Checkpoints, log.csv, TensorBoard logs and sample grids go to the run folder
(default STORE/runs/NAME); each checkpoint's decoder is also written to the store as NAME.
Ctrl-C stops after the current iteration with a checkpoint; --resume continues from it."""


def register(sub: argparse._SubParsersAction) -> None:
    p = command(
        sub, "train", help=HELP, uses=("device",), raw=True, epilog=EPILOG,
        description=HELP[0].upper() + HELP[1:] + " (the AdaIN paper's loss, pytorch-AdaIN's schedule).",
    )  # fmt: skip
    data = p.add_argument_group("data (new runs; a resumed run keeps its own)")
    data.add_argument("--content-dir", type=Path, metavar="DIR", help="folder of content images, searched recursively")
    data.add_argument("--style-dir", type=Path, metavar="DIR", help="folder of style images, searched recursively")
    data.add_argument("--crop-size", type=arg_type(integer_in(8), "crop_size"), metavar="S", help="random crop size, a multiple of 8 (default 256)")
    data.add_argument("--load-size", type=arg_type(integer_in(8), "load_size"), metavar="L", help="shorter side the images are resized to before cropping (default 512)")
    data.add_argument("--batch-size", type=arg_type(integer_in(1), "batch_size"), metavar="B", help="images per batch (per process under torchrun; default 8)")
    data.add_argument("--workers", type=arg_type(integer_in(0), "workers"), metavar="N", help="DataLoader worker processes (default min(4, CPU cores))")
    opt = p.add_argument_group("optimisation (new runs; a resumed run keeps its own)")
    opt.add_argument("--iters", type=arg_type(integer_in(1), "iters"), metavar="N", help="train until iteration N (default 160000; a resumed run: its own)")
    opt.add_argument("--lr", type=arg_type(number_in(above=0), "lr"), help="Adam learning rate (default 1e-4)")
    opt.add_argument("--lr-decay", type=arg_type(number_in(0), "lr_decay"), help="lr / (1 + decay * iteration) (default 5e-5)")
    opt.add_argument("--style-weight", type=arg_type(number_in(0), "style_weight"), help="style loss weight (default 10)")
    opt.add_argument("--content-weight", type=arg_type(number_in(0), "content_weight"), help="content loss weight (default 1)")
    opt.add_argument("--seed", type=arg_type(integer_in(0, SEED_MAX), "seed"), help="seed of the decoder's init, the sampling order and the crops (default 0)")
    opt.add_argument("--vgg", metavar="NAME", help="VGG encoder weights in the store (default adain-vgg)")
    opt.add_argument("--init", metavar="NAME|FILE", help="start from a decoder: a store name (e.g. adain-decoder) or a .pth/.safetensors/checkpoint file")
    run = p.add_argument_group("run")
    run.add_argument("--name", default="adain-trained", help="store name of the trained decoder (default adain-trained)")
    run.add_argument("--run-dir", type=Path, metavar="DIR", help="checkpoints, logs and samples (default STORE/runs/NAME)")
    run.add_argument("--resume", nargs="?", const="latest", metavar="CKPT", help="continue the run from its newest checkpoint, or from CKPT")
    add_session_options(run)
    p.set_defaults(func=run_train)


def add_session_options(run: argparse._ArgumentGroup) -> None:
    """The options a run may change from one session to the next (``runner.SessionOptions``),
    for every training command."""
    run.add_argument("--save-every", type=arg_type(integer_in(1), "save_every"), default=1000, metavar="N", help="checkpoint every N iterations (default 1000)")
    run.add_argument("--sample-every", type=arg_type(integer_in(1), "sample_every"), default=1000, metavar="N", help="sample grid every N iterations (default 1000)")
    run.add_argument("--log-every", type=arg_type(integer_in(1), "log_every"), default=10, metavar="N", help="CSV/TensorBoard row every N iterations (default 10)")
    run.add_argument("--keep", type=arg_type(integer_in(0), "keep"), default=3, metavar="N", help="keep the newest N checkpoints, 0 keeps all (default 3)")
    run.add_argument("--amp", action=argparse.BooleanOptionalAction, default=None, help="fp16 mixed precision (default: on with CUDA)")
    run.add_argument("--overwrite", action="store_true", help="replace store weights called NAME that another run or import wrote")


def run_train(args: argparse.Namespace) -> int:
    try:
        import torch  # noqa: F401

        from stylize.training.train.loop import TrainConfig, train
    except ImportError as e:
        raise UserError(f"training needs PyTorch: pip install 'stylize[train]' ({e})") from None
    if not args.resume and (args.content_dir is None or args.style_dir is None):
        raise UserError("--content-dir DIR and --style-dir DIR are required (or --resume to continue a run)")
    cfg = TrainConfig(
        content=str(args.content_dir) if args.content_dir else None,
        style=str(args.style_dir) if args.style_dir else None,
        iters=args.iters,
        name=args.name,
        run_dir=str(args.run_dir) if args.run_dir else None,
        resume=args.resume,
        init=args.init,
        batch=args.batch_size,
        size=args.crop_size,
        load_size=args.load_size,
        lr=args.lr,
        lr_decay=args.lr_decay,
        style_weight=args.style_weight,
        content_weight=args.content_weight,
        seed=args.seed,
        vgg=args.vgg,
        save_every=args.save_every,
        sample_every=args.sample_every,
        log_every=args.log_every,
        keep=args.keep,
        workers=args.workers,
        device=args.device,
        amp=args.amp,
        overwrite=args.overwrite,
        progress=not args.quiet,
    )
    store = Store(args.home)
    result = train(cfg, store, say=None)
    if int(os.environ.get("RANK", "0")) != 0:
        return 0
    last = result.history[-1] if result.history else {}
    losses = f" (loss {last['loss']:.4g}: content {last['loss_content']:.4g}, style {last['loss_style']:.4g})" if last else ""
    print(f"iteration {result.iteration}{losses}; checkpoint {result.checkpoint}")
    if result.record is not None:
        print(f"decoder stored as {result.record.name} in {store.root}: use it with --weights {result.record.name}")
    if result.interrupted:
        print(f"stopped at iteration {result.iteration}; continue with: stylize train --name {args.name} --resume"
              + (f" --run-dir {args.run_dir}" if args.run_dir else ""))
        return 130
    return 0
