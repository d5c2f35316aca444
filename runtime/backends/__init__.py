"""Engines: the same two graphs run by PyTorch, ONNX Runtime or TensorRT."""

from __future__ import annotations

from runtime.engine import Engine
from runtime.errors import UserError
from runtime.models import ModelWeights
from runtime.store import Store

BACKENDS = ("auto", "torch")


def open_engine(store: Store, weights: ModelWeights, backend: str = "auto", device: str = "auto") -> Engine:
    """Build the engine for ``weights`` on ``backend`` (``auto``: the best one available)."""
    if backend in ("auto", "torch"):
        try:
            from runtime.backends.torch_backend import TorchEngine
        except ImportError as e:
            raise UserError(f"the torch backend needs PyTorch: pip install 'stylize[train]' ({e})") from None
        return TorchEngine(store, weights, device=device)
    raise UserError(f"unknown backend {backend!r}: choose one of {', '.join(BACKENDS)}")
