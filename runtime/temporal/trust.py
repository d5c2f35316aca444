"""The trust rule: how far the previous output may be carried onto this frame, per pixel.

The flow says where each pixel of this input frame was in the previous one; the previous
input, warped along it, should then look like this input. Where it does not, the flow is wrong
there (a moving object it missed, an occlusion, a cut the cut test missed) and blending would
ghost, so the weight falls from 1 at a residual of ``photo_lo`` to 0 at ``photo_hi``.

Real footage breaks the rule's premise that a good flow leaves no residual, in two ways that
are not motion, and the rule takes both out before it judges:

- **brightness changes** (film and mains flicker, fades, auto exposure): the previous frame is
  first brought to this frame's exposure by a smooth gain map, the median of the ratio of the
  two (offset by 8 grey levels, so the noise of black pixels weighs little) in each block of a
  coarse grid, interpolated between blocks. A median per block follows an exposure that
  varies across the picture and ignores the few pixels that really changed.
- **noise** (film grain, sensor noise in low light, compression): a residual that is
  everywhere is the input's own noise, not a wrong flow. The thresholds rise with the
  median residual of the frame (``noise_k`` times it, at most ``noise_cap`` times the clean
  ``photo_lo``); a flow that fails fails in places, and stays above them.

The median gain over the whole frame is also returned: the exposure change that
``runtime.temporal.exposure`` follows through fades.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from .flow import inside, sample_maps, warp

OFFSET = 8.0  # grey levels added before a ratio: black pixels' noise does not make gains


@dataclass(frozen=True)
class Trust:
    weight: np.ndarray  # H x W float32 in [0, 1]
    gain: float  # median brightness ratio this frame / previous frame (warped), 1 if unknown


def gain_map(log_ratio: np.ndarray, valid: np.ndarray, rows: int, cols: int, size: tuple[int, int]) -> tuple[np.ndarray, float]:
    """(gain at ``size`` (height, width), the global median gain) from the log ratio of every
    other pixel each way: the median of each block of a rows x cols grid over its valid pixels
    (the global median where a block has too few), interpolated between the blocks' centres."""
    h, w = log_ratio.shape
    values = log_ratio[valid]
    overall = float(np.median(values)) if values.size else 0.0
    blocks = np.full((rows, cols), overall, np.float32)
    ys = np.linspace(0, h, rows + 1).astype(int)
    xs = np.linspace(0, w, cols + 1).astype(int)
    least = max(16, (h * w) // (rows * cols * 8))  # an eighth of a block
    for i in range(rows):
        for j in range(cols):
            block = log_ratio[ys[i] : ys[i + 1], xs[j] : xs[j + 1]][valid[ys[i] : ys[i + 1], xs[j] : xs[j + 1]]]
            if block.size >= least:
                blocks[i, j] = float(np.median(block))
    smooth = cv2.resize(blocks, (size[1], size[0]), interpolation=cv2.INTER_LINEAR)
    return np.exp(smooth, out=smooth), float(np.exp(overall))


def trust(gray: np.ndarray, prev_gray: np.ndarray, back: np.ndarray, settings: Any) -> Trust:
    """Trust in carrying the previous frame onto this one along ``back`` (flow this frame ->
    previous), from the grey frames (uint8, same shape): 0 where the flow leaves the frame."""
    s = settings
    cur = gray.astype(np.float32)
    maps = sample_maps(back)
    valid = inside(back, maps)
    warped = warp(prev_gray, back, maps).astype(np.float32)
    log_ratio = np.log(cur[::2, ::2] + OFFSET) - np.log(warped[::2, ::2] + OFFSET)  # every other pixel: medians are dear
    sampled = valid[::2, ::2]
    if s.gain_grid[0] and s.gain_grid[1]:
        g, gain = gain_map(log_ratio, sampled, *s.gain_grid, cur.shape)
        warped += OFFSET
        warped *= g
        warped -= OFFSET
    else:
        gain = float(np.exp(np.median(log_ratio[sampled]))) if sampled.any() else 1.0
    diff = cv2.blur(np.abs(cur - warped) * np.float32(1.0 / 255.0), (3, 3))
    lo, hi = s.photo_lo, s.photo_hi
    if s.noise_k > 0 and sampled.any():
        raised = min(max(lo, s.noise_k * float(np.median(diff[::2, ::2][sampled]))), s.noise_cap * lo)
        lo, hi = raised, hi + raised - lo
    weight = np.clip((hi - diff) * np.float32(1.0 / (hi - lo)), 0.0, 1.0)
    weight *= valid
    return Trust(weight.astype(np.float32, copy=False), gain)
