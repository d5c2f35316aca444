"""Style vectors in memory and on disk, so a style is encoded once per run at most, and once
ever per style image and weights."""

from __future__ import annotations

import numpy as np

from .engine import Engine
from .models import prepare_style
from .store import Store, sha256_array


class StyleCache:
    """Keyed by (the weights' model id, the prepared style image's pixels)."""

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
