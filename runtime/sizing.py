"""Frame size arithmetic, in one convention: ``Size(width, height)``.

``scaled(width, height, side)`` is the one rule every command uses: the shorter side scaled
to ``side`` (up or down, aspect kept), or the size unchanged for ``side`` None.
``encodable`` rounds that to what a 4:2:0 video encoder takes. The size the model sees is the
size that gets written.
"""

from __future__ import annotations

from typing import NamedTuple

from .errors import UserError


class Size(NamedTuple):
    width: int
    height: int

    @property
    def shorter(self) -> int:
        return min(self.width, self.height)


def scaled(width: int, height: int, side: int | None) -> Size:
    """The shorter side scaled to ``side`` (aspect kept, sides at least 1); None keeps the size."""
    if width < 1 or height < 1:
        raise ValueError(f"bad frame size {width}x{height}")
    if side is None:
        return Size(width, height)
    if side < 1:
        raise ValueError(f"side must be positive, got {side}")
    scale = side / min(width, height)
    if width <= height:
        return Size(side, max(1, round(height * scale)))
    return Size(max(1, round(width * scale)), side)


def _even(x: float) -> int:
    """Nearest even integer, at least 2."""
    return max(2, 2 * round(x / 2))


def encodable(width: int, height: int, side: int | None) -> Size:
    """``scaled`` with both sides even, as 4:2:0 chroma subsampling needs.

    With ``side`` None an odd side loses its last row or column instead of being rescaled
    (cropping one pixel keeps the rest of the frame sharp, where rescaling by one pixel
    would blur all of it).
    """
    if side is None:
        if width < 2 or height < 2:
            raise UserError(f"frames of {width}x{height} are too small to encode")
        return Size(width - width % 2, height - height % 2)
    if side < 2:
        raise UserError(f"size must be at least 2, got {side}")
    scale = side / min(width, height)
    if width <= height:
        return Size(_even(side), _even(height * scale))
    return Size(_even(width * scale), _even(side))


def needs_crop(width: int, height: int, target: Size) -> bool:
    """True when ``target`` is ``width`` x ``height`` minus an odd last row/column (no scaling)."""
    tw, th = target
    return (tw, th) != (width, height) and width - tw in (0, 1) and height - th in (0, 1)
