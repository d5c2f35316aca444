"""Train a per-style network (Johnson et al. 2016) for one style image, or an equal mix of a
few (``stylize train-style``).

Two losses (``losses.py``): ``perceptual``, the paper's, where a trained VGG-19 is in the store
(``adain-vgg``); ``teacher``, where none is at hand: an installed arbitrary-style model
(Magenta by default) paints each crop in the style, and the network is distilled from it.
``auto`` (the default) takes the paper's where it can.

The loop, checkpoints, logs, data and DDP are the decoder training's (``training/train/``):
everything a run writes lives in its run folder (default ``STORE/runs/NAME/``)::

    config.json                 the run's settings
    checkpoints/iter_NNNNNNN.pt network, Adam state, grad scaler, RNG states (the newest --keep)
    log.csv                     iteration, lr, losses, it/s (mean over each --log-every window)
    tensorboard/                where the tensorboard package is installed
    samples/iter_NNNNNNN.png    content | teacher (or style) | output for four fixed crops

and the network of every checkpoint is written to the store as NAME (layout ``johnson``, with
the style image's name and SHA-256 in its record; for a mix, the names joined by ``+`` and
the SHA-256 of their digests), so ``--weights NAME`` runs it in every
command. ``--resume`` continues exactly: the crops are a pure function of the seed and the
sample's index (``training.train.data``), and the optimiser and random states are restored.
The teacher paints each crop once, without gradients: its pass costs a few per cent of the
network's forward and backward passes, so it is not worth a cache.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from stylize.runtime.errors import UserError
from stylize.runtime.images import load_image, resize_shorter_side
from stylize.runtime.models import STYLE_SIZE, find_weights, prepare_style
from stylize.runtime.store import Store, sha256_file
from stylize.training.johnson.layout import DEFAULT_BLOCKS, DEFAULT_WIDTH, LAYOUT, MAX_BLOCKS
from stylize.training.johnson.losses import PerceptualLoss, TeacherLoss
from stylize.training.johnson.net import TransformerNet
from stylize.training.johnson.stylizer import PIXEL_SCALE
from stylize.training.johnson.teacher import TEACHERS, Teacher
from stylize.training.train import checkpoint as ckpt_io
from stylize.training.train import distributed
from stylize.training.train.data import CONTENT_STREAM, fixed_samples, make_loader, scan_images
from stylize.training.train.logs import sample_grid, save_grid
from stylize.training.train.loop import load_vgg
from stylize.training.train.loss import VGGEncoder
from stylize.training.train.runner import SessionOptions, TrainingLoop, TrainResult, ignore_sigint, lr_at, resolve_fixed, session_checks

FORMAT = "stylize-johnson-train/1"
LOSSES = ("auto", "perceptual", "teacher")
SIZE_MULTIPLE = 4  # two stride-2 convs: crops of a multiple of 4 are not cropped by the network
# Settings that shape the optimisation; a resumed run takes them from its checkpoint.
FIXED_DEFAULTS: dict[str, Any] = {
    "loss": "auto",
    "teacher": "magenta",
    "width": DEFAULT_WIDTH,
    "blocks": DEFAULT_BLOCKS,
    "batch": 4,
    "size": 192,
    "load_size": 384,
    "lr": 1e-3,
    "lr_decay": 2e-4,
    "pixel_weight": 1.0,
    "feature_weight": 0.01,
    "content_weight": 1.0,
    "style_weight": 30.0,
    "tv_weight": 0.0,
    "seed": 0,
    "vgg": "adain-vgg",
    "style_size": None,  # None: the teacher's own (Magenta 256x256), or a shorter side of 512 for the VGG
}
_FLAGS = {"batch": "--batch-size", "size": "--crop-size"}
SAMPLES = 4
DEFAULT_ITERS = 40_000  # about pytorch/examples' two epochs of COCO at batch 4
LOG_COLUMNS = {
    "teacher": ("loss", "loss_pixel", "loss_feature", "loss_tv"),
    "perceptual": ("loss", "loss_content", "loss_style", "loss_tv"),
}


@dataclass
class StyleTrainConfig(SessionOptions):  # and the session's options
    styles: list[str] | None = None  # the style image, or several for an equal mix (a resumed run: its own)
    content: str | None = None  # a folder of content images (a resumed run: its own)
    name: str = "johnson-trained"
    iters: int | None = None  # None: DEFAULT_ITERS for a new run, the run's own for a resumed one
    run_dir: str | None = None
    resume: str | None = None  # None, "latest" or a checkpoint file
    max_seconds: float | None = None  # stop with a checkpoint after this long (this session)
    # None: FIXED_DEFAULTS for a new run, the checkpoint's value for a resumed one
    loss: str | None = None
    teacher: str | None = None
    width: int | None = None
    blocks: int | None = None
    batch: int | None = None
    size: int | None = None
    load_size: int | None = None
    lr: float | None = None
    lr_decay: float | None = None
    pixel_weight: float | None = None
    feature_weight: float | None = None
    content_weight: float | None = None
    style_weight: float | None = None
    tv_weight: float | None = None
    seed: int | None = None
    vgg: str | None = None
    style_size: int | None = None


def train_style(cfg: StyleTrainConfig, store: Store, say: Callable[[str], None] | None = None) -> TrainResult:
    """Run (or resume) a training run; see the module docstring for what it writes."""
    d = distributed.setup(cfg.device)
    try:
        trainer = StyleTrainer(cfg, store, d, say)
        trainer.open_run()
        trainer.prepare()
        return trainer.run()
    finally:
        distributed.cleanup(d)


def _validate(cfg: StyleTrainConfig, fixed: dict[str, Any], iters: int) -> None:
    checks = [
        (iters >= 1, "--iters must be at least 1"),
        (fixed["loss"] in LOSSES, f"--loss must be one of {', '.join(LOSSES)}"),
        (fixed["teacher"] in TEACHERS, f"--teacher must be one of {', '.join(TEACHERS)}"),
        (fixed["width"] >= 1 and 0 <= fixed["blocks"] <= MAX_BLOCKS, f"--width must be at least 1 and --blocks 0 to {MAX_BLOCKS}"),
        (fixed["batch"] >= 1, "--batch-size must be at least 1"),
        (fixed["size"] >= 16 and fixed["size"] % SIZE_MULTIPLE == 0, f"--crop-size must be a multiple of {SIZE_MULTIPLE}, at least 16"),
        (fixed["load_size"] >= fixed["size"], "--load-size must be at least --crop-size (crops are cut from the resized image)"),
        (fixed["lr"] > 0 and fixed["lr_decay"] >= 0, "--lr must be positive and --lr-decay not negative"),
        (min(fixed[k] for k in ("pixel_weight", "feature_weight", "content_weight", "style_weight", "tv_weight")) >= 0, "loss weights must not be negative"),
        (cfg.max_seconds is None or cfg.max_seconds > 0, "--max-minutes must be positive"),
        *session_checks(cfg),
    ]
    for ok, message in checks:
        if not ok:
            raise UserError(message)


def _tensor(rgb: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(rgb.transpose(2, 0, 1), dtype=np.float32))[None]


class StyleTrainer(TrainingLoop):
    """One session of a run: ``open_run`` (where it lives, start or resume, its settings),
    ``prepare`` (the style, the loss, data, optimiser; the run folder), then ``run`` (the
    shared loop, ``training.train.runner``)."""

    def __init__(self, cfg: StyleTrainConfig, store: Store, d: distributed.Dist, say: Callable[[str], None] | None) -> None:
        self.cfg, self.store, self.d, self._say = cfg, store, d, say
        self.max_seconds = cfg.max_seconds
        self.sample_inputs: tuple[torch.Tensor, torch.Tensor] | None = None

    def info(self, message: str) -> None:
        if self.d.main:
            if self._say is not None:
                self._say(message)
            else:
                from tqdm import tqdm

                tqdm.write(message)

    # where the run lives, and whether it starts or resumes ----------------------------------
    def open_run(self) -> None:
        cfg = self.cfg
        self.locate(self.store, cfg.name, cfg.run_dir, cfg.resume, FORMAT)
        saved = self.ckpt["config"] if self.ckpt else None
        given = {key: getattr(cfg, key) for key in FIXED_DEFAULTS}
        self.fixed = resolve_fixed(given, saved, FIXED_DEFAULTS, _FLAGS)
        self.iters = cfg.iters if cfg.iters is not None else int((saved or {}).get("iters", DEFAULT_ITERS))
        _validate(cfg, self.fixed, self.iters)
        self.style_paths = list(cfg.styles or (saved or {}).get("styles") or [])
        self.content_dir = cfg.content or (saved or {}).get("content")
        if not self.style_paths or not self.content_dir:
            raise UserError("--style IMAGE and --content DIR (a folder of images) are required")
        if saved and cfg.styles and [str(Path(s).resolve()) for s in cfg.styles] != saved["styles"]:
            raise UserError(f"a resumed run keeps its style images ({', '.join(saved['styles'])}); drop --style")
        self.begin_at(saved)

    # the style, the loss, data, optimiser --------------------------------------------------------
    def prepare(self) -> None:
        cfg, store, fixed, d = self.cfg, self.store, self.fixed, self.d
        style_rgbs = [load_image(p, what="style image").rgb for p in self.style_paths]
        digests = [sha256_file(p) for p in self.style_paths]
        self.style_sha256 = digests[0] if len(digests) == 1 else hashlib.sha256("+".join(digests).encode()).hexdigest()
        self.style_name = "+".join(Path(p).name for p in self.style_paths)
        if self.ckpt and self.ckpt["style_sha256"] != self.style_sha256:
            raise UserError(f"the style image {self.style_name} changed since this run started")
        if fixed["loss"] == "auto":
            fixed["loss"] = "perceptual" if store.weights(fixed["vgg"]) is not None else "teacher"
            self.info(f"loss: {fixed['loss']} ({'the VGG-19 ' + fixed['vgg'] + ' is installed' if fixed['loss'] == 'perceptual' else 'no trained VGG-19 in the store: distilled from ' + fixed['teacher']})")
        self.mode = fixed["loss"]
        self.LOSSES = LOG_COLUMNS[self.mode]
        self.device = device = d.device
        self.contents = scan_images(self.content_dir, "content folder")
        size = fixed["size"]
        samples = fixed_samples(self.contents, SAMPLES, fixed["load_size"], size)  # decodes: a folder of damaged images stops here
        self.yardstick = self._loss(style_rgbs).to(device)  # the missing-weights errors before any slow work
        self.claim_name(store, "stylize train-style", "network", cfg.overwrite)
        torch.manual_seed(fixed["seed"])
        self.net = TransformerNet(fixed["width"], fixed["blocks"])
        if self.ckpt:
            self.net.load_state_dict(self.ckpt["state_dict"], strict=True)
        else:  # mid-grey at the start, not black: the network paints in 0..255 and Adam's steps are small
            with torch.no_grad():
                self.net.deconv3.conv2d.bias.fill_(PIXEL_SCALE / 2)
        self.info(self.contents.describe("content"))
        cuda = device.type == "cuda"
        workers = self.optimise(self.net, fixed["lr"])
        self.loader = make_loader(
            self.contents, batch=fixed["batch"], load_size=fixed["load_size"], crop=fixed["size"], seed=fixed["seed"],
            stream=CONTENT_STREAM, start_step=self.start, rank=d.rank, world=d.world, workers=workers, pin_memory=cuda,
            worker_init_fn=ignore_sigint,
        )  # fmt: skip
        self.config = {
            **fixed, "styles": [str(Path(p).resolve()) for p in self.style_paths], "content": str(Path(self.content_dir).resolve()),
            "name": self.name, "world": d.world, "iters": self.iters, "amp": self.amp,
        }  # fmt: skip
        distributed.barrier(d)  # every process has passed the checks before anything is written
        if d.main:
            self.start_log({**self.config, "style_sha256": self.style_sha256, "yardstick": self.yardstick_sha256}, cfg.tensorboard, self._columns())
            self.sample_inputs = (samples, self._style_tile(style_rgbs[0], size))
            precision = "fp16 mixed precision" if self.amp else "float32"
            self.info(f"run folder {self.run_dir}; {d.world} process(es) on {device}, batch {fixed['batch']} each, {precision}")

    def _columns(self) -> tuple[str, ...]:
        return ("iteration", "lr", *self.LOSSES, "it_per_s", "elapsed_s", "decode_failures")

    def _loss(self, style_rgbs: list[np.ndarray]) -> torch.nn.Module:
        """The loss module; its weights' digests (``yardstick_sha256``) are checked on resume."""
        fixed = self.fixed
        if self.mode == "perceptual":
            record, vgg = load_vgg(self.store, fixed["vgg"])
            styles = [_tensor(resize_shorter_side(rgb, fixed["style_size"] or STYLE_SIZE["adain"])) for rgb in style_rgbs]
            loss: torch.nn.Module = PerceptualLoss(VGGEncoder(vgg), styles)
            digest = f"{fixed['vgg']}={record.sha256}"
        else:
            from stylize.training.models import load_stylizer

            weights = find_weights(self.store, fixed["teacher"])
            stylizer = load_stylizer(self.store, weights)
            styles = [_tensor(prepare_style(fixed["teacher"], rgb, fixed["style_size"])) for rgb in style_rgbs]
            loss = TeacherLoss(Teacher(fixed["teacher"], stylizer, styles))
            digest = weights.model_id
        self.yardstick_sha256 = digest
        if self.ckpt and self.ckpt.get("yardstick") != digest:
            raise UserError(f"the weights this run is trained against changed since it started ({self.ckpt.get('yardstick')} then, {digest} now)")
        return loss

    def _style_tile(self, style_rgb: np.ndarray, size: int) -> torch.Tensor:
        from stylize.runtime.images import resize

        return _tensor(resize(style_rgb, size, size))

    # checkpoints and samples -------------------------------------------------------------------
    def autocast(self) -> Any:
        return torch.autocast(self.device.type, dtype=torch.float16, enabled=self.amp)

    def forward(self, content: torch.Tensor) -> torch.Tensor:
        """The network on [0, 1] pictures (it works in 0..255)."""
        return self.model(content * PIXEL_SCALE) * (1.0 / PIXEL_SCALE)

    def save(self, iteration: int, last_row: dict[str, float] | None) -> None:
        if self.d.main:
            state = {k: v.detach().cpu().clone() for k, v in self.net.state_dict().items()}
            payload = {
                "iteration": iteration, "state_dict": state, "optimizer": self.optimizer.state_dict(),
                "scaler": self.scaler.state_dict() if self.amp else None, "rng": ckpt_io.rng_state(), "config": self.config,
                "style_sha256": self.style_sha256, "yardstick": self.yardstick_sha256, "losses": last_row or {},
            }  # fmt: skip
            self.last_ckpt = ckpt_io.save_checkpoint(ckpt_io.checkpoint_path(self.ckpt_dir, iteration), payload, FORMAT)
            ckpt_io.prune(self.ckpt_dir, self.cfg.keep)
            self.record = self.store.put_weights(
                self.name, {k: v.numpy() for k, v in state.items()}, layout=LAYOUT, source=f"{self.tag}, iteration {iteration}",
                style=self.style_name, style_sha256=self.style_sha256,
            )  # fmt: skip
        distributed.barrier(self.d)

    def write_samples(self, iteration: int) -> None:
        if not self.d.main or self.sample_inputs is None or self.log is None:
            return
        content, style = (t.to(self.device) for t in self.sample_inputs)
        self.net.eval()
        with torch.no_grad(), self.autocast():
            out = self.net(content * PIXEL_SCALE) * (1.0 / PIXEL_SCALE)
            middle = self.yardstick.targets(content)[0] if self.mode == "teacher" else style.expand_as(content)
        self.net.train()
        grid = sample_grid(content, middle, out)
        save_grid(self.run_dir / "samples" / f"iter_{iteration:07d}.png", grid)
        self.log.image("samples", grid, iteration)

    # the loop ----------------------------------------------------------------------------------
    def batches(self) -> Iterator[Any]:
        return iter(self.loader)

    def step(self, step: int, batch: Any) -> tuple[float, torch.Tensor, int]:
        """One optimisation step: (lr, the losses [total, and each weighted], decode failures)."""
        fixed = self.fixed
        lr = lr_at(fixed["lr"], fixed["lr_decay"], step)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        content, failed = batch
        content = content.to(self.device, non_blocking=True)
        with self.autocast():
            if self.mode == "teacher":
                picture, features = self.yardstick.targets(content)
                a, b, tv = self.yardstick(self.forward(content), picture, features)
                a, b = fixed["pixel_weight"] * a, fixed["feature_weight"] * b
            else:
                a, b, tv = self.yardstick(self.forward(content), content)
                a, b = fixed["content_weight"] * a, fixed["style_weight"] * b
            tv = fixed["tv_weight"] * tv
            loss = a + b + tv
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        self.scaler.step(self.optimizer)
        self.scaler.update()
        return lr, torch.stack([loss.detach(), a.detach(), b.detach(), tv.detach()]).float(), int(failed.sum())
