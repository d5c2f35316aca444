"""Frames in, stylised frames out: the per-batch function of video conversion and live.

uint8 RGB N x H x W x 3 -> stylised uint8 RGB N x H x W x 3. The path is chosen once, from
the engine's ``capabilities`` and the options, whenever they change:

- no stabiliser: the engine's bytes path (``stylize_uint8``);
- the stabiliser, engine with ``device_frames`` (the CUDA torch engine): the stylised frames
  stay on the device (``stylize_uint8_device``), are blended there and come back as bytes;
- the stabiliser, any other engine: the engine's bytes, as floats, blended on the host.

Luminance-only colour preservation is applied last, to the frames that leave; the style's
colours (``style_colors``: the style's colour statistics) after it: one ``ColorTransfer``,
computed from the first stylised frame after the target is set and applied to every frame
from then on (no per-frame statistics: a video does not flicker).
Last of all, ``runtime.black.keep_black``: letterbox bars, black and flat frames are the
input's, and a fade to black stays a fade.

The stabiliser (``runtime.temporal``) keeps its state from call to call, so batches must come
in frame order (``convert_video`` and the live loop do that).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np

from .black import keep_black
from .color import ColorStats, ColorTransfer, color_stats, keep_luminance
from .engine import Engine, to_uint8
from .temporal import Stabilizer, make_stabilizer


class FrameStylizer:
    """Callable: uint8 frames -> stylised uint8 frames. ``vector``, ``alpha`` and
    ``luminance_only`` may change between calls (live keys); ``set_temporal`` switches the
    stabilisation mode with a fresh state. ``host_blend``: blend on the host even where the
    engine could blend on its device (the benchmarks compare the two)."""

    def __init__(
        self, engine: Engine, vector: np.ndarray, *, alpha: float, luminance_only: bool, temporal: str, host_blend: bool = False
    ) -> None:
        self.engine = engine
        self.host_blend = host_blend
        self.vector = vector
        self.alpha = alpha
        self.luminance_only = luminance_only
        self.style_colors: ColorStats | None = None  # set_style_colors
        self.color_transfer: ColorTransfer | None = None  # computed from the first frame after it
        self.engine_s = 0.0  # seconds spent in engine calls (on a GPU: until the work is queued)
        self.stabilizer: Stabilizer | None = None
        self.on_device = False  # True where the stabiliser blends on the engine's device
        self.set_temporal(temporal)

    def set_style_colors(self, stats: ColorStats | None) -> None:
        """Move the frames' colours to ``stats`` (the style's ``color_stats``; None: off). The
        map is computed from the next frame stylised and kept until the target changes."""
        if stats is not self.style_colors:
            self.style_colors = stats
            self.color_transfer = None

    def set_temporal(self, mode: str) -> None:
        if self.stabilizer is not None:
            self.stabilizer.close()
        device = self.engine.capabilities.device_frames and not self.host_blend
        blender = self.engine.temporal_blender() if device else None
        self.temporal = mode
        self.stabilizer = make_stabilizer(mode, blender)
        self.on_device = self.stabilizer is not None and blender is not None

    def __call__(self, frames: np.ndarray) -> np.ndarray:
        if self.stabilizer is None:
            out = self._timed(self.engine.stylize_uint8, frames, self.vector, self.alpha)
        else:
            out = self.stabilizer.process(frames, self._stylize_for_blend, uint8=True)
        if self.luminance_only:
            out = to_uint8(keep_luminance(out.astype(np.float32) / 255.0, frames.astype(np.float32) / 255.0))
        if self.style_colors is not None:
            if self.color_transfer is None:
                self.color_transfer = ColorTransfer(color_stats(out[0]), self.style_colors)
            out = self.color_transfer.apply(out)
        return keep_black(out, frames)

    def prefetch(self, frame: np.ndarray) -> None:
        """The next frame this will get, ahead of time (the video pipeline's decoding thread
        calls it): the stabiliser starts analysing it (``Stabilizer.prefetch``). Frames
        prefetched must come to ``__call__`` in the same order; a frame that does not match
        is analysed in line and the frames prefetched so far are dropped."""
        if self.stabilizer is not None:
            self.stabilizer.prefetch(frame)

    def _stylize_for_blend(self, frames: np.ndarray) -> Any:
        """uint8 frames -> stylised frames in [0, 1] where the blender works: device tensors
        N x 3 x H x W, or host float32 N x H x W x 3 made from the engine's bytes (so a frame
        the stabiliser leaves alone, at a cut, is exactly what ``--temporal off`` gives)."""
        if self.on_device:
            return self._timed(self.engine.stylize_uint8_device, frames, self.vector, self.alpha)
        return self._timed(self.engine.stylize_uint8, frames, self.vector, self.alpha).astype(np.float32) * np.float32(1.0 / 255.0)

    def _timed(self, fn: Callable[..., Any], *args: Any) -> Any:
        t0 = time.perf_counter()
        try:
            return fn(*args)
        finally:
            self.engine_s += time.perf_counter() - t0

    def close(self) -> None:
        if self.stabilizer is not None:
            self.stabilizer.close()
