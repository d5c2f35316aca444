"""CPU time of one still stylisation per model family (torch engine), median of N.

    python -m stylize.benchmarks.still [--size 512] [--repeats 5] [--model adain]

Uses the weights in the store (random AdaIN weights time the same as the real ones).
"""

from __future__ import annotations

import argparse

import numpy as np

from stylize.benchmarks.timing import median_ms
from stylize.runtime.backends import open_engine
from stylize.runtime.errors import UserError
from stylize.runtime.models import find_weights
from stylize.runtime.store import Store


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="adain")
    p.add_argument("--size", type=int, default=512)
    p.add_argument("--repeats", type=int, default=5)
    args = p.parse_args()
    store = Store()
    try:
        engine = open_engine(store, find_weights(store, args.model), "torch")
    except UserError as e:
        raise SystemExit(f"benchmarks.still: {e}") from None
    rng = np.random.default_rng(0)
    frame = rng.random((1, args.size, args.size, 3), dtype=np.float32)
    style = engine.encode_style(rng.random((256, 256, 3), dtype=np.float32))
    med, runs = median_ms(lambda: engine.stylize(frame, style, 1.0), repeats=args.repeats)
    print(f"{args.model} torch {engine.device} {args.size}x{args.size}: median {med:.0f} ms over {args.repeats} runs "
          f"({', '.join(f'{t:.0f}' for t in runs)})")


if __name__ == "__main__":
    main()
