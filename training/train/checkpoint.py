"""Training checkpoints: the network, optimiser, grad scaler, RNG states and the run's settings.

A checkpoint is a plain ``torch.save`` dict of tensors, numbers and strings, so it loads with
``weights_only=True``. The network (AdaIN's decoder, a johnson network) sits under the key
``state_dict``: ``stylize weights import run/checkpoints/iter_0001000.pt --name NAME`` and
``stylize train --init FILE`` read a checkpoint as they read ``decoder.pth``. Written atomically.
"""

from __future__ import annotations

import random
import re
from pathlib import Path
from typing import Any

import numpy as np
import torch

from stylize.runtime.errors import UserError
from stylize.runtime.files import atomic_output

FORMAT = "stylize-adain-train/1"
_NAME_RE = re.compile(r"^iter_(\d+)\.pt$")


def checkpoint_path(folder: Path, iteration: int) -> Path:
    return folder / f"iter_{iteration:07d}.pt"


def list_checkpoints(folder: Path) -> list[tuple[int, Path]]:
    """(iteration, path) of the checkpoints in ``folder``, oldest first."""
    if not folder.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in folder.iterdir() if (m := _NAME_RE.match(p.name))]
    return sorted(found)


def rng_state() -> dict[str, Any]:
    np_state = np.random.get_state()
    state: dict[str, Any] = {
        "python": random.getstate(),
        "numpy": [np_state[0], torch.from_numpy(np_state[1].astype(np.int64)), *np_state[2:]],
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
    }
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    random.setstate(state["python"])
    name, keys, *rest = state["numpy"]
    np.random.set_state((name, keys.numpy().astype(np.uint32), *rest))
    torch.set_rng_state(state["torch"])
    cuda = state.get("cuda") or []
    if cuda and torch.cuda.is_available() and len(cuda) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(cuda)


def save_checkpoint(path: Path, payload: dict[str, Any], fmt: str = FORMAT) -> Path:
    """``fmt`` names what was trained (each training command has its own), so that one
    command never resumes another's run."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_output(path) as tmp:
        torch.save({"format": fmt, **payload}, tmp)
    return path


def load_checkpoint(path: Path, fmt: str = FORMAT) -> dict[str, Any]:
    if not path.is_file():
        raise UserError(f"checkpoint not found: {path}")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - zip, pickle and torch errors alike: not a checkpoint
        raise UserError(f"cannot read checkpoint {path}: {str(e).splitlines()[0]}") from None
    if not isinstance(ckpt, dict) or not str(ckpt.get("format", "")).startswith("stylize-"):
        raise UserError(f"{path} is not a stylize training checkpoint")
    if ckpt["format"] != fmt:
        raise UserError(f"{path} is a checkpoint of another kind of training ({ckpt['format']}, expected {fmt})")
    return ckpt


def prune(folder: Path, keep: int) -> None:
    """Keep the newest ``keep`` checkpoints (0 keeps all)."""
    if keep <= 0:
        return
    for _, path in list_checkpoints(folder)[:-keep]:
        path.unlink(missing_ok=True)
