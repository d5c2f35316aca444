"""The loop every training command shares (``stylize train``, ``stylize train-style``): steps,
log rows, checkpoints, sample grids, Ctrl-C and a time limit.

A trainer subclasses ``TrainingLoop`` and gives what differs between models: ``batches()``
(an iterator of what one step takes), ``step(step, batch)`` (one optimisation step:
the learning rate, the losses named by ``LOSSES`` as one tensor, decode failures),
``save(iteration, row)`` and ``write_samples(iteration)``. The loop logs the mean losses of
every ``log_every`` window (across processes under DDP), stops on a loss that is not finite,
saves every ``save_every`` iterations, at the end and when stopped, and writes samples every
``sample_every``. The first Ctrl-C, or the time limit (``max_seconds``), stops after the
current iteration with a checkpoint, so ``--resume`` continues exactly.
"""

from __future__ import annotations

import json
import math
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from tqdm import tqdm

from stylize.runtime.errors import UserError
from stylize.runtime.files import atomic_output
from stylize.runtime.store import Store, WeightsRecord
from stylize.training.train import checkpoint as ckpt_io
from stylize.training.train import distributed
from stylize.training.train.logs import COLUMNS, RunLog


@dataclass(kw_only=True)
class SessionOptions:
    """What a run's settings leave free to change from one session to the next, the same for
    every training command (``stylize train``, ``stylize train-style``)."""

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


def session_checks(opts: SessionOptions) -> list[tuple[bool, str]]:
    """(holds, the one line if not) for ``SessionOptions``, beside each command's own checks."""
    return [
        (opts.save_every >= 1 and opts.sample_every >= 1 and opts.log_every >= 1, "--save-every, --sample-every and --log-every must be at least 1"),
        (opts.keep >= 0, "--keep must be 0 (keep all) or more"),
        (opts.workers is None or opts.workers >= 0, "--workers must not be negative"),
    ]


@dataclass
class TrainResult:
    run_dir: Path
    iteration: int
    checkpoint: Path | None
    record: WeightsRecord | None
    history: list[dict[str, float]] = field(default_factory=list)
    interrupted: bool = False
    out_of_time: bool = False  # stopped by the time limit (with a checkpoint), not by Ctrl-C


def lr_at(lr: float, lr_decay: float, step: int) -> float:
    """pytorch-AdaIN's adjust_learning_rate: lr / (1 + lr_decay * iteration), 0-based."""
    return lr / (1.0 + lr_decay * step)


def resolve_fixed(given: Mapping[str, Any], saved: Mapping[str, Any] | None, defaults: Mapping[str, Any], flags: Mapping[str, str]) -> dict[str, Any]:
    """The settings that shape the optimisation: a new run takes ``given`` (None: the default),
    a resumed one its checkpoint's (``saved``), refusing a different value given for one.
    ``flags`` names a setting's command-line flag where it is not ``--name-with-dashes``."""
    values: dict[str, Any] = {}
    conflicts = []
    for key, default in defaults.items():
        value = given.get(key)
        if saved is None:
            values[key] = default if value is None else value
        else:
            values[key] = saved[key]
            if value is not None and value != saved[key]:
                conflicts.append(f"{flags.get(key, '--' + key.replace('_', '-'))} {value} (the run has {saved[key]})")
    if conflicts:
        raise UserError("a resumed run keeps its settings; drop or fix " + ", ".join(conflicts))
    return values


class StopFlag:
    """First Ctrl-C: finish the iteration, save a checkpoint, stop. Second: abort at once."""

    def __init__(self, say: Callable[[str], None]) -> None:
        self.set = False
        self._say = say
        self._previous: Any = None

    def __enter__(self) -> StopFlag:
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


def ignore_sigint(_worker_id: int) -> None:
    """DataLoader workers leave Ctrl-C to the main process, which stops cleanly."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


class TrainingLoop:
    """The loop of ``run``; see the module docstring for what a subclass provides."""

    LOSSES: tuple[str, ...] = ("loss",)  # the log columns of the tensor ``step`` returns, in order
    cfg: Any  # save_every, sample_every, log_every, progress
    d: distributed.Dist
    iters: int
    start: int
    amp: bool
    run_dir: Path
    log: RunLog | None = None
    last_ckpt: Path | None = None
    record: WeightsRecord | None = None
    max_seconds: float | None = None  # stop (with a checkpoint) once this much time has passed

    def info(self, message: str) -> None:
        raise NotImplementedError

    def locate(self, store: Store, name: str, run_dir: str | None, resume: str | None, fmt: str = ckpt_io.FORMAT) -> None:
        """Where the run lives (``run_dir``, default ``STORE/runs/NAME``) and the checkpoint it
        resumes from (``resume``: "latest" or a file; ``self.ckpt`` None for a new run); a new
        run refuses a folder that has checkpoints already."""
        self.name = store.check_name(name)
        self.run_dir = Path(run_dir).expanduser() if run_dir else store.root / "runs" / self.name
        self.ckpt_dir = self.run_dir / "checkpoints"
        existing = ckpt_io.list_checkpoints(self.ckpt_dir)
        self.ckpt: dict[str, Any] | None = None
        if resume:
            if resume == "latest":
                if not existing:
                    raise UserError(f"nothing to resume: no checkpoints in {self.ckpt_dir}")
                resume_path = existing[-1][1]
            else:
                resume_path = Path(resume).expanduser()
            self.ckpt = ckpt_io.load_checkpoint(resume_path, fmt)
            self.info(f"resuming from {resume_path} (iteration {self.ckpt['iteration']})")
        elif existing:
            raise UserError(
                f"run folder {self.run_dir} already has checkpoints (latest: iteration {existing[-1][0]}); "
                "pass --resume to continue that run, or choose another --name or --run-dir"
            )

    def begin_at(self, saved: Mapping[str, Any] | None) -> None:
        """``self.start``: the checkpoint's iteration (0 for a new run), refused where it is at
        ``self.iters`` already; a note where the run resumes with another number of processes."""
        self.start = int(self.ckpt["iteration"]) if self.ckpt else 0
        if self.start >= self.iters:
            raise UserError(f"the checkpoint is at iteration {self.start} already; pass a larger --iters to train further")
        if saved and saved.get("world", 1) != self.d.world:
            self.info(f"note: the run was started with {saved.get('world', 1)} processes, now {self.d.world}: batches differ from an uninterrupted run")

    def claim_name(self, store: Store, command: str, what: str, overwrite: bool) -> None:
        """``self.tag`` (the source of the weights this run writes: the command and the run
        folder); weights of the same name that another run wrote are refused unless ``overwrite``."""
        self.tag = f"{command}, run {self.run_dir.resolve()}"
        present = store.weights(self.name)
        if present is not None and not present.source.startswith(self.tag + ",") and not overwrite:
            raise UserError(
                f"weights {self.name!r} already exist in the store (source: {present.source or 'unknown'}); "
                f"choose another --name, or pass --overwrite to replace them with this run's {what}"
            )

    def start_log(self, config: dict[str, Any], tensorboard: bool, columns: tuple[str, ...] = COLUMNS) -> None:
        """The run folder with its ``config.json``, and the log from ``self.start`` on."""
        self.run_dir.mkdir(parents=True, exist_ok=True)
        with atomic_output(self.run_dir / "config.json") as tmp:
            tmp.write_text(json.dumps({**config, "run_dir": str(self.run_dir.resolve())}, indent=2))
        self.log = RunLog(self.run_dir, self.start, tensorboard=tensorboard, columns=columns)
        if self.log.tb_note:
            self.info(self.log.tb_note)

    def optimise(self, module: torch.nn.Module, lr: float) -> int:
        """Make ``module`` the one trained: on the device, wrapped for DDP (``self.model``), with
        Adam (``self.optimizer``) and the AMP scaler (``self.scaler``; ``cfg.amp`` None: AMP on
        CUDA), their states and the random state restored from ``self.ckpt`` when resuming.
        Returns the data loader's worker count (``cfg.workers``, else up to 4 per process)."""
        cfg, d = self.cfg, self.d
        cuda = d.device.type == "cuda"
        self.amp = cuda if cfg.amp is None else cfg.amp
        if self.amp and not cuda:
            raise UserError("mixed precision (--amp) needs CUDA; on the CPU training runs in float32")
        if cuda:
            torch.backends.cudnn.benchmark = True
        module.to(d.device).train()
        self.model = distributed.wrap(module, d)
        self.optimizer = torch.optim.Adam(module.parameters(), lr=lr)
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.amp)
        ckpt = getattr(self, "ckpt", None)
        if ckpt:
            self.optimizer.load_state_dict(ckpt["optimizer"])
            if ckpt.get("scaler"):
                self.scaler.load_state_dict(ckpt["scaler"])
            ckpt_io.set_rng_state(ckpt["rng"])
        return cfg.workers if cfg.workers is not None else min(4, max(1, (os.cpu_count() or 1) // d.world))

    def batches(self) -> Iterator[Any]:
        raise NotImplementedError

    def step(self, step: int, batch: Any) -> tuple[float, torch.Tensor, int]:
        raise NotImplementedError

    def save(self, iteration: int, last_row: dict[str, float] | None) -> None:
        raise NotImplementedError

    def write_samples(self, iteration: int) -> None:
        raise NotImplementedError

    def _out_of_time(self, t0: float) -> bool:
        """The time limit; under DDP, one process past it stops all at the same step."""
        late = torch.tensor([float(self.max_seconds is not None and time.perf_counter() - t0 >= self.max_seconds)])
        return bool(distributed.mean_across(late, self.d).item() > 0) if self.max_seconds is not None else False

    def run(self) -> TrainResult:
        cfg, d, iters, start = self.cfg, self.d, self.iters, self.start
        history: list[dict[str, float]] = []
        pending: list[torch.Tensor] = []
        failures = 0
        interrupted = out_of_time = False
        window = (start, time.perf_counter())
        t0 = window[1]
        bar = tqdm(total=iters, initial=start, unit="it", dynamic_ncols=True, disable=not (cfg.progress and d.main), desc="training")
        batches = self.batches()
        stop = StopFlag(self.info) if not d.enabled else None
        try:
            if stop:
                stop.__enter__()
            for step in range(start, iters):
                lr, losses, failed = self.step(step, next(batches))
                failures += failed
                pending.append(losses)
                it = step + 1
                out_of_time = self._out_of_time(t0)
                stopping = bool(stop and stop.set) or out_of_time
                row: dict[str, float] | None = None
                if it % cfg.log_every == 0 or it == iters or stopping:
                    means = distributed.mean_across(torch.stack(pending).mean(0), d).tolist()
                    pending.clear()
                    now = time.perf_counter()
                    row = {
                        "iteration": it, "lr": lr, **dict(zip(self.LOSSES, means)),
                        "it_per_s": (it - window[0]) / max(now - window[1], 1e-9), "elapsed_s": now - t0, "decode_failures": failures,
                    }  # fmt: skip
                    window = (it, now)
                    history.append(row)
                    if not self.amp and not all(math.isfinite(v) for v in means):
                        raise UserError(f"the loss is not finite at iteration {it}; lower --lr, or resume from an earlier checkpoint")
                    if self.log is not None:
                        self.log.row(row)
                    bar.set_postfix({name.removeprefix("loss_"): f"{v:.4g}" for name, v in zip(self.LOSSES, means)}, refresh=False)
                bar.update(1)
                if it % cfg.save_every == 0 or it == iters or stopping:
                    self.save(it, row or (history[-1] if history else None))
                if it % cfg.sample_every == 0 or it == iters or out_of_time:
                    self.write_samples(it)
                if stopping:
                    interrupted = not out_of_time
                    if out_of_time:
                        self.info(f"time limit reached at iteration {it}: checkpoint saved")
                    break
        finally:
            if stop:
                stop.__exit__()
            bar.close()
            del batches  # shuts the DataLoader workers down
            if self.log is not None:
                self.log.close()
        if failures:
            self.info(f"{failures} samples failed to decode during training and were replaced by the next file")
        end = history[-1]["iteration"] if history else start
        return TrainResult(self.run_dir, int(end), self.last_ckpt, self.record, history=history, interrupted=interrupted, out_of_time=out_of_time)
