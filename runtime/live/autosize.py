"""``--size auto`` for live: the largest size from a ladder at which stylising keeps up
with the source.

The frame path is timed at a few rungs of the ladder on the first camera frame (one warm-up
call, then the median of a few), and time is assumed to grow with the pixel count between
rungs, so that only a handful of sizes are tried: on a CPU from the bottom up (a large rung
can take seconds a frame there), on a GPU from the top down (every new size may compile).
The keys - and + step along the same ladder while live runs.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field

LADDER = (1080, 720, 540, 432, 360, 288, 240, 192, 160, 128)
"""Shorter sides live can run at, largest first."""
HEADROOM = 0.8
"""Share of the frame interval the stylising stage may take: capture, output and the
window run beside it and share the machine."""
MAX_MEASURES = 4


@dataclass(frozen=True)
class SizeChoice:
    side: int
    frame_ms: float  # measured time of the frame path at ``side``
    interval_ms: float  # the source's frame interval
    holds: bool  # the frame path keeps up with the source at ``side``
    measured: dict[int, float] = field(default_factory=dict)  # side -> ms, every rung tried

    def describe(self) -> str:
        others = {s: ms for s, ms in sorted(self.measured.items()) if s != self.side}
        tried = f"; tried {', '.join(f'{s}: {ms:.0f} ms' for s, ms in others.items())}" if others else ""
        if self.holds:
            return (
                f"live size {self.side} (auto): {self.frame_ms:.0f} ms a frame, the source gives one every "
                f"{self.interval_ms:.0f} ms{tried}; keys - and + change it"
            )
        return (
            f"live size {self.side} (auto, the smallest): {self.frame_ms:.0f} ms a frame, slower than the source's "
            f"{self.interval_ms:.0f} ms, so frames will be dropped{tried}"
        )


def rungs_for(width: int, height: int, ladder: tuple[int, ...] = LADDER) -> list[int]:
    """The ladder's sides that do not enlarge a ``width`` x ``height`` source, largest first
    (the source's own side where it is smaller than every rung)."""
    own = min(width, height)
    rungs = [s for s in ladder if s <= own]
    return rungs or [own]


def step(side: int, width: int, height: int, direction: int, ladder: tuple[int, ...] = LADDER) -> int:
    """The next rung above (``direction`` > 0) or below ``side``; ``side`` at either end."""
    rungs = rungs_for(width, height, ladder)
    if direction > 0:
        bigger = [s for s in rungs if s > side]
        return min(bigger) if bigger else side
    smaller = [s for s in rungs if s < side]
    return max(smaller) if smaller else side


def choose_side(
    measure: Callable[[int], float], width: int, height: int, fps: float, *, top_down: bool = False, ladder: tuple[int, ...] = LADDER
) -> SizeChoice:
    """The largest rung whose frame time ``measure(side)`` (ms) fits ``HEADROOM`` of the
    source's frame interval; the smallest rung where none does."""
    rungs = rungs_for(width, height, ladder)
    interval = 1000.0 / fps
    budget = HEADROOM * interval
    measured: dict[int, float] = {}

    def timed(side: int) -> float:
        measured[side] = measure(side)
        return measured[side]

    def choice(side: int) -> SizeChoice:
        return SizeChoice(side, measured[side], interval, measured[side] <= budget, dict(measured))

    if top_down:  # every new size may compile: try the likely fit first, then step down
        for side in rungs[:MAX_MEASURES]:
            if timed(side) <= budget:
                return choice(side)
        # the rest predicted from the last measurement
        last = min(measured)
        fits = [s for s in rungs if s < last and measured[last] * (s / last) ** 2 <= budget]
        side = max(fits) if fits else rungs[-1]
        timed(side)
        return choice(side)

    best = rungs[-1]
    if timed(best) > budget:
        return choice(best)
    anchor, too_big = best, None
    for _ in range(MAX_MEASURES - 1):
        predicted = {s: measured[anchor] * (s / anchor) ** 2 for s in rungs}
        candidates = [s for s in rungs if s > best and (too_big is None or s < too_big) and predicted[s] <= budget]
        if not candidates:
            break
        side = max(candidates)
        anchor = side
        if timed(side) <= budget:
            best = side
        else:
            too_big = side
    return choice(best)


def timed_ms(fn: Callable[[], object], repeats: int = 3, warmup: int = 1) -> list[float]:
    """``warmup`` untimed calls, then the wall time of ``repeats`` calls, in ms."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1e3)
    return times


def median_ms(fn: Callable[[], object], repeats: int = 3) -> float:
    """One warm-up call, then the median of ``repeats`` timed calls, in ms."""
    return statistics.median(timed_ms(fn, repeats))
