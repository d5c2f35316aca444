"""One interface for every model family and backend, and the style cache in front of it.

Every model is two graphs (DESIGN.md section 2): ``encode_style`` (once per style) and
``stylize`` (per frame). Frames are float32 RGB in [0, 1], NHWC.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np

from stylize.runtime.models import ModelWeights, prepare_style
from stylize.runtime.store import Store, sha256_array


class Engine(Protocol):
    backend: str
    weights: ModelWeights

    def encode_style(self, style: np.ndarray) -> np.ndarray:
        """Prepared style image (HxWx3) -> style vector."""
        ...

    def stylize(self, frames: np.ndarray, style: np.ndarray, alpha: float = 1.0) -> np.ndarray:
        """Frames (NxHxWx3) with one style vector -> stylised frames of the same shape."""
        ...


class StyleCache:
    """Style vectors in memory and on disk, keyed by (model weights, prepared image pixels).

    A style is encoded once per run at most, and once ever per image and weights.
    """

    def __init__(self, engine: Engine, store: Store | None, style_size: int | None = None) -> None:
        self.engine = engine
        self.store = store
        self.style_size = style_size
        self._memory: dict[str, np.ndarray] = {}
        self.encoded = 0  # how many times the engine actually ran (tests and benchmarks read this)

    def vector(self, style_rgb: np.ndarray) -> np.ndarray:
        family = self.engine.weights.family
        prepared = prepare_style(family, style_rgb, self.style_size)
        key = sha256_array(prepared)
        if key in self._memory:
            return self._memory[key]
        model_id = self.engine.weights.model_id
        vec = self.store.load_style_vector(model_id, key) if self.store else None
        if vec is None:
            vec = np.asarray(self.engine.encode_style(prepared), dtype=np.float32)
            self.encoded += 1
            if self.store:
                self.store.save_style_vector(model_id, key, vec)
        self._memory[key] = vec
        return vec
