"""How many CPU cores this process may use (affinity and cgroup aware where the OS says)."""

from __future__ import annotations

import os


def cpu_cores() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)
