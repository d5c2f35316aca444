"""Optical flow between frames (OpenCV DIS or Farneback), warping, forward-backward checks.

Conventions: a flow field is float32 H x W x 2 (dx, dy) in pixels. ``flow(a, b)`` is the
flow *from a to b*: ``a(x) ~ b(x + flow(x))``. So ``warp(b, flow(a, b))`` brings ``b`` onto
``a``'s pixel grid. OpenCV's classical methods, which need no learned weights: DIS
(Kroeger et al. 2016, fast) and Farneback (2003, slower, smoother).
"""

from __future__ import annotations

import cv2
import numpy as np

FLOW_METHODS = ("dis-ultrafast", "dis-fast", "dis-medium", "farneback", "farneback-fast")

# Farneback's (pyramid scale, levels, window, iterations, poly_n, poly_sigma): "farneback" as the
# metric runs it; "farneback-fast", the stabiliser's, with one pyramid level, one iteration and
# a little window fewer, is cheaper and follows small moving things better on small frames, and
# starts from DIS "ultrafast"'s flow: Farneback's coarse levels lose a fast pan over a flat
# region (fog, sky) and settle on little motion there, which DIS's patch search finds
FARNEBACK = {"farneback": (0.5, 4, 15, 3, 5, 1.1), "farneback-fast": (0.5, 3, 13, 2, 5, 1.1)}


def shrink(img: np.ndarray, short_side: int | None = None) -> np.ndarray:
    """An image (uint8, or float in [0, 1]) as uint8, downscaled (area) so its shorter side
    is at most ``short_side`` (None: full size).

    Halved first (exact 2x area averages, OpenCV's fast path; an odd last row or column is
    dropped) while the image is at least twice the target, then area-resized the rest of
    the way: a few times faster than one area resize from 1080p, within a grey level."""
    if img.dtype != np.uint8:
        img = (np.clip(img, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
    h, w = img.shape[:2]
    if short_side and min(h, w) > short_side:
        while min(h, w) >= 2 * short_side:
            img = cv2.resize(np.ascontiguousarray(img[: h // 2 * 2, : w // 2 * 2]), (w // 2, h // 2), interpolation=cv2.INTER_AREA)
            h, w = img.shape[:2]
        if min(h, w) > short_side:
            s = short_side / min(h, w)
            img = cv2.resize(np.ascontiguousarray(img), (max(1, round(w * s)), max(1, round(h * s))), interpolation=cv2.INTER_AREA)
    return img


def to_gray(rgb: np.ndarray, short_side: int | None = None) -> np.ndarray:
    """RGB (uint8 or float in [0, 1]) -> uint8 grayscale, downscaled (area) so its shorter
    side is at most ``short_side`` (None: full size)."""
    img = shrink(rgb, short_side)
    return cv2.cvtColor(np.ascontiguousarray(img), cv2.COLOR_RGB2GRAY) if img.ndim == 3 else img


class FlowEstimator:
    """One OpenCV flow method, reused frame after frame (DIS keeps its buffers)."""

    def __init__(self, method: str = "dis-fast") -> None:
        if method not in FLOW_METHODS:
            raise ValueError(f"unknown flow method {method!r}: choose one of {', '.join(FLOW_METHODS)}")
        self.method = method
        self._dis = None
        if method.startswith("dis-") or method == "farneback-fast":
            preset = {
                "dis-ultrafast": cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST,
                "dis-fast": cv2.DISOPTICAL_FLOW_PRESET_FAST,
                "dis-medium": cv2.DISOPTICAL_FLOW_PRESET_MEDIUM,
                "farneback-fast": cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST,  # its starting flow
            }[method]
            self._dis = cv2.DISOpticalFlow_create(preset)

    def __call__(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """Flow from grayscale uint8 ``a`` to ``b`` (same shape): a(x) ~ b(x + flow(x))."""
        if a.shape != b.shape:
            raise ValueError(f"flow between frames of different shapes: {a.shape} vs {b.shape}")
        if self.method not in FARNEBACK:
            return self._dis.calc(a, b, None)
        if self._dis is not None:
            return cv2.calcOpticalFlowFarneback(a, b, self._dis.calc(a, b, None), *FARNEBACK[self.method], cv2.OPTFLOW_USE_INITIAL_FLOW)
        return cv2.calcOpticalFlowFarneback(a, b, None, *FARNEBACK[self.method], 0)


_GRIDS: dict[tuple[int, int], tuple[np.ndarray, np.ndarray]] = {}


def grid(h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    """The pixel coordinates (x, y), float32 H x W each (cached per size: do not modify)."""
    key = (h, w)
    if key not in _GRIDS:
        if len(_GRIDS) > 8:
            _GRIDS.clear()
        _GRIDS[key] = tuple(np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32)))
    return _GRIDS[key]


def sample_maps(flow: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Absolute sampling coordinates (map_x, map_y) for ``cv2.remap``: x + flow(x)."""
    gx, gy = grid(*flow.shape[:2])
    return gx + flow[..., 0], gy + flow[..., 1]


def warp(img: np.ndarray, flow: np.ndarray, maps: tuple[np.ndarray, np.ndarray] | None = None, cubic: bool = False) -> np.ndarray:
    """``img`` sampled at x + flow(x) (bilinear, edges replicated): img brought onto the grid
    the flow starts from. A zero flow returns ``img`` exactly."""
    mx, my = maps if maps is not None else sample_maps(flow)
    interp = cv2.INTER_CUBIC if cubic else cv2.INTER_LINEAR
    return cv2.remap(img, mx, my, interpolation=interp, borderMode=cv2.BORDER_REPLICATE)


def inside(flow: np.ndarray, maps: tuple[np.ndarray, np.ndarray] | None = None) -> np.ndarray:
    """bool H x W: x + flow(x) lands inside the frame (pixels that leave it are occluded)."""
    h, w = flow.shape[:2]
    mx, my = maps if maps is not None else sample_maps(flow)
    return (mx >= 0) & (mx <= w - 1) & (my >= 0) & (my <= h - 1)


def fb_error(forward: np.ndarray, backward: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Forward-backward check (Sundaram et al. 2010, as used by Ruder et al. and Lai et al.).

    ``forward`` is flow(a, b), ``backward`` flow(b, a). For each pixel x of ``a``, with
    w = forward(x) and w' = backward(x + w): returns (|w + w'|^2, the tolerance
    0.01 (|w|^2 + |w'|^2) + 0.5). The flow is consistent where the first is below the second.
    """
    maps = sample_maps(forward)
    back = warp(backward, forward, maps)
    fx, fy, bx, by = forward[..., 0], forward[..., 1], back[..., 0], back[..., 1]
    err = np.square(fx + bx) + np.square(fy + by)  # (channel by channel: numpy sums over a last axis of 2 slowly)
    tol = 0.01 * (fx * fx + fy * fy + bx * bx + by * by) + 0.5
    err[~inside(forward, maps)] = np.inf
    return err, tol


def consistent(forward: np.ndarray, backward: np.ndarray) -> np.ndarray:
    """bool H x W mask over ``a``'s pixels: not occluded by the forward-backward check."""
    err, tol = fb_error(forward, backward)
    return err <= tol


def resize_flow(flow: np.ndarray, height: int, width: int) -> np.ndarray:
    """A flow field resized to (height, width), its vectors scaled with it."""
    h, w = flow.shape[:2]
    if (h, w) == (height, width):
        return flow
    out = cv2.resize(flow, (width, height), interpolation=cv2.INTER_LINEAR)
    out[..., 0] *= width / w
    out[..., 1] *= height / h
    return out
