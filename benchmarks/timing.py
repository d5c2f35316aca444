"""Small timing helpers: warm-up, repeats, medians."""

from __future__ import annotations

import statistics
from collections.abc import Callable

from stylize.runtime.live.autosize import timed_ms


def median_ms(fn: Callable[[], object], repeats: int = 5, warmup: int = 1) -> tuple[float, list[float]]:
    """Median wall time of ``fn`` in milliseconds over ``repeats`` runs after ``warmup`` runs."""
    times = timed_ms(fn, repeats, warmup)
    return statistics.median(times), times
