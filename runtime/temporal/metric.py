"""Flicker as warping error (Lai et al., "Learning Blind Video Temporal Consistency", ECCV 2018).

For each pair of consecutive frames (t-1, t) of the *input* video: the optical flow from
t-1 to t and back (OpenCV DIS, "medium" preset, at the stylised frames' size: no learned
flow weights are available here, so not FlowNet2 as in the paper), a non-occlusion mask by
the forward-backward check (Sundaram et al. 2010, the test Lai et al. take from Ruder et
al.; pixels whose flow leaves the frame count as occluded), the stylised frame t warped
onto t-1 along the flow, and the mean squared error between it and stylised frame t-1
over the non-occluded pixels and the three channels, values in [0, 1]. The warping error
is the mean over pairs; pairs across a scene cut (``runtime.temporal.cuts``) are left out.
``stylize flicker IN_VIDEO STYLISED_VIDEO`` runs it on two files.

A metric whose flow resembles the stabiliser's rewards it: the stabiliser uses Farneback on
small frames, this metric DIS "medium" at the stylised size by default; ``flow_method``
"farneback" gives the second opinion. Lower is better; per-frame stylisation of a static
video scores exactly 0.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field

import cv2
import numpy as np

from ..video.reader import iter_frames
from .cuts import CutDetector
from .flow import FlowEstimator, consistent, to_gray, warp

FLOWS = ("dis-fast", "dis-medium", "farneback")

DEFAULT_FLOW = "dis-medium"


@dataclass
class PairMotion:
    """Flow and non-occlusion mask of one input pair (t-1, t), on frame t-1's pixels."""

    t: int
    flow: np.ndarray  # flow(t-1 -> t), H x W x 2
    mask: np.ndarray  # bool H x W: not occluded


@dataclass
class FlickerResult:
    warping_error: float  # mean over the pairs counted
    pairs: int  # pairs counted
    cuts: list[int] = field(default_factory=list)  # t where a new shot starts (pair (t-1, t) left out)
    per_pair: list[float] = field(default_factory=list)
    valid_fraction: float = 0.0  # mean share of non-occluded pixels

    def describe(self) -> str:
        cuts = f", {len(self.cuts)} scene cut(s) left out (at frames {', '.join(map(str, self.cuts))})" if self.cuts else ""
        return (
            f"warping error {self.warping_error:.6f} over {self.pairs} frame pairs "
            f"({100 * self.valid_fraction:.0f}% of pixels non-occluded){cuts}"
        )


class InputMotion:
    """The input side of the metric, computed once and reused for any number of stylisations."""

    def __init__(self, flow_method: str = DEFAULT_FLOW) -> None:
        self._flow = FlowEstimator(flow_method)
        self._cuts = CutDetector()
        self._prev: np.ndarray | None = None
        self._t = -1
        self.cuts: list[int] = []

    def push(self, frame: np.ndarray, size: tuple[int, int] | None = None) -> PairMotion | None:
        """Next input frame (RGB); ``size`` (height, width) of the stylised frames, to which
        the input is resized. Returns the motion of the pair ending here, None at the first
        frame and at cuts."""
        self._t += 1
        cut = self._cuts.push(frame)
        if size is not None and frame.shape[:2] != tuple(size):
            frame = cv2.resize(frame, (size[1], size[0]), interpolation=cv2.INTER_AREA)
        gray = to_gray(frame)
        prev, self._prev = self._prev, gray
        if cut:
            self.cuts.append(self._t)
        if prev is None or cut or prev.shape != gray.shape:
            return None
        fwd = self._flow(prev, gray)
        back = self._flow(gray, prev)
        return PairMotion(self._t, fwd, consistent(fwd, back))


def pair_error(motion: PairMotion, prev_out: np.ndarray, out: np.ndarray) -> tuple[float, float] | None:
    """(MSE over non-occluded pixels, their share) for stylised frames t-1 and t, or None
    when every pixel is occluded."""
    a = _unit(prev_out)
    b = warp(_unit(out), motion.flow)
    m = motion.mask
    n = int(m.sum())
    if n == 0:
        return None
    return float(np.square(a[m] - b[m]).mean()), n / m.size


def _unit(img: np.ndarray) -> np.ndarray:
    return img.astype(np.float32) * (1.0 / 255.0) if img.dtype == np.uint8 else img.astype(np.float32, copy=False)


def _result(errors: list[float], shares: list[float], cuts: list[int]) -> FlickerResult:
    return FlickerResult(
        warping_error=float(np.mean(errors)) if errors else 0.0,
        pairs=len(errors),
        cuts=list(cuts),
        per_pair=errors,
        valid_fraction=float(np.mean(shares)) if shares else 0.0,
    )


def warping_error(inputs: Iterable[np.ndarray], outputs: Iterable[np.ndarray], flow_method: str = DEFAULT_FLOW) -> FlickerResult:
    """Warping error of the stylised ``outputs`` given the ``inputs`` they were made from
    (RGB frames, uint8 or float in [0, 1], in order; inputs are resized to the outputs)."""
    motion = InputMotion(flow_method)
    errors: list[float] = []
    shares: list[float] = []
    prev_out = None
    for frame, out in zip(inputs, outputs):
        pm = motion.push(frame, out.shape[:2])
        if pm is not None and prev_out is not None:
            got = pair_error(pm, prev_out, out)
            if got is not None:
                errors.append(got[0])
                shares.append(got[1])
        prev_out = out
    return _result(errors, shares, motion.cuts)


def input_motion(inputs: Sequence[np.ndarray], size: tuple[int, int] | None = None, flow_method: str = DEFAULT_FLOW) -> tuple[list[PairMotion | None], list[int]]:
    """The input side for a clip held in memory: per frame its PairMotion (None at the first
    frame and at cuts), and the cuts."""
    m = InputMotion(flow_method)
    return [m.push(f, size) for f in inputs], m.cuts


def warping_error_of(motions: Sequence[PairMotion | None], cuts: list[int], outputs: Sequence[np.ndarray]) -> FlickerResult:
    """Warping error of one stylisation of a clip whose input side ``input_motion`` computed."""
    errors: list[float] = []
    shares: list[float] = []
    for t in range(1, min(len(motions), len(outputs))):
        if motions[t] is not None:
            got = pair_error(motions[t], outputs[t - 1], outputs[t])
            if got is not None:
                errors.append(got[0])
                shares.append(got[1])
    return _result(errors, shares, cuts)


def _frames(path: str | os.PathLike[str], limit: int | None) -> Iterator[np.ndarray]:
    for i, (rgb, _) in enumerate(iter_frames(path)):
        if limit is not None and i >= limit:
            break
        yield rgb


def video_warping_error(source: str | os.PathLike[str], stylised: str | os.PathLike[str], frames: int | None = None, flow_method: str = DEFAULT_FLOW) -> FlickerResult:
    """Warping error of a stylised video file (or frames folder) against its source, frame
    for frame from the start (the first ``frames`` only, if given)."""
    return warping_error(_frames(source, frames), _frames(stylised, frames), flow_method)
