"""What every input gives the pipeline: its frames (RGB uint8 H x W x 3 at the size the
pipeline asks for, with presentation timestamps in the source's time base) and what is
known about it once it is open."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from .colorspace import BT709, ColorTags

RawFrame = tuple[np.ndarray, int | None, int | None]
"""(RGB uint8 HxWx3, pts or None, duration or None), times in the source's time base."""

@dataclass(frozen=True)
class SourceInfo:
    """What is known about a source once it is open (the first frame has been decoded)."""

    name: str
    width: int
    """Display width (after rotation), before any scaling."""
    height: int
    time_base: Fraction
    rate: Fraction | None
    """Nominal frames per second, where the source states one."""
    frames: int | None
    """Expected frame count (what the container states, or its duration times the rate),
    for the progress bar and the summary; containers do not always count right (an AVI's
    header may count the frames it repeats)."""
    origin: Fraction = Fraction(0)
    """Seconds subtracted from every timestamp: the common start of the kept streams."""
    end_pts: int | None = None
    """End of the video stream in ``time_base`` (last frame's end), where known."""
    colors: ColorTags = BT709
    sample_aspect_ratio: Fraction | None = None
    audio_streams: tuple[Any, ...] = ()
    """PyAV audio streams of the input that are demuxed along with the video."""
    audio_ignored: int = 0
    """Audio streams the input has but that were not asked for (``audio=False``)."""
    timed: bool = True
    """False when the source has no timestamps of its own (image sequences, raw streams):
    frame i is then at i / rate, and ``fps`` sets that rate instead of converting to it."""
    inputs: tuple[Path, ...] = field(default_factory=tuple)
    """Local files read, so the output cannot overwrite one of them."""


class Source(Protocol):
    """An open input. Iterate ``frames`` from one thread; ``close`` from the same thread."""

    info: SourceInfo
    skipped: int
    """Corrupt packets or frames skipped so far."""
    ended_early: bool
    """Once the frames are read: they stopped well before the end the source states (a
    cut-off file)."""
    decoder: str
    """What decodes the frames, for the summary: ``h264 (cpu, 3 threads)``, ``h264 (nvdec, cuda:0)``."""
    gpu_fallback: str
    """Why NVDEC was wanted and not used ("" where it was not wanted, or ran)."""
    audio_sink: Callable[[Any], None] | None
    """Called with every demuxed audio packet (from the decoding thread)."""

    def frames(self, width: int, height: int) -> Iterator[RawFrame]: ...

    def close(self) -> None: ...
