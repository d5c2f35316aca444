"""Recording the live feed: frames timed by when they were captured, not by a fixed rate.

A live loop delivers frames at whatever rate the engine keeps up with; stamping them with
their capture times (milliseconds) makes the recording play back in real time.
"""

from __future__ import annotations

import os
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np

from ..files import atomic_output, write_error
from ..video.colorspace import BT709
from ..video.containers import output_format
from ..video.encoder import VideoFileWriter
from ..video.timing import Timeline

_MS = Fraction(1, 1000)


def fit(rgb: np.ndarray, width: int, height: int) -> np.ndarray:
    """``rgb`` at ``width`` x ``height``: a recording and a virtual camera keep their first
    size when the size keys change the frames'."""
    if rgb.shape[1] == width and rgb.shape[0] == height:
        return rgb
    return cv2.resize(rgb, (width, height), interpolation=cv2.INTER_LINEAR)


class Recorder:
    def __init__(self, path: str | os.PathLike[str], fps: float, crf: float = 20, preset: str = "veryfast") -> None:
        self.path = Path(path)
        self.fmt = output_format(self.path)
        if self.fmt is None:
            from ..errors import UserError

            raise UserError(f"--record needs a video file (.mp4, .mkv, ...), not a folder: {self.path}")
        self.fps, self.crf, self.preset = fps, crf, preset
        self._atomic = atomic_output(self.path)
        self._writer: VideoFileWriter | None = None
        self._timeline = Timeline(_MS, default_duration=max(1, round(1000 / fps)))
        self._t0: float | None = None
        self._last_pts = -1
        self.frames = 0

    def write(self, rgb: np.ndarray, t_capture: float) -> None:
        """One RGB uint8 frame captured at ``t_capture`` (time.perf_counter seconds); the
        first sets the size (even sides), later ones of another size are scaled to it. A full
        disk is a one-line UserError."""
        try:
            self._write(rgb, t_capture)
        except OSError as e:
            error = write_error(e, self.path)
            if error is None:
                raise
            raise error from None

    def _write(self, rgb: np.ndarray, t_capture: float) -> None:
        if self._writer is None:
            h, w = rgb.shape[:2]
            tmp = self._atomic.__enter__()
            try:
                self._writer = VideoFileWriter(
                    tmp, self.fmt, width=w - w % 2, height=h - h % 2, time_base=_MS,
                    rate=Fraction(self.fps).limit_denominator(1001), crf=self.crf, preset=self.preset, colors=BT709,
                )  # fmt: skip
            except BaseException as e:
                self._atomic.__exit__(type(e), e, e.__traceback__)  # the partial goes; a disk error as UserError
                raise
            self._t0 = t_capture
        h, w = rgb.shape[:2]
        rgb = fit(rgb[: h - h % 2, : w - w % 2], self._writer.stream.width, self._writer.stream.height)
        pts = round((t_capture - self._t0) * 1000)
        item = self._timeline.push(np.ascontiguousarray(rgb), pts)
        if item is not None:
            self._writer.write(item)
        self.frames += 1

    def close(self, ok: bool = True) -> None:
        """Finish the file (renamed into place), or drop it when ``ok`` is False. Where
        finishing fails (a full disk, a second interrupt) the partial file is removed and the
        error raised (a full disk as a one-line UserError)."""
        if self._writer is None:
            return
        if ok:
            try:
                last = self._timeline.finish()
                if last is not None:
                    self._writer.write(last)
                self._writer.finish()
            except BaseException as e:
                self._writer.abort()
                self._writer = None
                self._atomic.__exit__(type(e), e, e.__traceback__)  # removes the partial; a disk error as UserError
                raise
            self._atomic.__exit__(None, None, None)
        else:
            self._writer.abort()
            exc = KeyboardInterrupt()
            try:
                self._atomic.__exit__(type(exc), exc, None)
            except KeyboardInterrupt:
                pass
        self._writer = None
