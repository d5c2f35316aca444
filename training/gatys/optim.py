"""The optimisation loop: L-BFGS (default, as Gatys et al. and jcjohnson/neural-style) or Adam.

``optimise`` runs one iteration per call of the optimiser, so a callback sees every
iteration (progress bar, intermediate images). For L-BFGS this is the same algorithm as one
long run: ``torch.optim.LBFGS`` keeps its history, direction and step between calls, and
without a line search it evaluates the loss once per iteration either way (as
neural-style's ``optim.lbfgs``). The tolerances are off: the run goes the full count.

The optimiser minimises the objective divided by its value at the first evaluation (a
constant: the minimiser is the same). L-BFGS has absolute thresholds (a curvature pair is
kept only when y.s > 1e-10) and an absolute first step; with the division they hold at any
scale of the losses, which differs by orders of magnitude between feature networks and
weights. The losses reported to the callback are not divided.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch

OPTIMIZERS = ("lbfgs", "adam")
DEFAULT_LR = {"lbfgs": 1.0, "adam": 0.02}  # Adam: neural-style's 10 on 0..255 pixels is ~0.04 on [0, 1]
LBFGS_MEMORY_BYTES = 1 << 30  # auto history: at most this much for L-BFGS' (s, y) pairs


class Diverged(RuntimeError):
    """The loss became NaN or infinite."""


@dataclass
class Step:
    iteration: int  # 1-based, within this run
    iterations: int
    loss: float  # total at the start of the iteration
    parts: dict[str, float]


def auto_history(numel: int, budget: int = LBFGS_MEMORY_BYTES, most: int = 100, least: int = 5) -> int:
    """L-BFGS pairs that fit ``budget`` (two float32 vectors each): 100 at 512x512, 9 at 2048x2048."""
    return max(least, min(most, budget // (8 * numel)))


def optimise(
    x: torch.Tensor,
    objective: Callable[[torch.Tensor], tuple[torch.Tensor, dict[str, torch.Tensor]]],
    iterations: int,
    method: str = "lbfgs",
    lr: float | None = None,
    history: int | None = None,
    callback: Callable[[Step], None] | None = None,
) -> torch.Tensor:
    """Minimise ``objective(x)`` over the pixels of ``x`` (a leaf tensor) in place; returns x."""
    if method not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer {method!r}: choose {' or '.join(OPTIMIZERS)}")
    x.requires_grad_(True)
    lr = DEFAULT_LR[method] if lr is None else lr
    if method == "lbfgs":
        opt: torch.optim.Optimizer = torch.optim.LBFGS(
            [x], lr=lr, max_iter=1, history_size=history or auto_history(x.numel()),
            tolerance_grad=0.0, tolerance_change=0.0, line_search_fn=None,
        )  # fmt: skip
    else:
        opt = torch.optim.Adam([x], lr=lr)
    last: dict[str, object] = {}
    scale: list[float] = []

    def closure() -> torch.Tensor:
        opt.zero_grad(set_to_none=False)
        total, parts = objective(x)
        if not scale:
            first = abs(float(total.detach()))
            scale.append(first if math.isfinite(first) and first > 0 else 1.0)
        (total / scale[0]).backward()
        last["loss"], last["parts"] = total.detach(), {k: v.detach() for k, v in parts.items()}
        return total.detach() / scale[0]

    for i in range(1, iterations + 1):
        opt.step(closure)
        loss = float(last["loss"])
        if not math.isfinite(loss):
            raise Diverged(f"the loss became {loss} at iteration {i}")
        if callback is not None:
            callback(Step(i, iterations, loss, {k: float(v) for k, v in last["parts"].items()}))
    x.requires_grad_(False)
    return x
