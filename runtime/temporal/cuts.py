"""Scene-cut detection on tiny frames: a colour-histogram change together with a pixel change.

A cut changes what is in the picture, so both the hue/saturation histogram (insensitive to
motion) and the mean absolute difference of 32x32 grayscale thumbnails jump. Fast motion
moves the thumbnail but keeps the histogram; a lighting change shifts the histogram but
keeps the structure. The thresholds below separate the real cuts of the clips in the
shared test data (bikes, cutBunny) from their fades and hand-held motion, with a margin on
both sides (tests/test_temporal.py checks the bikes clip). A cut missed here still does not
ghost: the stabiliser blends only where the warped input matches, and restarts when almost
nothing does.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

HIST_THRESHOLD = 0.3  # total-variation distance of the 16x8 hue/saturation histograms, in [0, 1]
MAD_THRESHOLD = 0.1  # mean |difference| of the 32x32 grayscale thumbnails, in [0, 1]
MAD_ALONE = 0.3  # a change this large is a cut whatever the histogram says


@dataclass(frozen=True)
class Signature:
    thumb: np.ndarray  # 32x32 float32 grayscale in [0, 1]
    hist: np.ndarray  # 128 float32, sums to 1


def signature(rgb: np.ndarray) -> Signature:
    """A frame (RGB, uint8 or float in [0, 1]) reduced to what the cut test compares."""
    img = rgb if rgb.dtype == np.uint8 else (np.clip(rgb, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
    small = cv2.resize(np.ascontiguousarray(img), (64, 64), interpolation=cv2.INTER_AREA)
    gray = cv2.resize(cv2.cvtColor(small, cv2.COLOR_RGB2GRAY), (32, 32), interpolation=cv2.INTER_AREA)
    hsv = cv2.cvtColor(small, cv2.COLOR_RGB2HSV)
    hist = cv2.calcHist([hsv], [0, 1], None, [16, 8], [0, 180, 0, 256]).ravel()
    return Signature(gray.astype(np.float32) / 255.0, (hist / max(hist.sum(), 1.0)).astype(np.float32))


def distances(a: Signature, b: Signature) -> tuple[float, float]:
    """(histogram distance, thumbnail mean absolute difference), both in [0, 1]."""
    return 0.5 * float(np.abs(a.hist - b.hist).sum()), float(np.abs(a.thumb - b.thumb).mean())


def is_cut(a: Signature, b: Signature) -> bool:
    hist, mad = distances(a, b)
    return (hist > HIST_THRESHOLD and mad > MAD_THRESHOLD) or mad > MAD_ALONE


class CutDetector:
    """Frame after frame: ``push(frame)`` is True when the frame starts a new shot."""

    def __init__(self) -> None:
        self._last: Signature | None = None

    def reset(self) -> None:
        self._last = None

    def push(self, rgb: np.ndarray) -> bool:
        return self.push_signature(signature(rgb))

    def push_signature(self, sig: Signature) -> bool:
        """``push`` for a frame whose signature is already computed."""
        cut = self._last is not None and is_cut(self._last, sig)
        self._last = sig
        return cut


def find_cuts(frames: list[np.ndarray]) -> list[int]:
    """Indices t (>= 1) where frame t starts a new shot."""
    det = CutDetector()
    return [t for t, f in enumerate(frames) if det.push(f)]
