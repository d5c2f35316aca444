"""What every input gives the pipeline, and how a source string becomes one.

Inputs: any file FFmpeg reads, a network URL FFmpeg opens, a folder of images or a glob
pattern (an image sequence). Frames come out as RGB uint8 HxWx3 arrays at the size the
pipeline asks for, with presentation timestamps in the source's time base.
"""

from __future__ import annotations

import glob as globlib
import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from stylize.runtime.errors import UserError
from stylize.runtime.video.colorspace import BT709, ColorTags

RawFrame = tuple[np.ndarray, int | None, int | None]
"""(RGB uint8 HxWx3, pts or None, duration or None), times in the source's time base."""

_URL_RE = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
_GLOB_CHARS = re.compile(r"[*?\[]")


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
    """Expected frame count, for the progress bar only."""
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
    audio_sink: Callable[[Any], None] | None
    """Called with every demuxed audio packet (from the decoding thread)."""

    def frames(self, width: int, height: int) -> Iterator[RawFrame]: ...

    def close(self) -> None: ...


def is_url(source: str) -> bool:
    return bool(_URL_RE.match(source)) and not source.lower().startswith("file://")


def open_source(source: str | os.PathLike[str], *, fps: float | Fraction | None = None, audio: bool = True) -> Source:
    """Open ``source``: a video file or URL (PyAV), a folder of images or a glob pattern.

    ``fps`` is the frame rate of a source without timestamps (an image sequence or a
    raw stream; default: the stream's own, else 25); ``audio`` demuxes the
    audio streams too (their packets go to ``audio_sink``). UserError for anything a user
    can fix: a missing file, an empty folder, a file that is not a video.
    """
    from stylize.runtime.video.ffmpeg_input import FFmpegSource
    from stylize.runtime.video.image_sequence import ImageSequence, list_images

    text = os.fspath(source)
    if is_url(text):
        return FFmpegSource(text, url=True, audio=audio, fps=fps)
    if text.lower().startswith("file://"):
        text = text[len("file://") :]
    path = Path(text)
    if path.is_dir():
        files = list_images(path)
        if not files:
            raise UserError(f"no images in folder: {path}")
        return ImageSequence(files, fps=fps, name=str(path))
    if path.exists():
        if path.stat().st_size == 0:
            raise UserError(f"input is an empty file: {path}")
        return FFmpegSource(text, url=False, audio=audio, fps=fps)
    if _GLOB_CHARS.search(text):
        matches = [Path(p) for p in globlib.glob(text, recursive=True) if Path(p).is_file()]
        if not matches:
            raise UserError(f"no files match: {text}")
        return ImageSequence(matches, fps=fps, name=text)
    raise UserError(f"input not found: {text}")
