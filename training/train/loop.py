"""Train or fine-tune the AdaIN decoder (Huang & Belongie 2017; pytorch-AdaIN's train.py).

Everything a run writes lives in its run folder (default ``STORE/runs/NAME/``)::

    config.json                 the run's settings
    checkpoints/iter_NNNNNNN.pt decoder, Adam state, grad scaler, RNG states (the newest --keep)
    log.csv                     iteration, lr, losses, it/s (mean over each --log-every window)
    tensorboard/                where the tensorboard package is installed
    samples/iter_NNNNNNN.png    content | style | output for four fixed pairs

and the decoder of every checkpoint is written to the store as NAME (layout
``adain_decoder``), so ``--weights NAME`` selects it in every runtime command.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from tqdm import tqdm

from stylize.runtime.errors import UserError
from stylize.runtime.models import FAMILIES
from stylize.runtime.store import Store, WeightsRecord
from stylize.training.adain.net import SIZE_MULTIPLE, build_decoder, build_vgg
from stylize.training.train import checkpoint as ckpt_io
from stylize.training.train import distributed
from stylize.training.train.data import CONTENT_STREAM, STYLE_STREAM, fixed_samples, make_loader, scan_images
from stylize.training.train.logs import RunLog, sample_grid, save_grid
from stylize.training.train.loss import VGGEncoder, adain_losses, stylize_batch
from stylize.training.train.runner import SessionOptions, TrainingLoop, TrainResult, ignore_sigint, lr_at, resolve_fixed, session_checks

DECODER_LAYOUT, VGG_LAYOUT = "adain_decoder", "adain_vgg"
# Settings that shape the optimisation; a resumed run takes them from its checkpoint.
FIXED_DEFAULTS: dict[str, Any] = {
    "batch": 8,
    "size": 256,
    "load_size": 512,
    "lr": 1e-4,
    "lr_decay": 5e-5,
    "style_weight": 10.0,
    "content_weight": 1.0,
    "seed": 0,
    "vgg": "adain-vgg",
}
_FLAGS = {"batch": "--batch-size", "size": "--crop-size"}  # the command line's names of the settings above
SAMPLE_PAIRS = 4
DEFAULT_ITERS = 160_000  # the paper's and pytorch-AdaIN's


@dataclass
class TrainConfig(SessionOptions):  # and the session's options
    content: str | None = None
    style: str | None = None
    iters: int | None = None  # None: 160000 for a new run, the run's own for a resumed one
    name: str = "adain-trained"
    run_dir: str | None = None
    resume: str | None = None  # None, "latest" or a checkpoint file
    init: str | None = None  # a store name or a weights file (.pth, .safetensors, a checkpoint)
    # None: FIXED_DEFAULTS for a new run, the checkpoint's value for a resumed one
    batch: int | None = None
    size: int | None = None
    load_size: int | None = None
    lr: float | None = None
    lr_decay: float | None = None
    style_weight: float | None = None
    content_weight: float | None = None
    seed: int | None = None
    vgg: str | None = None


__all__ = ["TrainConfig", "TrainResult", "lr_at", "train"]


def _resolve_fixed(cfg: TrainConfig, saved: dict[str, Any] | None) -> dict[str, Any]:
    return resolve_fixed({key: getattr(cfg, key) for key in FIXED_DEFAULTS}, saved, FIXED_DEFAULTS, _FLAGS)


def _validate(cfg: TrainConfig, fixed: dict[str, Any], iters: int) -> None:
    checks = [
        (iters >= 1, "--iters must be at least 1"),
        (fixed["batch"] >= 1, "--batch-size must be at least 1"),
        (fixed["size"] >= SIZE_MULTIPLE and fixed["size"] % SIZE_MULTIPLE == 0, f"--crop-size must be a positive multiple of {SIZE_MULTIPLE}"),
        (fixed["load_size"] >= fixed["size"], "--load-size must be at least --crop-size (crops are cut from the resized image)"),
        (fixed["lr"] > 0 and fixed["lr_decay"] >= 0, "--lr must be positive and --lr-decay not negative"),
        (fixed["style_weight"] >= 0 and fixed["content_weight"] >= 0, "loss weights must not be negative"),
        *session_checks(cfg),
    ]
    for ok, message in checks:
        if not ok:
            raise UserError(message)


def load_vgg(store: Store, name: str) -> tuple[WeightsRecord, torch.nn.Sequential]:
    """The VGG encoder from the store; never random weights."""
    from stylize.training.models import load_torch_state

    if store.weights(name) is None:
        family = FAMILIES["adain"]
        raise UserError(
            f"training needs the VGG-19 encoder: adain weights not installed ({name} missing from {store.root}); "
            f"get them with {family.how_to_get}"
        )
    record, state = load_torch_state(store, name, VGG_LAYOUT)
    vgg = build_vgg()
    vgg.load_state_dict(state, strict=True)
    return record, vgg


def load_init(store: Store, spec: str) -> tuple[dict[str, torch.Tensor], str]:
    """A decoder state dict from a store name or a file (.pth, .safetensors, a training checkpoint)."""
    from stylize.training.models import load_torch_state
    from stylize.training.weights_io import SUFFIXES, read_weights_file

    path = Path(spec).expanduser()
    if path.exists() or path.suffix.lower() in SUFFIXES:
        layout, tensors = read_weights_file(path)
        if layout != DECODER_LAYOUT:
            raise UserError(f"--init {path} holds {layout} weights, expected an AdaIN decoder ({DECODER_LAYOUT})")
        return {k: torch.from_numpy(v.copy()) for k, v in tensors.items()}, f"file {path.resolve()}"
    if store.weights(spec) is None:
        raise UserError(f"--init {spec!r} is neither a file nor weights in the store ({store.root}); `stylize weights list` shows those")
    record, state = load_torch_state(store, spec, DECODER_LAYOUT)
    return state, f"store {spec} (sha256 {record.sha256[:12]})"


def train(cfg: TrainConfig, store: Store, say: Callable[[str], None] | None = None) -> TrainResult:
    """Run (or resume) a training run; see the module docstring for what it writes."""
    d = distributed.setup(cfg.device)
    try:
        return _train(cfg, store, d, say)
    finally:
        distributed.cleanup(d)


def _train(cfg: TrainConfig, store: Store, d: distributed.Dist, say: Callable[[str], None] | None) -> TrainResult:
    trainer = _Trainer(cfg, store, d, say)
    trainer.open_run()
    trainer.prepare()
    return trainer.run()


class _Trainer(TrainingLoop):
    """One session of a run: ``open_run`` (where it lives, start or resume, its settings),
    ``prepare`` (weights, data, optimiser; the run folder), then ``run`` (the shared loop,
    ``training.train.runner``)."""

    LOSSES = ("loss", "loss_content", "loss_style")

    def __init__(self, cfg: TrainConfig, store: Store, d: distributed.Dist, say: Callable[[str], None] | None) -> None:
        self.cfg, self.store, self.d, self._say = cfg, store, d, say
        self.last_ckpt: Path | None = None
        self.record: WeightsRecord | None = None
        self.log: RunLog | None = None
        self.sample_inputs: tuple[torch.Tensor, torch.Tensor] | None = None

    def info(self, message: str) -> None:
        if self.d.main:
            (self._say or tqdm.write)(message)

    # where the run lives, and whether it starts or resumes ----------------------------------
    def open_run(self) -> None:
        cfg = self.cfg
        self.locate(self.store, cfg.name, cfg.run_dir, cfg.resume)
        saved = self.ckpt["config"] if self.ckpt else None
        self.fixed = _resolve_fixed(cfg, saved)
        self.iters = cfg.iters if cfg.iters is not None else int((saved or {}).get("iters", DEFAULT_ITERS))
        _validate(cfg, self.fixed, self.iters)
        self.content_dir = cfg.content or (saved or {}).get("content")
        self.style_dir = cfg.style or (saved or {}).get("style")
        if not self.content_dir or not self.style_dir:
            raise UserError("--content-dir and --style-dir (folders of images) are required")
        self.begin_at(saved)

    # weights, data, optimiser ------------------------------------------------------------------
    def prepare(self) -> None:
        cfg, store, fixed, d = self.cfg, self.store, self.fixed, self.d
        if store.weights(fixed["vgg"]) is None:
            load_vgg(store, fixed["vgg"])  # raises the missing-weights error before any slow work
        self.contents = scan_images(self.content_dir, "content folder")
        self.styles = scan_images(self.style_dir, "style folder")
        self.vgg_record, vgg = load_vgg(store, fixed["vgg"])
        if self.ckpt and self.ckpt["vgg"]["sha256"] != self.vgg_record.sha256:
            then, now = self.ckpt["vgg"]["sha256"][:12], self.vgg_record.sha256[:12]
            raise UserError(f"the VGG weights {fixed['vgg']!r} changed since this run started (sha256 {then} then, {now} now)")
        self.claim_name(store, "stylize train", "decoder", cfg.overwrite)
        self.decoder = self._initial_decoder()
        self.info(self.contents.describe("content"))
        self.info(self.styles.describe("style"))

        self.device = device = d.device
        cuda = device.type == "cuda"
        workers = self.optimise(self.decoder, fixed["lr"])
        self.encoder = VGGEncoder(vgg).to(device)
        common = dict(
            batch=fixed["batch"], load_size=fixed["load_size"], crop=fixed["size"], seed=fixed["seed"], start_step=self.start,
            rank=d.rank, world=d.world, workers=workers, pin_memory=cuda, worker_init_fn=ignore_sigint,
        )  # fmt: skip
        self.content_loader = make_loader(self.contents, stream=CONTENT_STREAM, **common)
        self.style_loader = make_loader(self.styles, stream=STYLE_STREAM, **common)
        self.config = {
            **fixed, "content": str(Path(self.content_dir).resolve()), "style": str(Path(self.style_dir).resolve()),
            "name": self.name, "world": d.world, "iters": self.iters, "amp": self.amp, "init": self.init_desc,
        }  # fmt: skip
        distributed.barrier(d)  # every process has passed the checks before anything is written
        if d.main:
            self._start_run_folder()

    def _initial_decoder(self) -> torch.nn.Sequential:
        """From the checkpoint, --init, or the seeded default init."""
        torch.manual_seed(self.fixed["seed"])
        decoder = build_decoder()
        if self.ckpt:
            decoder.load_state_dict(self.ckpt["state_dict"], strict=True)
            self.init_desc = self.ckpt.get("init", "")
            if self.cfg.init:
                self.info(f"note: --init {self.cfg.init} ignored: a resumed run continues from its checkpoint")
        elif self.cfg.init:
            state, self.init_desc = load_init(self.store, self.cfg.init)
            decoder.load_state_dict(state, strict=True)
            self.info(f"decoder initialised from {self.init_desc}")
        else:
            self.init_desc = f"random (PyTorch default init, seed {self.fixed['seed']})"
        return decoder

    def _start_run_folder(self) -> None:
        self.start_log({**self.config, "vgg_sha256": self.vgg_record.sha256}, self.cfg.tensorboard)
        size = self.fixed["size"]
        self.sample_inputs = (fixed_samples(self.contents, SAMPLE_PAIRS, size, size), fixed_samples(self.styles, SAMPLE_PAIRS, size, size))
        precision = "fp16 mixed precision" if self.amp else "float32"
        self.info(f"run folder {self.run_dir}; {self.d.world} process(es) on {self.device}, batch {self.fixed['batch']} each, {precision}")

    # checkpoints and samples -------------------------------------------------------------------
    def autocast(self) -> Any:
        return torch.autocast(self.device.type, dtype=torch.float16, enabled=self.amp)

    def save(self, iteration: int, last_row: dict[str, float] | None) -> None:
        if self.d.main:
            state = {k: v.detach().cpu().clone() for k, v in self.decoder.state_dict().items()}
            payload = {
                "iteration": iteration, "state_dict": state, "optimizer": self.optimizer.state_dict(),
                "scaler": self.scaler.state_dict() if self.amp else None, "rng": ckpt_io.rng_state(), "config": self.config,
                "vgg": {"name": self.fixed["vgg"], "sha256": self.vgg_record.sha256}, "init": self.init_desc, "losses": last_row or {},
            }  # fmt: skip
            self.last_ckpt = ckpt_io.save_checkpoint(ckpt_io.checkpoint_path(self.ckpt_dir, iteration), payload)
            ckpt_io.prune(self.ckpt_dir, self.cfg.keep)
            self.record = self.store.put_weights(
                self.name, {k: v.numpy() for k, v in state.items()}, layout=DECODER_LAYOUT, source=f"{self.tag}, iteration {iteration}"
            )
        distributed.barrier(self.d)

    def write_samples(self, iteration: int) -> None:
        if not self.d.main or self.sample_inputs is None or self.log is None:
            return
        self.decoder.eval()
        c, s = (t.to(self.device) for t in self.sample_inputs)
        n = min(len(c), len(s))
        with self.autocast():
            out = stylize_batch(self.encoder, self.decoder, c[:n], s[:n])
        self.decoder.train()
        grid = sample_grid(c[:n], s[:n], out)
        save_grid(self.run_dir / "samples" / f"iter_{iteration:07d}.png", grid)
        self.log.image("samples", grid, iteration)

    # the loop ----------------------------------------------------------------------------------
    def step(self, step: int, batches: tuple[Any, Any]) -> tuple[float, torch.Tensor, int]:
        """One optimisation step: (lr, the losses [total, content, style], decode failures)."""
        fixed = self.fixed
        lr = lr_at(fixed["lr"], fixed["lr_decay"], step)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        (content, content_fail), (style, style_fail) = batches
        failures = int(content_fail.sum()) + int(style_fail.sum())
        content = content.to(self.device, non_blocking=True)
        style = style.to(self.device, non_blocking=True)
        with self.autocast():
            loss_c, loss_s = adain_losses(self.encoder, self.model, content, style)
            loss_c = fixed["content_weight"] * loss_c
            loss_s = fixed["style_weight"] * loss_s
            loss = loss_c + loss_s
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        self.scaler.step(self.optimizer)
        self.scaler.update()
        return lr, torch.stack([loss.detach(), loss_c.detach(), loss_s.detach()]).float(), failures

    def batches(self) -> Iterator[tuple[Any, Any]]:
        """(content batch, style batch) pairs from the two loaders, for ever."""
        content_iter, style_iter = iter(self.content_loader), iter(self.style_loader)
        while True:
            yield next(content_iter), next(style_iter)
