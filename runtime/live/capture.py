"""Camera, stream or file capture in its own thread.

Real time (cameras, streams, and files that are shown): latency comes first, so the newest
frame is handed out and a frame not taken before the next one arrives is dropped (and
counted); a file is paced at its own frame rate, so it behaves like a camera. A file that is
not shown (``realtime=False``) is read as fast as it is taken and every frame is handed
out, so ``--frames N`` records N frames. A stream that stops delivering is reopened with
back-off before giving up.

A file is read past corrupt frames, as ``video`` reads them: OpenCV's ``read()`` fails on a
frame it cannot decode and succeeds again on the next good one, so a failure before the end
the file states (its frame count over its frame rate, against the last good frame's time)
is retried, up to ``MAX_ERRORS_IN_A_ROW`` in a row, and the frames lost are counted;
``shortfall`` says in one line what was skipped or where a cut-off file ended. FFmpeg's own
messages inside OpenCV (``[h264 @ 0x...] ...``) are silenced (``OPENCV_FFMPEG_LOGLEVEL``,
read when OpenCV first opens a video, unless the user set it): that line replaces them.
"""

from __future__ import annotations

import glob
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from ..errors import UserError

MAX_ERRORS_IN_A_ROW = 64  # failed reads without a good frame between them: the end of the file
FFMPEG_QUIET = "-8"  # AV_LOG_QUIET


@dataclass
class Frame:
    bgr: np.ndarray  # uint8 HxWx3, as OpenCV delivers it
    index: int  # capture order, from 0
    t_capture: float  # time.perf_counter() when it was read
    t_source: float  # when it was shown at the source, on the perf_counter clock (recordings are timed by it)


def parse_source(source: str) -> int | str:
    """An integer camera index, else a URL or a file path."""
    return int(source) if source.isdigit() else source


def _open(source: int | str):  # noqa: ANN202 (cv2.VideoCapture)

    if isinstance(source, str) and "://" not in source:
        if not Path(source).exists():
            raise UserError(f"camera source not found: {source} (give a camera index, a URL or an existing file)")
    os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", FFMPEG_QUIET)  # before OpenCV's FFmpeg backend starts
    cap = cv2.VideoCapture(source)
    if not cap.isOpened():
        cap.release()
        if isinstance(source, int):
            devices = sorted(glob.glob("/dev/video*"))
            tried = ", ".join(devices) if devices else "no /dev/video* devices exist on this machine"
            raise UserError(f"camera {source} is not available (devices found: {tried}); try --camera N, a URL or a video file")
        raise UserError(f"cannot open {source} as a video source")
    return cap


class Capture:
    """Reads frames in a background thread; ``latest()`` waits for a frame newer than the last."""

    def __init__(self, source: int | str, *, retries: int = 5, realtime: bool = True, loop: bool = False) -> None:
        """``realtime=False`` (files only): unpaced, and no frame is dropped."""
        self.source = source
        self.retries = retries
        self.loop = loop
        self._cap = _open(source)
        self.is_file = isinstance(source, str) and "://" not in source
        fps = self._cap.get(cv2.CAP_PROP_FPS) or 0.0
        self.fps = fps if 1.0 <= fps <= 240.0 else 30.0
        count = int(self._cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0) if self.is_file else 0
        self.frame_count = count if count > 0 else None
        """The frames a file states it has (None: a camera, a stream, or a file that does not say)."""
        self._duration_ms = count * 1000.0 / fps if count > 0 and fps > 0 else None
        self._reached_ms = 0.0  # the time of the last good frame
        self.skipped = 0  # corrupt frames read past
        self.ended_early = False  # the file's frames stopped well before the end it states
        self.realtime = realtime or not self.is_file
        self._pace = 1.0 / self.fps if (self.is_file and self.realtime) else 0.0
        self.busy_s = 0.0  # seconds spent reading and decoding
        self._cond = threading.Condition()
        self._frame: Frame | None = None
        self._taken = -1
        self._stop = threading.Event()
        self.ended = False
        self.error: str | None = None
        self.read_count = 0
        self.dropped = 0
        self._thread = threading.Thread(target=self._run, name="capture", daemon=True)
        self._thread.start()

    def _reopen(self) -> bool:
        delay = 0.5
        for attempt in range(1, self.retries + 1):
            if self._stop.wait(delay):
                return False
            try:
                self._cap.release()
                self._cap = _open(self.source)
                return True
            except UserError:
                delay = min(delay * 2, 8.0)
        self.error = f"{self.source} stopped delivering frames and did not come back after {self.retries} retries"
        return False

    def _near_end(self) -> bool:
        """The last good frame is within two frame intervals or 2% of the file's stated end
        (or the file states none): a failed read there is the end, not a corrupt frame."""
        if self._duration_ms is None:
            return True
        slack = max(2000.0 / self.fps, self._duration_ms / 50)
        return self._reached_ms >= self._duration_ms - slack

    def _run(self) -> None:
        next_time = start = time.perf_counter()
        failed = 0  # reads failed since the last good frame
        while not self._stop.is_set():
            if not self.realtime and not self._wait_taken():
                break
            t0 = time.perf_counter()
            ok, bgr = self._cap.read()
            self.busy_s += time.perf_counter() - t0
            if ok and self.is_file:
                self.skipped += failed  # read past a corrupt stretch
                failed = 0
                self._reached_ms = self._cap.get(cv2.CAP_PROP_POS_MSEC)
            if not ok and self.is_file and not self._near_end():
                failed += 1
                if failed < MAX_ERRORS_IN_A_ROW:
                    continue  # a corrupt frame: read on
                self.ended_early = True
            if not ok:
                failed = 0
                if self.is_file and self.loop and self.read_count:
                    self._cap.set(cv2.CAP_PROP_POS_FRAMES, 0)
                    self._reached_ms = 0.0
                    continue
                if self.is_file or not self._reopen():
                    break
                continue
            if self._pace:
                next_time += self._pace
                delay = next_time - time.perf_counter()
                if delay > 0 and self._stop.wait(delay):
                    break
            with self._cond:
                if self._frame is not None and self._frame.index != self._taken:
                    self.dropped += 1
                now = time.perf_counter()
                t_source = now if self.realtime else start + self.read_count / self.fps
                self._frame = Frame(bgr, self.read_count, now, t_source)
                self.read_count += 1
                self._cond.notify_all()
        with self._cond:
            self.ended = True
            self._cond.notify_all()

    def _wait_taken(self) -> bool:
        """Unpaced reading: wait until the frame read last was taken; False when stopping."""
        with self._cond:
            while self._frame is not None and self._frame.index != self._taken and not self._stop.is_set():
                self._cond.wait(0.05)
        return not self._stop.is_set()

    def shortfall(self) -> str:
        """One line where the file was damaged: frames read vs stated, and why (corrupt
        frames skipped, or a file that ends early); "" where nothing was lost."""
        if not self.skipped and not self.ended_early:
            return ""
        counted = f"{self.read_count} of {self.frame_count}" if self.frame_count and not self.loop else str(self.read_count)
        why = [f"{self.skipped} corrupt frame(s) skipped"] if self.skipped else []
        why += ["the file ends early (a cut-off file?)"] if self.ended_early else []
        return f"{self.source}: {counted} frames read: {', and '.join(why)}"

    def peek(self, timeout: float = 5.0) -> Frame | None:
        """The newest frame without taking it (waits for the first); None when the source
        ended or stayed silent (see ``error``)."""
        return self._wait(lambda f: f is not None, timeout)

    def latest(self, timeout: float = 5.0) -> Frame | None:
        """The newest frame not yet taken; None when the source has ended (see ``error``)."""
        frame = self._wait(lambda f: f is not None and f.index != self._taken, timeout)
        if frame is not None:
            with self._cond:
                self._taken = frame.index
                self._cond.notify_all()
        return frame

    def _wait(self, ready: Callable[[Frame | None], bool], timeout: float) -> Frame | None:
        deadline = time.monotonic() + timeout
        with self._cond:
            while not ready(self._frame):
                if self.ended:
                    return None
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    self.error = f"no frame from {self.source} for {timeout:.0f} s"
                    return None
                self._cond.wait(remaining)
            return self._frame

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2.0)
        self._cap.release()
