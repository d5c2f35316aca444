"""Engines: the same two graphs run by PyTorch, ONNX Runtime or TensorRT."""

from __future__ import annotations

import importlib.util
import logging

from ..engine import Engine
from ..errors import UserError
from ..models import ModelWeights
from ..store import Store

BACKENDS = ("auto", "torch", "onnxruntime")
log = logging.getLogger(__name__)


def choose_backend(store: Store, weights: ModelWeights, device: str = "auto") -> tuple[str, str]:
    """``--backend auto``: (backend, why), from what is installed and what was measured.

    On an NVIDIA GPU the torch engine (FP16, channels-last, compiled) is the fastest one
    measured; on a CPU the ONNX Runtime engine runs the exported graphs faster than PyTorch
    (benchmarks/README.md), so it is chosen where the graphs were exported.
    """
    has_torch = importlib.util.find_spec("torch") is not None
    exported = (store.graph_folder(weights.model_id, "fp32") / "stylizer.onnx").is_file()
    if has_torch and device != "cpu":
        import torch

        if torch.cuda.is_available():
            return "torch", f"CUDA GPU ({torch.cuda.get_device_name(0)}): compiled torch FP16 is the fastest engine there"
    if exported:
        return "onnxruntime", "exported ONNX graphs found: ONNX Runtime is faster than PyTorch on the CPU"
    if has_torch:
        return "torch", f"no exported graphs (run `stylize export --model {weights.family}` for the faster ONNX Runtime engine)"
    return "onnxruntime", "PyTorch is not installed"


def open_engine(store: Store, weights: ModelWeights, backend: str = "auto", device: str = "auto") -> Engine:
    """Build the engine for ``weights`` on ``backend`` (``auto``: see ``choose_backend``,
    whose reason is logged)."""
    if backend == "auto":
        backend, why = choose_backend(store, weights, device)
        log.info("backend %s: %s", backend, why)
    if backend == "torch":
        if importlib.util.find_spec("torch") is None:
            raise UserError("the torch backend needs PyTorch: pip install 'stylize[train]'")
        from .torch_backend import TorchEngine

        return TorchEngine(store, weights, device=device)
    if backend == "onnxruntime":
        from .onnxruntime_backend import OnnxRuntimeEngine

        return OnnxRuntimeEngine(store, weights, device=device)
    raise UserError(f"unknown backend {backend!r}: choose one of {', '.join(BACKENDS)}")
