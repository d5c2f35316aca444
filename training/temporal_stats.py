"""Feature statistics smoothed across video frames (the model side of ``runtime.temporal.stats``).

``smooth(state, key, value)``: ``value`` is [N, ...], one statistic per frame of a batch in
stream order; returns the exponential moving average frame by frame,
    m_t = momentum * m_{t-1} + (1 - momentum) * value_t,
restarted (m_t = value_t) at the first frame ever, after ``state.reset()``, at frames flagged
in ``state.resets``, and when the statistic's shape changes. The last average is kept in
``state.values[key]`` for the next call. Runs on the statistic's device; computed in float32.
"""

from __future__ import annotations

from typing import Any

import torch


def smooth(state: Any, key: Any, value: torch.Tensor) -> torch.Tensor:
    m = float(state.momentum)
    prev = state.values.get(key)
    out = []
    for i in range(value.shape[0]):
        v = value[i].float()
        if prev is None or prev.shape != v.shape or prev.device != v.device or state.restart_at(i):
            prev = v
        else:
            prev = m * prev + (1.0 - m) * v
        out.append(prev)
    state.values[key] = prev.detach()
    return torch.stack(out).to(value.dtype)
