"""``stylize bench``: latency and throughput, per stage and per backend, against yardsticks."""

from __future__ import annotations

import argparse
from pathlib import Path

from stylize.cli.common import command
from stylize.runtime.errors import UserError
from stylize.runtime.store import Store

HELP = "measure latency and throughput of every backend (a table, JSON and a plot)"


def register(sub: argparse._SubParsersAction) -> None:
    p = command(
        sub, "bench", help=HELP,
        description=HELP[0].upper() + HELP[1:] + ", beside the reference (PyTorch eager FP32, style re-encoded per "
        "frame) and the machine's measured matrix-product rate, on the CPU. Families whose weights are not "
        "installed are measured with random weights (speed does not depend on weight values). Results go to "
        "STORE/benchmarks/MACHINE/ unless --out names a folder.",
    )  # fmt: skip
    p.add_argument("--quick", action="store_true", help="a short run (a few minutes on 2 cores)")
    p.add_argument("--out", type=Path, metavar="DIR", help="results folder (default STORE/benchmarks/MACHINE)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    try:
        import torch  # noqa: F401
    except ImportError:
        raise UserError("the benchmarks measure the PyTorch reference too: pip install 'stylize[train,export]'") from None
    from stylize.benchmarks import run as bench
    from stylize.benchmarks.machine import slug

    store = Store(args.home)
    plan = bench.quick_plan() if args.quick else bench.full_cpu_plan()
    result = bench.run(plan, store, progress=not args.quiet)
    print(bench.table(result))
    folder = args.out or store.root / "benchmarks" / slug(result["machine"])
    json_path, png = bench.save(result, folder, "quick" if args.quick else "full")
    print(f"results: {json_path}" + (f", plot: {png}" if png else ""))
    return 0
