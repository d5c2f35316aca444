"""The coarse-to-fine schedule: the sizes the result is optimised at, smallest first.

Each stage starts from the previous stage's result, upsampled (bicubic). Large results then
need few iterations at full size, and the coarse stages fix the large-scale layout that a
full-size optimisation, whose receptive fields are small against the image, cannot see.

Sizes are shorter sides, as ``--size`` everywhere in stylize; the aspect ratio is the content's.
"""

from __future__ import annotations

from collections.abc import Sequence

from stylize.runtime.errors import UserError
from stylize.runtime.sizing import scaled

AUTO_START = 256  # the auto schedule halves the final size while the stage stays >= this


def auto_sides(final_side: int, start: int = AUTO_START) -> list[int]:
    """Shorter sides ``final / 2^k`` down to ``start``: 2048 -> 256, 512, 1024, 2048; 400 -> 400."""
    sides = [final_side]
    while sides[0] // 2 >= start:
        sides.insert(0, (sides[0] + 1) // 2)
    return sides


def _hw(height: int, width: int, side: int) -> tuple[int, int]:
    """(h, w) with the shorter side scaled to ``side``; 0 keeps the size."""
    size = scaled(width, height, side if side > 0 else None)
    return size.height, size.width


def stage_sizes(height: int, width: int, size: int, schedule: str | Sequence[int] = "auto") -> list[tuple[int, int]]:
    """(h, w) of each stage for a content of ``height`` x ``width`` painted at shorter side ``size``.

    ``schedule``: "auto" (halvings down to 256), "none" (one stage at full size), or explicit
    shorter sides in increasing order (the full size is appended when missing). The last
    stage is always exactly the requested size.
    """
    final = _hw(height, width, size)
    final_side = min(final)
    if schedule == "auto":
        sides = auto_sides(final_side)
    elif schedule == "none":
        sides = [final_side]
    else:
        sides = [int(s) for s in schedule]
        if not sides:
            raise UserError("the schedule lists no sizes")
        if any(s <= 0 for s in sides):
            raise UserError(f"schedule sizes must be positive, got {','.join(map(str, sides))}")
        if any(b <= a for a, b in zip(sides, sides[1:])):
            raise UserError(f"schedule sizes must increase, got {','.join(map(str, sides))}")
        if sides[-1] > final_side:
            raise UserError(f"schedule size {sides[-1]} is larger than the result's shorter side {final_side}")
        if sides[-1] != final_side:
            sides.append(final_side)
    stages = [_hw(height, width, s) for s in sides[:-1]]
    return [*stages, final]


def iterations_per_stage(iters: int | Sequence[int], stages: int) -> list[int]:
    """One count for every stage, or one per stage."""
    counts = [int(iters)] * stages if isinstance(iters, int) else [int(i) for i in iters]
    if len(counts) == 1:
        counts = counts * stages
    if len(counts) != stages:
        raise UserError(f"{len(counts)} iteration counts given for {stages} schedule stages")
    if any(c < 0 for c in counts) or counts[-1] < 1:
        raise UserError("iteration counts must be >= 0, and the last stage needs at least 1")
    return counts
