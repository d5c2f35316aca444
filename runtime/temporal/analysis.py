"""The stabiliser's input side, in pieces that need no state, so they can run ahead in parallel.

- ``look(frame)``: one input frame reduced to what the analysis needs (a small grey frame, the
  same with its contrast equalised for the flow, its brightness, the cut-test signature);
- ``pair(previous, current)``: the flow between two consecutive looks, both ways, and the
  per-pixel trust weight;
- ``LookAhead``: both, for the frames a video pipeline has decoded but not yet stylised, in a
  thread pool (OpenCV releases the GIL). Analysing frame t needs frames t-1 and t only, so
  with k threads k frames are analysed at once; the order-dependent decisions (cut or not,
  reset or not) stay in ``Stabilizer`` and cost microseconds. Without it the analysis of a
  batch runs in one worker thread beside the engine, and a frame's analysis bounds the
  throughput of a fast (GPU) engine.
"""

from __future__ import annotations

import threading
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from ..cores import cpu_cores
from .cuts import Signature, signature
from .flow import FlowEstimator, fb_error, shrink, to_gray
from .trust import trust


@dataclass(frozen=True)
class Look:
    shape: tuple[int, ...]  # the input frame's shape
    gray: np.ndarray  # uint8, shorter side ``flow_side``
    sig: Signature  # the cut test's
    flow_gray: np.ndarray  # what the flow sees: ``gray`` with its local contrast equalised (``contrast``)
    level: float  # 99th percentile of ``gray``: a black frame is below ``runtime.black.DARK_LO``


@dataclass(frozen=True)
class Pair:
    back: np.ndarray  # flow(current, previous) at the looks' resolution
    weight: np.ndarray  # trust in [0, 1], H x W at the looks' resolution
    trusted: float  # fraction of pixels with any trust
    gain: float  # median brightness ratio current / previous (``runtime.temporal.trust``)


def flow_side(shape: tuple[int, ...], limit: int) -> int:
    """Shorter side of the frames the flow is computed on: ``limit``, or 3/4 of a smaller
    frame, but not below 96. Small frames are where the analysis is dearest next to the
    engine; below 96 the warping error grew (the tuning runs behind ``benchmarks/README.md``).
    """
    short = min(shape[0], shape[1])
    return min(limit, max(96, short * 3 // 4))


def look(frame: np.ndarray, settings: Any) -> Look:
    """An input frame (RGB, uint8 or float in [0, 1]) -> its Look."""
    small = shrink(frame, flow_side(frame.shape, settings.flow_side))
    gray = to_gray(small)
    return Look(frame.shape, gray, signature(small), contrast(gray, settings.flow_contrast), percentile(gray, 99.0))


def contrast(gray: np.ndarray, clip: float) -> np.ndarray:
    """``gray`` with its local contrast equalised (CLAHE, 4 x 4 tiles, clip limit ``clip``; 0:
    unchanged), for the flow: Farneback finds little to follow in fog, haze, a pale sky or a
    dark scene, and drifts to no motion there, so a fast pan over them smears the painted
    texture along the motion. Equalised, those regions show their faint structure, and a
    global brightness change (flicker, a fade) changes the flow's input little."""
    if clip <= 0:
        return gray
    return cv2.createCLAHE(clipLimit=clip, tileGridSize=(4, 4)).apply(gray)


def percentile(gray: np.ndarray, q: float) -> float:
    """The ``q``-th percentile of a uint8 image, from its histogram."""
    counts = np.cumsum(np.bincount(gray.ravel(), minlength=256))
    return float(np.searchsorted(counts, q / 100.0 * counts[-1]))


def pair(prev: Look, cur: Look, flow: FlowEstimator, settings: Any) -> Pair | None:
    """Flow and trust between consecutive frames; None where their shapes differ.

    Trust (``runtime.temporal.trust``): high where the previous input, warped by the flow and
    brought to this frame's exposure, matches this input within its noise (so moving objects
    the flow got wrong and cuts the cut test missed get none), and, with ``fb_check``, the
    flow passes the forward-backward check."""
    if prev.shape != cur.shape:
        return None
    s = settings
    back = flow(cur.flow_gray, prev.flow_gray)  # this frame -> previous
    tr = trust(cur.gray, prev.gray, back, s)
    w = tr.weight
    if s.fb_check:
        fwd = flow(prev.flow_gray, cur.flow_gray)  # previous -> this frame
        err, tol = fb_error(back, fwd)
        w = w * np.clip(2.0 - err / tol, 0.0, 1.0)  # 1 inside the tolerance, 0 beyond twice it
    return Pair(back, w.astype(np.float32, copy=False), float((w > 0).mean()), tr.gain)


def default_threads() -> int:
    """Half the cores, at most 8 (the other half decode, encode and feed the engine)."""
    return max(1, min(8, cpu_cores() // 2))


class LookAhead:
    """Looks and pairs of frames submitted in stream order, computed in ``threads`` threads;
    ``take(frame)`` hands them out in the same order."""

    def __init__(self, settings: Any, threads: int | None = None) -> None:
        self.settings = settings
        self.threads = threads or default_threads()
        self._pool: ThreadPoolExecutor | None = None
        self._local = threading.local()  # one FlowEstimator per thread (DIS keeps buffers)
        self._queue: deque[tuple[np.ndarray, Future]] = deque()
        self._last_look: Future | None = None
        self._lock = threading.Lock()

    def _flow(self) -> FlowEstimator:
        est = getattr(self._local, "flow", None)
        if est is None:
            est = self._local.flow = FlowEstimator(self.settings.flow_method)
        return est

    def submit(self, frame: np.ndarray) -> None:
        """Start on ``frame``, the next frame of the stream (called from any one thread)."""
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=self.threads, thread_name_prefix="stylize-lookahead")
        look_done: Future = Future()
        prev_look = self._last_look
        self._last_look = look_done

        def work() -> tuple[Look, Look | None, Pair | None]:
            try:
                mine = look(frame, self.settings)
            except BaseException as e:
                look_done.set_exception(e)
                raise
            look_done.set_result(mine)
            # the previous frame's look was started before this task (the pool runs tasks in
            # order), so waiting for it cannot deadlock
            prev = prev_look.result() if prev_look is not None else None
            return mine, prev, (pair(prev, mine, self._flow(), self.settings) if prev is not None else None)

        with self._lock:
            self._queue.append((frame, self._pool.submit(work)))

    def take(self, frame: np.ndarray) -> tuple[Look, Look | None, Pair | None] | None:
        """(its look, the look its pair was computed against, the pair) of ``frame`` if it
        is the next frame submitted, else None (and everything submitted is dropped)."""
        with self._lock:
            if not self._queue:
                return None
            ahead, fut = self._queue.popleft()
            if not _same_frame(ahead, frame):
                self._queue.clear()
                self._last_look = None
                return None
        return fut.result()

    def close(self) -> None:
        with self._lock:
            self._queue.clear()
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None


def _same_frame(a: np.ndarray, b: np.ndarray) -> bool:
    if a is b:
        return True
    if a.shape != b.shape or a.dtype != b.dtype:
        return False
    if a.__array_interface__["data"][0] == b.__array_interface__["data"][0] and a.strides == b.strides:
        return True  # the same buffer (the pipeline's frame, viewed)
    return bool(np.array_equal(a, b))
