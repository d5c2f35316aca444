"""Frames of any input as (RGB array, seconds): for metrics, previews and benchmarks."""

from __future__ import annotations

import os
from collections.abc import Iterator
from fractions import Fraction

import numpy as np

from ..sizing import scaled
from .source import open_source


def iter_frames(
    source: str | os.PathLike[str], *, size: int | None = None, fps: float | Fraction | None = None
) -> Iterator[tuple[np.ndarray, float]]:
    """Yield (RGB uint8 HxWx3, presentation time in seconds from the start) for every frame.

    ``size`` scales the shorter side (no even rounding here); ``fps`` is the rate of a
    source without timestamps (image sequences: default 25). Frames keep the source's own
    timestamps, unadjusted; corrupt ones are skipped.
    """
    src = open_source(source, fps=fps, audio=False)
    try:
        info = src.info
        width, height = scaled(info.width, info.height, size)
        last = None
        for rgb, pts, _ in src.frames(width, height):
            t = float(pts * info.time_base - info.origin) if pts is not None else (last or 0.0)
            last = t
            yield rgb, t
    finally:
        src.close()
