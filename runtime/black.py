"""Black stays black: letterbox and pillarbox bars, near-black and flat frames are kept.

A style network paints every pixel, the bars and the black of a fade included (Magenta paints
black orange). ``keep_black(stylized, content)`` looks at the *input* frame and gives back the
stylised frame with

- **bars** (edge-connected runs of rows at the top and bottom, of columns at the left and
  right, each dark and constant across its length and close to the edge row's level, at least
  ``MIN_BAR`` of the side thick) replaced by the input;
- **the picture between them** blended back towards the input as it darkens: its brightness
  ``b`` (the 99th percentile of its luma, so a night scene with a few lights is not dark) gives
  a weight ``t``, a smoothstep from 0 at ``DARK_LO`` to 1 at ``DARK_HI``; the picture is
  ``(1 - t) * input + t * min(1, b / DARK_HI) * stylised``, so a fade to black stays a fade,
  with no switch, and a black frame is its input. A flat picture (luma std under ``FLAT_LO``,
  rising to ``FLAT_HI``) is kept the same way, without the darkening.

An ordinary frame (no bar, brightness over ``DARK_HI``, std over ``FLAT_HI``) is returned as
the same array, untouched. Each frame is decided on its own (no state, deterministic): bars do
not move in a video, and where a dark scene makes the rows beside a bar dark and flat too, they
are kept as well, which is what black staying black means. Levels are in 0..255 for uint8 and
float frames in [0, 1] alike.
"""

from __future__ import annotations

import cv2
import numpy as np

BAR_LEVEL = 40.0  # a bar's rows are darker than this (mean luma; decoded black is 0-20)
BAR_STD = 4.0  # and this constant along their length (luma std; compression noise is 1-2)
BAR_STEP = 6.0  # and within this of the edge row's mean: one flat colour, not a gradient
MIN_BAR = 0.02  # a bar is at least this fraction of the side (and 2 pixels) thick
DARK_LO, DARK_HI = 12.0, 48.0  # picture 99th-percentile luma: kept below LO, stylised above HI
FLAT_LO, FLAT_HI = 2.0, 4.0  # picture luma std: kept below LO, stylised above HI
_CHUNK = 32  # lines read at a time from an edge
_SAMPLE = 4  # statistics of the picture on every 4th pixel each way


def _luma(frame: np.ndarray) -> np.ndarray:
    """H x W x 3 RGB (uint8 or float in [0, 1]) -> H x W float32 luma in 0..255."""
    if frame.dtype == np.uint8:
        return cv2.cvtColor(np.ascontiguousarray(frame), cv2.COLOR_RGB2GRAY).astype(np.float32)
    return cv2.cvtColor(np.ascontiguousarray(frame, dtype=np.float32), cv2.COLOR_RGB2GRAY) * np.float32(255.0)


def _run(lines: np.ndarray) -> int:
    """How many of ``lines`` (L x K luma, the edge first) are one dark constant bar. Read in
    chunks from the edge, every other pixel along a line: a picture stops it in the first."""
    first = None
    for start in range(0, len(lines), _CHUNK):
        chunk = lines[start : start + _CHUNK, ::2]
        means, stds = chunk.mean(axis=1), chunk.std(axis=1)
        first = means[0] if first is None else first
        ok = (means < BAR_LEVEL) & (stds < BAR_STD) & (np.abs(means - first) < BAR_STEP)
        if not ok.all():
            return start + int(np.argmin(ok))
    return len(lines)


def find_bars(luma: np.ndarray) -> tuple[int, int, int, int]:
    """Bar thickness (top, bottom, left, right) in pixels of an H x W luma; 0 where none. A
    frame that is one bar all through gives (H, 0, 0, 0)."""
    h, w = luma.shape
    top = _run(luma)
    if top == h:
        return h, 0, 0, 0
    bottom = _run(luma[::-1])
    inner = luma[top : h - bottom].T
    left = _run(inner)
    right = _run(inner[::-1]) if left < w else 0
    min_h, min_w = max(2, round(MIN_BAR * h)), max(2, round(MIN_BAR * w))
    return (top if top >= min_h else 0, bottom if bottom >= min_h else 0, left if left >= min_w else 0, right if right >= min_w else 0)


def _smoothstep(x: float, lo: float, hi: float) -> float:
    s = min(1.0, max(0.0, (x - lo) / (hi - lo)))
    return s * s * (3.0 - 2.0 * s)


def picture_weight(luma: np.ndarray) -> tuple[float, float]:
    """(t, gain) of a picture's luma: the stylised share (0: keep the input, 1: stylised) and
    the gain on the stylised frame (below 1 only while the picture is dark)."""
    sample = luma[::_SAMPLE, ::_SAMPLE]
    bright = float(np.percentile(sample, 99))
    dark = _smoothstep(bright, DARK_LO, DARK_HI)
    flat = _smoothstep(float(sample.std()), FLAT_LO, FLAT_HI)
    return min(dark, flat), min(1.0, bright / DARK_HI)


def keep_black_frame(stylized: np.ndarray, content: np.ndarray) -> np.ndarray:
    """One frame (H x W x 3, uint8 or float in [0, 1], both of one dtype and size): see the
    module. Returns ``stylized`` itself where nothing is kept."""
    luma = _luma(content)
    h, w = luma.shape
    top, bottom, left, right = find_bars(luma)
    if top == h:
        return content.copy()
    y0, y1, x0, x1 = top, h - bottom, left, w - right
    t, gain = picture_weight(luma[y0:y1, x0:x1])
    if (top, bottom, left, right) == (0, 0, 0, 0) and t == 1.0:
        return stylized
    if t == 1.0:  # bars only: the input's rows and columns over the stylised frame
        out = stylized.copy()
        out[:y0], out[y1:], out[:, :x0], out[:, x1:] = content[:y0], content[y1:], content[:, :x0], content[:, x1:]
        return out
    out = content.copy()  # bars are the input
    if t > 0.0:
        s = stylized[y0:y1, x0:x1].astype(np.float32)
        c = content[y0:y1, x0:x1].astype(np.float32)
        pic = (1.0 - t) * c + (t * gain) * s
        out[y0:y1, x0:x1] = np.rint(np.clip(pic, 0, 255)).astype(np.uint8) if out.dtype == np.uint8 else np.clip(pic, 0.0, 1.0)
    return out


def keep_black(stylized: np.ndarray, content: np.ndarray) -> np.ndarray:
    """``keep_black_frame`` for one frame (H x W x 3) or a batch (N x H x W x 3). A batch where
    nothing is kept is returned as the same array."""
    if stylized.ndim == 3:
        return keep_black_frame(stylized, content)
    out = stylized
    for i, (s, c) in enumerate(zip(stylized, content, strict=True)):
        kept = keep_black_frame(s, c)
        if kept is not s:
            if out is stylized:
                out = stylized.copy()
            out[i] = kept
    return out
