"""Seconds per 100 L-BFGS iterations of ``stylize paint``, and the memory a 2048x2048 result needs.

    python -m stylize.training.gatys.measure [--sizes 256,512] [--iters 10,3] [--threads N] [--device cpu]

Times the optimisation loop of ``paint`` (the default losses: content relu4_2, style
relu1_1..relu5_1, TV; L-BFGS, no line search, one loss evaluation per iteration) at square
sizes in one stage (``--schedule none``), with random weights in the official layout (speed
does not depend on weight values). For each size it runs ``warmup`` iterations, then times
``iters`` iterations and scales to 100 (saying so: 512x512 on two busy CPU cores takes minutes
per 100). The load average is printed beside, since the cores are shared, and the process's
CPU time too: divided by the thread count it is what the wall time would be on idle cores
with every thread busy (a lower bound where the threads do not scale perfectly).

Memory: the tensors autograd keeps for backward are counted at 256x256 (``saved_tensors_hooks``,
each storage once, weights excluded; with the first block recomputed in backward, as ``paint``
does above 1536x1536) and scaled to 2048x2048 (they grow with the pixel count);
added to that: the largest transient gradients of backward, the image, its gradient, and the
L-BFGS history the auto rule keeps at that size. An estimate from counting, not a GPU
measurement.
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np


def _load() -> str:
    try:
        return " ".join(f"{v:.2f}" for v in os.getloadavg())
    except OSError:  # pragma: no cover
        return "n/a"


def time_iterations(size: int, iters: int, warmup: int = 1, device: str = "cpu") -> tuple[float, float]:
    """(wall seconds, CPU seconds of this process) per L-BFGS iteration at size x size:
    the time of ``iters`` iterations after ``warmup``, divided by ``iters``."""
    import torch

    from stylize.training.adain.random_weights import random_adain_modules
    from stylize.training.gatys.optim import optimise
    from stylize.training.gatys.paint import PaintOptions, _to_tensor, build_loss

    rng = np.random.default_rng(0)
    content = rng.random((size, size, 3), dtype=np.float32)
    style = rng.random((size, size, 3), dtype=np.float32) ** 2
    vgg, _ = random_adain_modules(0)
    dev = torch.device(device)
    loss = build_loss(vgg, PaintOptions()).to(dev)
    c = _to_tensor(content, dev)
    loss.set_targets(c, [_to_tensor(style, dev)])
    x = c.clone()
    stamps: list[tuple[float, float]] = []

    def tick(_step) -> None:  # noqa: ANN001
        if dev.type == "cuda":
            torch.cuda.synchronize()
        stamps.append((time.perf_counter(), time.process_time()))

    t0 = (time.perf_counter(), time.process_time())
    optimise(x, loss, warmup + iters, "lbfgs", callback=tick)
    start = stamps[warmup - 1] if warmup else t0
    return (stamps[-1][0] - start[0]) / iters, (stamps[-1][1] - start[1]) / iters


def saved_bytes(size: int, checkpoint: bool = True) -> tuple[int, int]:
    """(bytes autograd saves for one loss evaluation at size x size, largest such tensor)."""
    import torch

    from stylize.training.adain.random_weights import random_adain_modules
    from stylize.training.gatys.paint import PaintOptions, _to_tensor, build_loss

    vgg, _ = random_adain_modules(0)
    loss = build_loss(vgg, PaintOptions())
    loss.extractor.checkpoint = checkpoint
    rng = np.random.default_rng(0)
    c = _to_tensor(rng.random((size, size, 3), dtype=np.float32), torch.device("cpu"))
    loss.set_targets(c, [c])
    params = {p.untyped_storage().data_ptr() for p in loss.parameters()}
    seen: dict[int, int] = {}

    def pack(t: torch.Tensor) -> torch.Tensor:
        s = t.untyped_storage()
        if s.data_ptr() not in params:
            seen[s.data_ptr()] = s.nbytes()
        return t

    x = c.clone().requires_grad_(True)
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        total, _ = loss(x)
    del total
    return sum(seen.values()), max(seen.values())


def memory_estimate(final: int = 2048, counted_at: int = 256) -> dict[str, float]:
    from stylize.training.gatys.features import CHECKPOINT_PIXELS
    from stylize.training.gatys.optim import auto_history

    saved, largest = saved_bytes(counted_at, checkpoint=final * final > CHECKPOINT_PIXELS)
    k = (final / counted_at) ** 2
    image = 3 * final * final * 4
    history = auto_history(3 * final * final)
    gib = 1 << 30
    parts = {
        "saved activations": saved * k / gib,
        "backward transients (3 x largest activation)": 3 * largest * k / gib,
        f"L-BFGS history ({history} pairs) + image, gradient, direction": (2 * history + 4) * image / gib,
    }
    parts["total (estimate)"] = sum(parts.values())
    return parts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m stylize.training.gatys.measure", description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="256,512", help="square sizes, comma-separated (default 256,512)")
    parser.add_argument("--iters", default="10,3", help="timed iterations per size (default 10,3)")
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--no-memory", action="store_true", help="skip the 2048x2048 memory estimate")
    args = parser.parse_args(argv)

    import torch

    torch.set_num_threads(args.threads)
    sizes = [int(s) for s in args.sizes.split(",")]
    iters = [int(i) for i in args.iters.split(",")]
    iters = iters * len(sizes) if len(iters) == 1 else iters
    print(f"torch {torch.__version__}, device {args.device}, {args.threads} threads, {os.cpu_count()} CPUs")
    for size, n in zip(sizes, iters):
        before = _load()
        wall, cpu = time_iterations(size, n, args.warmup, args.device)
        print(
            f"{size}x{size}: {wall:.2f} s per L-BFGS iteration -> {100 * wall:.0f} s per 100 iterations "
            f"(timed {n} after {args.warmup} warm-up, scaled to 100; load average before {before}, after {_load()}); "
            f"CPU time {100 * cpu:.0f} s per 100, i.e. {100 * cpu / args.threads:.0f} s wall with {args.threads} idle cores"
        )
    if not args.no_memory:
        for name, value in memory_estimate().items():
            print(f"2048x2048 memory, {name}: {value:.1f} GiB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
