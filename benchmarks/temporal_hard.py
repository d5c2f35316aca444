"""The temporal stabiliser on hard footage: flicker kept, texture kept and cost, per category.

    python -m stylize.benchmarks.temporal_hard [--size 160] [--frames 40] [--seed 0]
        [--categories grain,flicker,...] [--threads 1] [--out benchmarks/results/MACHINE/temporal_hard.json]

For each category of ``benchmarks.hard_footage`` (the shared clips with grain, flicker,
black-and-white, bars, fades, fast pans, low light, heavy compression, old film), the frames
go through ``runtime.frames.FrameStylizer`` with ``--temporal off``, ``on`` and ``strong``,
the modes taking turns frame by frame (``temporal_eval.run_clip``, Magenta's real weights),
and per mode:

- the warping error under both metric flows, DIS "medium" and Farneback "(F)" (a metric whose
  flow resembles the stabiliser's rewards it), as a ratio to ``off``;
- the texture kept: the energy of the second differences of the output, along x and along y
  separately, summed over the frames, as a ratio to ``off``; the lower of the two is
  reported, since a smear along the motion (a pan's streaks) loses one direction only. A
  different filter from the detail restoration's 3x3 box, so it does not grade its own work;
- the cost: 1 - fps / fps of ``off``, the process calls timed in the same run. The analysis
  runs in a thread beside the engine, so the cost depends on a core being free for it: the
  JSON keeps the machine's load average at the start and the end of the run.

``TARGETS`` are what ``--temporal on`` is held to on every category.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

import cv2
import numpy as np

from stylize.benchmarks.hard_footage import NAMES, category, make, names
from stylize.benchmarks.machine import describe, slug
from stylize.benchmarks.temporal_eval import MODES, STYLE, build_engines, run_clip, style_vector
from stylize.runtime.files import atomic_output
from stylize.runtime.temporal import SETTINGS

REPO = Path(__file__).resolve().parents[1]

# --temporal on, on every category: warping error on/off under both metric flows at most
# ``error_ratio``; texture kept at least ``texture``; cost at most ``cost``
TARGETS = {"error_ratio": 0.5, "texture": 0.9, "cost": 0.15}


def texture(frames: list[np.ndarray]) -> np.ndarray:
    """[energy along x, energy along y] of uint8 or [0, 1] frames: the mean squared second
    difference (f(x-1) - 2 f(x) + f(x+1)) over pixels and channels, summed over frames."""
    ex = ey = 0.0
    for f in frames:
        g = f.astype(np.float32) * (1.0 / 255.0) if f.dtype == np.uint8 else f.astype(np.float32)
        ex += float(np.square(g[:, 2:] - 2.0 * g[:, 1:-1] + g[:, :-2]).mean())
        ey += float(np.square(g[2:] - 2.0 * g[1:-1] + g[:-2]).mean())
    return np.array([ex, ey])


def evaluate(engine, vector: np.ndarray, name: str, size: int, frames: int, seed: int) -> dict:  # noqa: ANN001
    """One category through the three modes: ``run_clip``'s figures plus the texture kept."""
    clip = make(name, size, frames, seed)
    r = run_clip(engine, vector, clip)
    outs = r.pop("outputs")
    base = texture(outs["off"])
    for m in MODES[1:]:
        kept = texture(outs[m]) / np.maximum(base, 1e-12)
        r["modes"][m].update(texture=float(kept.min()), texture_x=float(kept[0]), texture_y=float(kept[1]))
    meets = r["modes"]["on"]
    r["meets_targets"] = bool(
        max(meets["error_ratio"], meets["error_ratio_farneback"]) <= TARGETS["error_ratio"]
        and meets["texture"] >= TARGETS["texture"]
        and meets["fps_cost"] <= TARGETS["cost"]
    )
    return {"category": name, "what": category(name).what, "clip": category(name).clip, **r}


def table(results: dict) -> str:
    lines = [
        "| category | source | size | warping error off | on/off | strong/off | on/off (F) | strong/off (F) | texture on | texture strong | cost on | cost strong | on meets targets |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results["categories"]:
        m = r["modes"]
        lines.append(
            f"| {r['category']} ({r['what']}) | {r['clip']} | {r['size'][1]}x{r['size'][0]} | {m['off']['warping_error']:.5f} "
            f"| {m['on']['error_ratio']:.2f} | {m['strong']['error_ratio']:.2f} | {m['on']['error_ratio_farneback']:.2f} "
            f"| {m['strong']['error_ratio_farneback']:.2f} | {m['on']['texture']:.2f} | {m['strong']['texture']:.2f} "
            f"| {100 * m['on']['fps_cost']:+.1f}% | {100 * m['strong']['fps_cost']:+.1f}% | {'yes' if r['meets_targets'] else 'no'} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m stylize.benchmarks.temporal_hard", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--size", type=int, default=160, help="shorter side (default 160)")
    p.add_argument("--frames", type=int, default=40, help="frames per category (default 40)")
    p.add_argument("--seed", type=int, default=0, help="the generator's seed (default 0)")
    p.add_argument("--categories", default=",".join(NAMES))
    p.add_argument("--threads", type=int, default=1, help="torch and OpenCV threads (default 1, as temporal_eval)")
    p.add_argument("--out", type=Path, default=None, help="JSON (default benchmarks/results/MACHINE/temporal_hard.json)")
    args = p.parse_args(argv)

    import torch

    torch.set_num_threads(args.threads)
    cv2.setNumThreads(args.threads)
    machine = describe()
    out = args.out or REPO / "benchmarks" / "results" / slug(machine) / "temporal_hard.json"
    results: dict = {
        "schema": "stylize-temporal-hard/1",
        "command": " ".join(["python -m stylize.benchmarks.temporal_hard", *(argv if argv is not None else sys.argv[1:])]),
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "machine": {k: machine[k] for k in ("cpu", "cores", "libraries")},
        "threads": args.threads,
        "style": STYLE,
        "family": "magenta",
        "seed": args.seed,
        "targets": TARGETS,
        "settings": {m: asdict(s) for m, s in SETTINGS.items()},
        "categories": [],
        "load_average": [round(os.getloadavg()[0], 2)],  # the cost needs a core for the analysis: see the table's note
    }
    t_start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        engine = build_engines(Path(tmp), ["magenta"]).get("magenta")
        if engine is None:
            print("temporal_hard needs Magenta's weights (../shared/weights/magenta)", file=sys.stderr)
            return 2
        vector = style_vector(engine)
        for name in names(args.categories):
            r = evaluate(engine, vector, name, args.size, args.frames, args.seed)
            results["categories"].append(r)
            m = r["modes"]
            print(
                f"{name:12s} err off {m['off']['warping_error']:.5f} on/off {m['on']['error_ratio']:.2f} (F {m['on']['error_ratio_farneback']:.2f}) "
                f"strong/off {m['strong']['error_ratio']:.2f} (F {m['strong']['error_ratio_farneback']:.2f}) texture {m['on']['texture']:.2f} "
                f"{m['strong']['texture']:.2f} cost {100 * m['on']['fps_cost']:+.1f}% {100 * m['strong']['fps_cost']:+.1f}% "
                f"resets {m['on']['other_resets']} cuts {r['metric_cuts']}",
                flush=True,
            )
    results["seconds"] = time.perf_counter() - t_start
    results["load_average"].append(round(os.getloadavg()[0], 2))
    print(table(results))
    out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_output(out) as tmp_out:
        tmp_out.write_text(json.dumps(results, indent=1) + "\n")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
