"""Style vectors in memory and on disk, so a style is encoded once per run at most, and once
ever per style image and weights."""

from __future__ import annotations

import logging

import numpy as np

from .engine import Engine
from .errors import UserError
from .models import FAMILIES, prepare_style
from .store import Store, sha256_array

log = logging.getLogger(__name__)


class StyleCache:
    """Keyed by (the weights' model id, the prepared style image's pixels). The model id
    derives from the digests of the weights' tensors, so other weights never share an
    entry; an entry of the wrong shape or type, or not finite, is encoded again and
    rewritten; where the store cannot keep one, the run goes on without it (one warning)."""

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
        shape = FAMILIES[family].style_vector_shape
        vec = self.store.load_style_vector(model_id, key, shape) if self.store else None
        if vec is None:
            vec = np.asarray(self.engine.encode_style(prepared), dtype=np.float32)
            self.encoded += 1
            if self.store and np.isfinite(vec).all():
                self._save(model_id, key, vec)
        self._memory[key] = vec
        return vec

    def _save(self, model_id: str, key: str, vec: np.ndarray) -> None:
        assert self.store is not None
        try:
            self.store.save_style_vector(model_id, key, vec)
        except (OSError, UserError) as e:
            reason = e.strerror if isinstance(e, OSError) and e.strerror else str(e)
            folder = self.store.style_vector_path(model_id, key).parent
            log.warning("style vectors cannot be cached in %s (%s); going on without the cache", folder, reason)
            self.store = None  # once: the next styles of this run are not tried there
