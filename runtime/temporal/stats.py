"""State for smoothing a model's per-frame feature statistics across frames (torch-free).

An engine that supports it (``supports_feature_stats`` true: the torch engine) takes a
``FeatureStats`` in ``stylize(..., temporal=state)``; the model then replaces each
normalisation statistic s_t it computes (AdaIN: mean/std of the content's relu4_1;
Magenta: the frame's own style vector when alpha < 1, and the mean/variance of every
conditional instance norm) by an exponential moving average
    m_t = momentum * m_{t-1} + (1 - momentum) * s_t,
taken frame by frame in batch order, restarted at every frame flagged in ``resets``.
What the model keeps in ``values`` (tensors, by name) is the model's business.

Without a state the model's forward is unchanged (bit-identical), so exported graphs and
parity tests do not see any of this. The ONNX Runtime engine does not take a state yet:
there only the flow-guided blending runs (it would need the statistics as graph inputs
and outputs).
"""

from __future__ import annotations

from typing import Any


class FeatureStats:
    def __init__(self, momentum: float, norms: bool = True, own_style: bool = True) -> None:
        if not 0.0 <= momentum < 1.0:
            raise ValueError(f"momentum must be in [0, 1), got {momentum}")
        self.momentum = momentum
        self.norms = norms  # normalisation statistics (AdaIN relu4_1, Magenta instance norms)
        self.own_style = own_style  # Magenta: the frame's own style vector (alpha < 1)
        self.values: dict[Any, Any] = {}
        self.resets: list[bool] | None = None  # per frame of the next call: restart before it

    def reset(self) -> None:
        self.values.clear()

    def restart_at(self, i: int) -> bool:
        return bool(self.resets is not None and i < len(self.resets) and self.resets[i])


def engine_takes_stats(engine: object) -> bool:
    return bool(getattr(engine, "supports_feature_stats", False))


def stylize_frames(engine: Any, frames: Any, vector: Any, alpha: float, stats: FeatureStats | None) -> Any:
    """``engine.stylize``, with the statistics state where there is one and the engine takes it."""
    if stats is not None and engine_takes_stats(engine):
        return engine.stylize(frames, vector, alpha, temporal=stats)
    return engine.stylize(frames, vector, alpha)
