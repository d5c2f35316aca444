"""Frames in, stylised frames out: the per-batch function of `stylize video` and `stylize live`.

uint8 RGB N x H x W x 3 -> stylised uint8 RGB N x H x W x 3, through the cheapest path the
engine and the options allow:

- no stabiliser, no colour preservation: the engine's bytes path (``stylize_uint8``:
  conversions on the device);
- the stabiliser with a device blender (the CUDA torch engine): the engine's frames stay on
  the GPU (``stylize_uint8_device``), are blended there and come back as bytes;
- otherwise float32 frames on the host (colour preservation, the feature-statistics state,
  engines without a bytes path), blended with OpenCV.

The stabiliser (``runtime.temporal``) keeps its state from call to call, so batches must come
in frame order (``convert_video`` and the live loop do that).
"""

from __future__ import annotations

import time

import numpy as np

from stylize.runtime.color import keep_luminance
from stylize.runtime.engine import Engine
from stylize.runtime.temporal import Stabilizer, make_stabilizer, stylize_frames


class FrameStylizer:
    """Callable: uint8 frames -> stylised uint8 frames. ``vector``, ``alpha`` and
    ``preserve_color`` may change between calls (live keys); ``set_temporal`` switches the
    stabilisation mode with a fresh state."""

    def __init__(self, engine: Engine, vector: np.ndarray, alpha: float = 1.0, preserve_color: bool = False, temporal: str = "off") -> None:
        self.engine = engine
        self.vector = vector
        self.alpha = alpha
        self.preserve_color = preserve_color
        self.engine_s = 0.0  # seconds spent in engine calls (on a GPU: until the work is queued)
        self.stabilizer: Stabilizer | None = None
        self.set_temporal(temporal)

    def set_temporal(self, mode: str) -> None:
        if self.stabilizer is not None:
            self.stabilizer.close()
        self.temporal = mode
        self.stabilizer = make_stabilizer(mode, self.engine)

    @property
    def on_device(self) -> bool:
        """True where the stabiliser blends on the engine's device."""
        return self.stabilizer is not None and not self.stabilizer.output.prepare_in_worker and hasattr(self.engine, "stylize_uint8_device")

    def __call__(self, frames: np.ndarray) -> np.ndarray:
        if self.stabilizer is None:
            if not self.preserve_color and hasattr(self.engine, "stylize_uint8"):
                return self._timed(self.engine.stylize_uint8, frames, self.vector, self.alpha)  # bytes in, bytes out
            return (self._stylize(frames, None) * 255.0 + 0.5).astype(np.uint8)
        return self.stabilizer.process(frames, self._stylize, uint8=True)

    def prefetch(self, frame: np.ndarray) -> None:
        """The next frame this will get, ahead of time (the video pipeline's decoding thread
        calls it): the stabiliser starts analysing it (``Stabilizer.prefetch``). Frames
        prefetched must come to ``__call__`` in the same order; a frame that does not match
        is analysed in line and the frames prefetched so far are dropped."""
        if self.stabilizer is not None:
            self.stabilizer.prefetch(frame)

    def _stylize(self, frames: np.ndarray, stats) -> np.ndarray:  # noqa: ANN001 (a FeatureStats, or None)
        """uint8 frames -> float frames in [0, 1]: host N x H x W x 3, or device N x 3 x H x W."""
        engine = self.engine
        if stats is None and not self.preserve_color:
            if self.on_device:
                return self._timed(engine.stylize_uint8_device, frames, self.vector, self.alpha)
            if hasattr(engine, "stylize_uint8"):
                # a frame the stabiliser leaves alone (a cut) is then exactly what --temporal off gives
                return self._timed(engine.stylize_uint8, frames, self.vector, self.alpha).astype(np.float32) * np.float32(1.0 / 255.0)
        x = frames.astype(np.float32) * np.float32(1.0 / 255.0)
        out = np.clip(self._timed(stylize_frames, engine, x, self.vector, self.alpha, stats), 0.0, 1.0)
        return keep_luminance(out, x) if self.preserve_color else out

    def _timed(self, fn, *args):  # noqa: ANN001, ANN002, ANN202
        t0 = time.perf_counter()
        try:
            return fn(*args)
        finally:
            self.engine_s += time.perf_counter() - t0

    def close(self) -> None:
        if self.stabilizer is not None:
            self.stabilizer.close()
