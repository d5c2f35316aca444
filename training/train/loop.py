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

import json
import math
import os
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from tqdm import tqdm

from stylize.runtime.errors import UserError
from stylize.runtime.files import atomic_output
from stylize.runtime.models import FAMILIES
from stylize.runtime.store import Store, WeightsRecord
from stylize.training.adain.net import SIZE_MULTIPLE, build_decoder, build_vgg
from stylize.training.train import checkpoint as ckpt_io
from stylize.training.train import distributed
from stylize.training.train.data import CONTENT_STREAM, STYLE_STREAM, fixed_samples, make_loader, scan_images
from stylize.training.train.logs import RunLog, sample_grid, save_grid
from stylize.training.train.loss import VGGEncoder, adain_losses, stylize_batch

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
SAMPLE_PAIRS = 4
DEFAULT_ITERS = 160_000  # the paper's and pytorch-AdaIN's


@dataclass
class TrainConfig:
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
    # free to change between sessions of a run
    save_every: int = 1000
    sample_every: int = 1000
    log_every: int = 10
    keep: int = 3
    workers: int | None = None
    device: str = "auto"
    amp: bool | None = None  # None: on for CUDA
    overwrite: bool = False
    progress: bool = True
    tensorboard: bool = True


@dataclass
class TrainResult:
    run_dir: Path
    iteration: int
    checkpoint: Path | None
    record: WeightsRecord | None
    history: list[dict[str, float]] = field(default_factory=list)
    interrupted: bool = False


def lr_at(lr: float, lr_decay: float, step: int) -> float:
    """pytorch-AdaIN's adjust_learning_rate: lr / (1 + lr_decay * iteration), 0-based."""
    return lr / (1.0 + lr_decay * step)


def _resolve_fixed(cfg: TrainConfig, saved: dict[str, Any] | None) -> dict[str, Any]:
    values: dict[str, Any] = {}
    conflicts = []
    for key, default in FIXED_DEFAULTS.items():
        given = getattr(cfg, key)
        if saved is None:
            values[key] = default if given is None else given
        else:
            values[key] = saved[key]
            if given is not None and given != saved[key]:
                conflicts.append(f"--{key.replace('_', '-')} {given} (the run has {saved[key]})")
    if conflicts:
        raise UserError("a resumed run keeps its settings; drop or fix " + ", ".join(conflicts))
    return values


def _validate(cfg: TrainConfig, fixed: dict[str, Any], iters: int) -> None:
    checks = [
        (iters >= 1, "--iters must be at least 1"),
        (fixed["batch"] >= 1, "--batch must be at least 1"),
        (fixed["size"] >= SIZE_MULTIPLE and fixed["size"] % SIZE_MULTIPLE == 0, f"--crop-size must be a positive multiple of {SIZE_MULTIPLE}"),
        (fixed["load_size"] >= fixed["size"], "--load-size must be at least --crop-size (crops are cut from the resized image)"),
        (fixed["lr"] > 0 and fixed["lr_decay"] >= 0, "--lr must be positive and --lr-decay not negative"),
        (fixed["style_weight"] >= 0 and fixed["content_weight"] >= 0, "loss weights must not be negative"),
        (cfg.save_every >= 1 and cfg.sample_every >= 1 and cfg.log_every >= 1, "--save-every, --sample-every and --log-every must be at least 1"),
        (cfg.keep >= 0, "--keep must be 0 (keep all) or more"),
        (cfg.workers is None or cfg.workers >= 0, "--workers must not be negative"),
    ]
    for ok, message in checks:
        if not ok:
            raise UserError(message)


def _load_vgg(store: Store, name: str) -> tuple[WeightsRecord, torch.nn.Sequential]:
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


def _source_tag(run_dir: Path) -> str:
    return f"stylize train, run {run_dir.resolve()}"


class _StopFlag:
    """First Ctrl-C: finish the iteration, save a checkpoint, stop. Second: abort at once."""

    def __init__(self, say: Callable[[str], None]) -> None:
        self.set = False
        self._say = say
        self._previous: Any = None

    def __enter__(self) -> _StopFlag:
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def _handle(self, signum: int, frame: Any) -> None:
        self.set = True
        signal.signal(signal.SIGINT, self._previous or signal.default_int_handler)
        self._say("stopping after this iteration with a checkpoint (Ctrl-C again to abort at once)")

    def __exit__(self, *exc: object) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)


def _ignore_sigint(_worker_id: int) -> None:
    """DataLoader workers leave Ctrl-C to the main process, which stops cleanly."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def train(cfg: TrainConfig, store: Store, say: Callable[[str], None] | None = None) -> TrainResult:
    """Run (or resume) a training run; see the module docstring for what it writes."""
    d = distributed.setup(cfg.device)
    try:
        return _train(cfg, store, d, say)
    finally:
        distributed.cleanup(d)


def _train(cfg: TrainConfig, store: Store, d: distributed.Dist, say: Callable[[str], None] | None) -> TrainResult:  # noqa: C901, PLR0912, PLR0915

    def info(message: str) -> None:
        if d.main:
            (say or tqdm.write)(message)

    # where the run lives, and whether it starts or resumes ------------------------------
    name = store.check_name(cfg.name)
    run_dir = Path(cfg.run_dir).expanduser() if cfg.run_dir else store.root / "runs" / name
    ckpt_dir = run_dir / "checkpoints"
    existing = ckpt_io.list_checkpoints(ckpt_dir)
    ckpt: dict[str, Any] | None = None
    if cfg.resume:
        if cfg.resume == "latest":
            if not existing:
                raise UserError(f"nothing to resume: no checkpoints in {ckpt_dir}")
            resume_path = existing[-1][1]
        else:
            resume_path = Path(cfg.resume).expanduser()
        ckpt = ckpt_io.load_checkpoint(resume_path)
        info(f"resuming from {resume_path} (iteration {ckpt['iteration']})")
    elif existing:
        raise UserError(
            f"run folder {run_dir} already has checkpoints (latest: iteration {existing[-1][0]}); "
            "pass --resume to continue that run, or choose another --name or --run-dir"
        )
    saved = ckpt["config"] if ckpt else None
    fixed = _resolve_fixed(cfg, saved)
    iters = cfg.iters if cfg.iters is not None else int((saved or {}).get("iters", DEFAULT_ITERS))
    _validate(cfg, fixed, iters)
    content_dir = cfg.content or (saved or {}).get("content")
    style_dir = cfg.style or (saved or {}).get("style")
    if not content_dir or not style_dir:
        raise UserError("--content-dir and --style-dir (folders of images) are required")
    start = int(ckpt["iteration"]) if ckpt else 0
    if start >= iters:
        raise UserError(f"the checkpoint is at iteration {start} already; pass a larger --iters to train further")
    if ckpt and saved.get("world", 1) != d.world:
        info(f"note: the run was started with {saved.get('world', 1)} processes, now {d.world}: batches differ from an uninterrupted run")

    # weights: the encoder from the store, the decoder from the checkpoint, --init or scratch
    if store.weights(fixed["vgg"]) is None:
        _load_vgg(store, fixed["vgg"])  # raises the missing-weights error before any slow work
    contents = scan_images(content_dir, "content folder")
    styles = scan_images(style_dir, "style folder")
    vgg_record, vgg = _load_vgg(store, fixed["vgg"])
    if ckpt and ckpt["vgg"]["sha256"] != vgg_record.sha256:
        raise UserError(f"the VGG weights {fixed['vgg']!r} changed since this run started (sha256 {ckpt['vgg']['sha256'][:12]} then, {vgg_record.sha256[:12]} now)")
    tag = _source_tag(run_dir)
    present = store.weights(name)
    if present is not None and not present.source.startswith(tag + ",") and not cfg.overwrite:
        raise UserError(
            f"weights {name!r} already exist in the store (source: {present.source or 'unknown'}); "
            "choose another --name, or pass --overwrite to replace them with this run's decoder"
        )
    torch.manual_seed(fixed["seed"])
    decoder = build_decoder()
    if ckpt:
        decoder.load_state_dict(ckpt["state_dict"], strict=True)
        init_desc = ckpt.get("init", "")
        if cfg.init:
            info(f"note: --init {cfg.init} ignored: a resumed run continues from its checkpoint")
    elif cfg.init:
        state, init_desc = load_init(store, cfg.init)
        decoder.load_state_dict(state, strict=True)
        info(f"decoder initialised from {init_desc}")
    else:
        init_desc = f"random (PyTorch default init, seed {fixed['seed']})"

    info(contents.describe("content"))
    info(styles.describe("style"))

    device = d.device
    cuda = device.type == "cuda"
    amp = cuda if cfg.amp is None else cfg.amp
    if amp and not cuda:
        raise UserError("mixed precision (--amp) needs CUDA; on the CPU training runs in float32")
    if cuda:
        torch.backends.cudnn.benchmark = True
    workers = cfg.workers if cfg.workers is not None else min(4, max(1, (os.cpu_count() or 1) // d.world))

    encoder = VGGEncoder(vgg).to(device)
    decoder.to(device).train()
    model = distributed.wrap(decoder, d)
    optimizer = torch.optim.Adam(decoder.parameters(), lr=fixed["lr"])
    scaler = torch.amp.GradScaler("cuda", enabled=amp)
    if ckpt:
        optimizer.load_state_dict(ckpt["optimizer"])
        if ckpt.get("scaler"):
            scaler.load_state_dict(ckpt["scaler"])
        ckpt_io.set_rng_state(ckpt["rng"])

    common = dict(
        batch=fixed["batch"], load_size=fixed["load_size"], crop=fixed["size"], seed=fixed["seed"], start_step=start,
        rank=d.rank, world=d.world, workers=workers, pin_memory=cuda, worker_init_fn=_ignore_sigint,
    )  # fmt: skip
    content_loader = make_loader(contents, stream=CONTENT_STREAM, **common)
    style_loader = make_loader(styles, stream=STYLE_STREAM, **common)

    config = {
        **fixed, "content": str(Path(content_dir).resolve()), "style": str(Path(style_dir).resolve()),
        "name": name, "world": d.world, "iters": iters, "amp": amp, "init": init_desc,
    }  # fmt: skip
    log: RunLog | None = None
    sample_inputs = None
    distributed.barrier(d)  # every process has passed the checks before anything is written
    if d.main:
        run_dir.mkdir(parents=True, exist_ok=True)
        with atomic_output(run_dir / "config.json") as tmp:
            tmp.write_text(json.dumps({**config, "vgg_sha256": vgg_record.sha256, "run_dir": str(run_dir.resolve())}, indent=2))
        log = RunLog(run_dir, start, tensorboard=cfg.tensorboard)
        if log.tb_note:
            info(log.tb_note)
        sample_inputs = (
            fixed_samples(contents, SAMPLE_PAIRS, fixed["size"], fixed["size"]),
            fixed_samples(styles, SAMPLE_PAIRS, fixed["size"], fixed["size"]),
        )
        info(f"run folder {run_dir}; {d.world} process(es) on {device}, batch {fixed['batch']} each, {'fp16 mixed precision' if amp else 'float32'}")

    def autocast() -> Any:
        return torch.autocast(device.type, dtype=torch.float16, enabled=amp)

    last_ckpt: Path | None = None
    record: WeightsRecord | None = None

    def save(iteration: int, last_row: dict[str, float] | None) -> None:
        nonlocal last_ckpt, record
        if d.main:
            state = {k: v.detach().cpu().clone() for k, v in decoder.state_dict().items()}
            payload = {
                "iteration": iteration, "state_dict": state, "optimizer": optimizer.state_dict(),
                "scaler": scaler.state_dict() if amp else None, "rng": ckpt_io.rng_state(), "config": config,
                "vgg": {"name": fixed["vgg"], "sha256": vgg_record.sha256}, "init": init_desc, "losses": last_row or {},
            }  # fmt: skip
            last_ckpt = ckpt_io.save_checkpoint(ckpt_io.checkpoint_path(ckpt_dir, iteration), payload)
            ckpt_io.prune(ckpt_dir, cfg.keep)
            record = store.put_weights(
                name, {k: v.numpy() for k, v in state.items()}, layout=DECODER_LAYOUT, source=f"{tag}, iteration {iteration}"
            )
        distributed.barrier(d)

    def write_samples(iteration: int) -> None:
        if not d.main or sample_inputs is None:
            return
        decoder.eval()
        c, s = (t.to(device) for t in sample_inputs)
        n = min(len(c), len(s))
        with autocast():
            out = stylize_batch(encoder, decoder, c[:n], s[:n])
        decoder.train()
        grid = sample_grid(c[:n], s[:n], out)
        save_grid(run_dir / "samples" / f"iter_{iteration:07d}.png", grid)
        log.image("samples", grid, iteration)

    history: list[dict[str, float]] = []
    pending: list[torch.Tensor] = []
    failures = 0
    interrupted = False
    window = (start, time.perf_counter())
    t0 = window[1]
    bar = tqdm(total=iters, initial=start, unit="it", dynamic_ncols=True, disable=not (cfg.progress and d.main), desc="training")
    content_iter, style_iter = iter(content_loader), iter(style_loader)
    stop = _StopFlag(info) if not d.enabled else None
    try:
        if stop:
            stop.__enter__()
        for step in range(start, iters):
            lr = lr_at(fixed["lr"], fixed["lr_decay"], step)
            for group in optimizer.param_groups:
                group["lr"] = lr
            content, content_fail = next(content_iter)
            style, style_fail = next(style_iter)
            failures += int(content_fail.sum()) + int(style_fail.sum())
            content = content.to(device, non_blocking=True)
            style = style.to(device, non_blocking=True)
            with autocast():
                loss_c, loss_s = adain_losses(encoder, model, content, style)
                loss_c = fixed["content_weight"] * loss_c
                loss_s = fixed["style_weight"] * loss_s
                loss = loss_c + loss_s
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
            pending.append(torch.stack([loss.detach(), loss_c.detach(), loss_s.detach()]).float())

            it = step + 1
            stopping = bool(stop and stop.set)
            row: dict[str, float] | None = None
            if it % cfg.log_every == 0 or it == iters or stopping:
                means = distributed.mean_across(torch.stack(pending).mean(0), d).tolist()
                pending.clear()
                now = time.perf_counter()
                row = {
                    "iteration": it, "lr": lr, "loss": means[0], "loss_content": means[1], "loss_style": means[2],
                    "it_per_s": (it - window[0]) / max(now - window[1], 1e-9), "elapsed_s": now - t0, "decode_failures": failures,
                }  # fmt: skip
                window = (it, now)
                history.append(row)
                if not amp and not all(math.isfinite(v) for v in means):
                    raise UserError(f"the loss is not finite at iteration {it}; lower --lr, or resume from an earlier checkpoint")
                if log is not None:
                    log.row(row)
                bar.set_postfix(loss=f"{means[0]:.4g}", content=f"{means[1]:.4g}", style=f"{means[2]:.4g}", refresh=False)
            bar.update(1)
            if it % cfg.save_every == 0 or it == iters or stopping:
                save(it, row or (history[-1] if history else None))
            if it % cfg.sample_every == 0 or it == iters:
                write_samples(it)
            if stopping:
                interrupted = True
                break
    finally:
        if stop:
            stop.__exit__()
        bar.close()
        del content_iter, style_iter  # shuts the DataLoader workers down
        if log is not None:
            log.close()
    if failures:
        info(f"{failures} samples failed to decode during training and were replaced by the next file")
    end = history[-1]["iteration"] if history else start
    return TrainResult(run_dir=run_dir, iteration=int(end), checkpoint=last_ckpt, record=record, history=history, interrupted=interrupted)
