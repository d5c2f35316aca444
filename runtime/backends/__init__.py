"""Engines: the same two graphs run by PyTorch, ONNX Runtime or TensorRT."""

from __future__ import annotations

import importlib.util

from runtime.engine import Engine
from runtime.errors import UserError
from runtime.models import ModelWeights
from runtime.store import Store

BACKENDS = ("auto", "torch", "onnxruntime")


def open_engine(store: Store, weights: ModelWeights, backend: str = "auto", device: str = "auto") -> Engine:
    """Build the engine for ``weights`` on ``backend`` (``auto``: the best one available).

    ``auto`` is the torch engine; without PyTorch installed it is the ONNX Runtime engine
    over the graphs ``stylize export`` wrote.
    """
    if backend in ("auto", "torch"):
        if importlib.util.find_spec("torch") is None:
            if backend == "auto":
                return open_engine(store, weights, "onnxruntime", device)
            raise UserError("the torch backend needs PyTorch: pip install 'stylize[train]'")
        from runtime.backends.torch_backend import TorchEngine

        return TorchEngine(store, weights, device=device)
    if backend == "onnxruntime":
        from runtime.backends.onnxruntime_backend import OnnxRuntimeEngine

        return OnnxRuntimeEngine(store, weights, device=device)
    raise UserError(f"unknown backend {backend!r}: choose one of {', '.join(BACKENDS)}")
