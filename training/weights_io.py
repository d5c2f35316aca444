"""Reading weights files of every supported format into the store.

``.pth``/``.pt`` (torch state dicts, loaded with ``weights_only=True``; pytorch/examples'
fast_neural_style networks among them), ``.safetensors`` and Magenta's ``.tflite`` are
recognised by their layout, checked key by key and shape by
shape (training/layouts.py), and written into the store as float32 safetensors. Only a
``.pth`` needs PyTorch (imported when one is read), so a torch-free install imports the
other two.
"""

from __future__ import annotations

import os
import pickle
import re
from pathlib import Path

import numpy as np
from safetensors.numpy import load_file

from stylize.runtime.errors import UserError
from stylize.runtime.store import WEIGHT_SUFFIXES, Store, WeightsRecord, sha256_file
from stylize.training.layouts import DEFAULT_NAMES, LAYOUTS, check_layout, closest_layout, identify_layout, without_ignored

SUFFIXES = WEIGHT_SUFFIXES


def read_weights_file(path: str | os.PathLike[str]) -> tuple[str, dict[str, np.ndarray]]:
    """(layout, tensors) of a weights file; UserError when it is not one we know."""
    p = Path(path)
    if not p.exists():
        raise UserError(f"weights file not found: {p}")
    if p.is_dir():
        raise UserError(f"weights path is a folder, expected a file: {p}")
    if p.stat().st_size == 0:
        raise UserError(f"weights file is empty: {p}")
    suffix = p.suffix.lower()
    if suffix == ".tflite":
        from stylize.training.magenta.tflite_import import read_tflite

        return read_tflite(p)
    if suffix in (".pth", ".pt"):
        tensors = _read_torch(p)
    elif suffix == ".safetensors":
        tensors = _read_safetensors(p)
    else:
        raise UserError(f"unknown weights format {suffix!r} for {p}: expected one of {', '.join(SUFFIXES)}")
    tensors = without_ignored(tensors)  # pytorch/examples' old instance-norm statistics
    shapes = {k: tuple(v.shape) for k, v in tensors.items()}
    layout = identify_layout(shapes)
    if layout is None:
        best, shared = closest_layout(shapes)
        if shared == 0:
            raise UserError(f"{p} is not a known weights layout (expected one of: {', '.join(LAYOUTS)})")
        problems = check_layout(best, shapes)
        raise UserError(f"{p} does not match layout {best}: {problems[0]}" + (f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""))
    problems = check_layout(layout, shapes)
    if problems:
        raise UserError(f"{p} does not match layout {layout}: {problems[0]}" + (f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""))
    return layout, tensors


def _read_torch(p: Path) -> dict[str, np.ndarray]:
    try:
        import torch
    except ImportError:
        raise UserError(f"reading {p.suffix} files needs PyTorch: pip install 'stylize[train]'") from None
    try:
        obj = torch.load(p, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:  # torch's weights-only loader met an object that is not a tensor
        raise UserError(
            f"{p} holds Python objects besides tensors, which could run code when loaded, so it is not read; "
            "give a state dict of tensors (torch.save(model.state_dict(), FILE)) or a .safetensors file"
        ) from None
    except Exception as e:  # zip and torch errors alike: the file is not a state dict
        raise UserError(f"cannot read {p} as a PyTorch weights file: {str(e).splitlines()[0]}") from None
    if isinstance(obj, dict) and "state_dict" in obj and isinstance(obj["state_dict"], dict):
        obj = obj["state_dict"]
    if not isinstance(obj, dict) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise UserError(f"{p} does not hold a state dict of tensors")
    return {k: v.detach().float().numpy() for k, v in obj.items()}


def _read_safetensors(p: Path) -> dict[str, np.ndarray]:
    try:
        return {k: v.astype(np.float32) for k, v in load_file(str(p)).items()}
    except Exception as e:  # safetensors raises its own error types for damaged headers
        raise UserError(f"cannot read {p} as safetensors: {e}") from None


def default_name(layout: str, path: str | os.PathLike[str]) -> str:
    """The store name an import gives: the layout's (``adain-decoder``, ...); a per-style
    johnson network is named after its file (``mosaic.pth`` -> ``mosaic``), since each one
    is a style of its own."""
    if layout != "johnson":
        return DEFAULT_NAMES[layout]
    stem = re.sub(r"[^A-Za-z0-9._-]+", "-", Path(path).stem).strip("-._")[:64]
    return stem if stem and stem[0].isalnum() else "johnson"


def import_weights(store: Store, path: str | os.PathLike[str], name: str | None = None) -> WeightsRecord:
    layout, tensors = read_weights_file(path)
    return store.put_weights(
        name or default_name(layout, path),
        tensors,
        layout=layout,
        source=str(Path(path).resolve()),
        source_sha256=sha256_file(path),
    )
