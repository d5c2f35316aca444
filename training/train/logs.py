"""Run logs: a CSV file always, TensorBoard where the ``tensorboard`` package is installed,
and sample grids (content | style | output, one row per pair)."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np
import torch

from stylize.runtime.files import atomic_output
from stylize.runtime.images import save_image

COLUMNS = ("iteration", "lr", "loss", "loss_content", "loss_style", "it_per_s", "elapsed_s", "decode_failures")


class RunLog:
    """``log.csv`` in the run folder, one row per logged iteration, flushed as written.

    On resume the rows after the checkpoint's iteration are dropped (rewritten atomically),
    so the file reads as one uninterrupted run.
    """

    def __init__(self, run_dir: Path, start_iteration: int, tensorboard: bool = True, columns: tuple[str, ...] = COLUMNS) -> None:
        """``columns``: the CSV's (each training command logs its own losses)."""
        self.path = run_dir / "log.csv"
        self.columns = columns
        kept = _rows_up_to(self.path, start_iteration, columns)
        with atomic_output(self.path) as tmp:
            with open(tmp, "w", newline="") as f:
                w = csv.DictWriter(f, fieldnames=columns)
                w.writeheader()
                w.writerows(kept)
        self._file = open(self.path, "a", newline="")  # noqa: SIM115 - kept open for the run
        self._csv = csv.DictWriter(self._file, fieldnames=columns)
        self.tb = None
        self.tb_note = ""
        if tensorboard:
            try:
                import tensorboard  # noqa: F401 - torch.utils.tensorboard needs it
                from torch.utils.tensorboard import SummaryWriter

                self.tb = SummaryWriter(log_dir=str(run_dir / "tensorboard"), purge_step=start_iteration + 1)
            except ImportError:
                self.tb_note = "TensorBoard logs skipped (pip install tensorboard to get them); the CSV log is written"

    def row(self, values: dict[str, float]) -> None:
        self._csv.writerow({k: values.get(k, "") for k in self.columns})
        self._file.flush()
        if self.tb is not None:
            step = int(values["iteration"])
            for key in self.columns:
                if (key.startswith("loss") or key in ("lr", "it_per_s")) and key in values:
                    self.tb.add_scalar(key, values[key], step)

    def image(self, tag: str, grid: np.ndarray, step: int) -> None:
        if self.tb is not None:
            self.tb.add_image(tag, grid, step, dataformats="HWC")

    def close(self) -> None:
        self._file.close()
        if self.tb is not None:
            self.tb.close()


def _rows_up_to(path: Path, iteration: int, columns: tuple[str, ...] = COLUMNS) -> list[dict[str, str]]:
    if not path.is_file() or iteration <= 0:
        return []
    rows = []
    with open(path, newline="") as f:
        for row in csv.DictReader(io.StringIO(f.read())):
            try:
                if int(row["iteration"]) <= iteration and None not in row.values():
                    rows.append({k: row.get(k, "") for k in columns})
            except (KeyError, TypeError, ValueError):
                continue  # a line cut short by a crash
    return rows


def read_log(path: Path) -> list[dict[str, float]]:
    with open(path, newline="") as f:
        return [{k: float(v) for k, v in row.items() if v not in ("", None)} for row in csv.DictReader(f)]


def sample_grid(content: torch.Tensor, style: torch.Tensor, output: torch.Tensor, gap: int = 2) -> np.ndarray:
    """HxWx3 float image: one row per pair, columns content | style | output, white gaps."""
    rows = []
    for c, s, o in zip(content, style, output):
        tiles = [t.detach().float().clamp(0, 1).permute(1, 2, 0).cpu().numpy() for t in (c, s, o)]
        h = tiles[0].shape[0]
        sep = np.ones((h, gap, 3), np.float32)
        rows.append(np.concatenate([tiles[0], sep, tiles[1], sep, tiles[2]], axis=1))
    sep = np.ones((gap, rows[0].shape[1], 3), np.float32)
    out = [rows[0]]
    for r in rows[1:]:
        out += [sep, r]
    return np.concatenate(out, axis=0)


def save_grid(path: Path, grid: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    return save_image(path, grid)
