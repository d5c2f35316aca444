"""``stylize bench``: latency and throughput, per stage and per backend, against yardsticks."""

from __future__ import annotations

import argparse
from pathlib import Path

from stylize.cli.common import store_from
from stylize.runtime.errors import UserError

HELP = "measure latency and throughput of every backend (a table, JSON and a plot)"


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "bench",
        help=HELP,
        description=HELP + ", beside the reference (PyTorch eager FP32, style re-encoded per frame) and the "
        "machine's measured matrix-product rate. Families whose weights are not installed are measured with "
        "random weights (speed does not depend on weight values). Results go to benchmarks/results/MACHINE/.",
    )
    p.add_argument("--quick", action="store_true", help="a short CPU run (under 2 minutes on 2 cores)")
    p.add_argument("--json", type=Path, metavar="FILE", help="write the JSON here (the plot goes beside it)")
    p.add_argument("--out", type=Path, metavar="DIR", help="results folder (default benchmarks/results/MACHINE)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    try:
        from stylize.benchmarks import run as bench
    except ImportError as e:
        raise UserError(f"the benchmarks need the source checkout and PyTorch: pip install -e '.[all]' ({e})") from None
    plan = bench.quick_plan() if args.quick else bench.full_cpu_plan()
    result = bench.run(plan, store_from(args))
    print(bench.table(result))
    json_path, png = bench.save(result, args.json, args.out, "quick" if args.quick else "full")
    print(f"results: {json_path}" + (f", plot: {png}" if png else ""))
    return 0
