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
        sub, "bench", help=HELP, uses=("backend",),
        description=HELP[0].upper() + HELP[1:] + ", beside the reference (PyTorch eager FP32, style re-encoded per "
        "frame) and the machine's measured matrix-product rate: every CPU backend (--backend auto), or one backend "
        "(tensorrt: on the GPU). Families whose weights are not installed are measured with random weights (speed "
        "does not depend on weight values). Results go to STORE/benchmarks/MACHINE/ unless --out names a folder.",
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

    bench.check_backend(args.backend)  # one line where it cannot run here
    store = Store(args.home)
    plan = bench.backend_plan(args.backend, quick=args.quick)
    result = bench.run(plan, store, progress=not args.quiet)
    print(bench.table(result))
    folder = args.out or store.root / "benchmarks" / slug(result["machine"])
    name = ("quick" if args.quick else "full") + ("" if args.backend == "auto" else f"-{args.backend}")
    json_path, png = bench.save(result, folder, name)
    print(f"results: {json_path}" + (f", plot: {png}" if png else ""))
    return 0
