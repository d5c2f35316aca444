"""Frame size arithmetic: the size the model sees is the size that gets encoded."""

from __future__ import annotations

from stylize.runtime.errors import UserError


def _even(x: float) -> int:
    """Nearest even integer, at least 2."""
    return max(2, 2 * round(x / 2))


def target_size(width: int, height: int, size: int | None, *, even: bool) -> tuple[int, int]:
    """(width, height) of the frames given to ``process`` and written out.

    ``size`` scales the shorter side to ``size`` (up or down) and keeps the aspect ratio.
    ``even`` (needed by 4:2:0 chroma subsampling) rounds both sides to even numbers; with
    ``size=None`` an odd side loses its last row or column instead (cropping one pixel
    keeps the rest of the frame sharp, where rescaling by one pixel would blur all of it).
    """
    if width < 1 or height < 1:
        raise ValueError(f"bad frame size {width}x{height}")
    if size is None:
        if not even:
            return width, height
        if width < 2 or height < 2:
            raise UserError(f"frames of {width}x{height} are too small to encode")
        return width - width % 2, height - height % 2
    if size < 2:
        raise UserError(f"size must be at least 2, got {size}")
    scale = size / min(width, height)
    if even:
        if width <= height:
            return _even(size), _even(height * scale)
        return _even(width * scale), _even(size)
    if width <= height:
        return size, max(1, round(height * scale))
    return max(1, round(width * scale)), size


def needs_crop(width: int, height: int, target: tuple[int, int]) -> bool:
    """True when ``target`` is ``(width, height)`` minus an odd last row/column (no scaling)."""
    tw, th = target
    return (tw, th) != (width, height) and width - tw in (0, 1) and height - th in (0, 1)
