"""A folder of images or a glob pattern read as a video: natural order, a fixed frame rate."""

from __future__ import annotations

import collections
import re
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future
from fractions import Fraction
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from ..errors import UserError
from ..sizing import Size, needs_crop
from .source_types import RawFrame, SourceInfo
from .timing import as_rate

PREFETCH_FILES = 4  # files decoding ahead of the one being used
PREFETCH_THREADS = 2  # image decoders (OpenCV releases the GIL)
IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".ppm", ".pgm", ".pnm"})
_DIGITS = re.compile(r"(\d+)")


def natural_key(path: str | Path) -> tuple[Any, ...]:
    """Sort key that orders ``frame_2`` before ``frame_10`` (digit runs compare as numbers)."""
    parts = _DIGITS.split(str(path))
    return tuple((0, int(p), "") if p.isdigit() else (1, 0, p.casefold()) for p in parts)


def list_images(folder: Path) -> list[Path]:
    """Image files directly in ``folder`` (not hidden), in natural order."""
    files = [
        p for p in folder.iterdir() if p.is_file() and not p.name.startswith(".") and p.suffix.lower() in IMAGE_SUFFIXES
    ]
    return sorted(files, key=natural_key)


def _read_rgb(path: Path) -> np.ndarray | None:
    """RGB uint8 HxWx3, or None if the file does not decode. OpenCV: EXIF orientation applied."""
    data = np.fromfile(str(path), dtype=np.uint8) if path.is_file() else None
    if data is None or data.size == 0:
        return None
    bgr = cv2.imdecode(data, cv2.IMREAD_COLOR)
    if bgr is None:
        return None
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


class ImageSequence:
    """Frames from image files; frame i is at time i / fps. Unreadable files are skipped."""

    def __init__(self, files: Sequence[Path], *, fps: float | Fraction | None = None, name: str = "") -> None:
        self.files = sorted(files, key=natural_key)
        self.rate = as_rate(fps)
        self.skipped = 0
        self.ended_early = False  # every file is a frame: a missing one is not there to count
        self.decoder = f"image files (OpenCV, {PREFETCH_THREADS} threads)"
        self.gpu_fallback = ""
        self.audio_sink: Callable[[Any], None] | None = None
        self._pool: Any = None
        first = None
        self._start = 0
        for i, f in enumerate(self.files):
            first = _read_rgb(f)
            if first is not None:
                self._start = i
                break
            self.skipped += 1
        if first is None:
            raise UserError(f"none of the {len(self.files)} files of {name or 'the sequence'} is a readable image")
        self._first = first
        h, w = first.shape[:2]
        self.info = SourceInfo(
            name=name,
            width=w,
            height=h,
            time_base=1 / self.rate,
            rate=self.rate,
            frames=len(self.files) - self._start,
            origin=Fraction(self._start) / self.rate,
            end_pts=len(self.files),
            timed=False,
            inputs=tuple(self.files),
        )

    def _images(self) -> Iterator[tuple[int, np.ndarray | None]]:
        """(index, RGB or None) in order; the next few files decode on worker threads meanwhile."""
        from concurrent.futures import ThreadPoolExecutor

        yield self._start, self._first
        self._first = None
        pool = ThreadPoolExecutor(max_workers=PREFETCH_THREADS, thread_name_prefix="video-imread")
        self._pool = pool
        window: collections.deque[tuple[int, Future[np.ndarray | None]]] = collections.deque()
        todo = iter(range(self._start + 1, len(self.files)))
        try:
            while True:
                while len(window) < PREFETCH_FILES:
                    i = next(todo, None)
                    if i is None:
                        break
                    window.append((i, pool.submit(_read_rgb, self.files[i])))
                if not window:
                    return
                i, future = window.popleft()
                yield i, future.result()
        finally:
            pool.shutdown(wait=False, cancel_futures=True)

    def frames(self, width: int, height: int) -> Iterator[RawFrame]:
        first_size = (self.info.width, self.info.height)
        for i, rgb in self._images():
            if rgb is None:
                self.skipped += 1
                continue
            h, w = rgb.shape[:2]
            if (w, h) != first_size:
                raise UserError(
                    f"image sequence frames differ in size: {self.files[i]} is {w}x{h}, "
                    f"{self.files[self._start]} is {first_size[0]}x{first_size[1]}"
                )
            if (w, h) != (width, height):
                if needs_crop(w, h, Size(width, height)):
                    rgb = np.ascontiguousarray(rgb[:height, :width])  # odd side: drop the last row/column
                else:
                    shrink = width * height < w * h
                    rgb = cv2.resize(rgb, (width, height), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_CUBIC)
            yield rgb, i, 1

    def close(self) -> None:
        self._first = None
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
