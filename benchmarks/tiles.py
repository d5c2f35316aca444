"""Ultra-resolution stills in tiles (``stylize image --tile``): memory, seams, tiled vs whole.

    python -m stylize.benchmarks.tiles [--content linear__in7.png] [--style msgnet21__starry_night.jpg]
        [--max-pixels 4194304] [--size 1024x768] [--tile 384] [--no-onnx] [--out DIR]

1. **8K in bounded memory**: a shared photo upscaled to 7680 x 4320, stylised with Magenta
   (the shared .tflite weights, imported into a temporary store by
   ``benchmarks.temporal_eval.build_engines``) on the CPU torch engine by ``stylize image
   --size keep --max-pixels N`` (tiles automatic above the budget), run in a process of its
   own so that nothing before it counts: its peak resident memory (``ru_maxrss`` of that
   process, from ``os.wait4``) and wall time.
   Target: at most 4 GB. The default budget, 4,194,304 pixels, is what a 4 GiB machine gets by
   default (``runtime.budget``): tiles of 2048.
2. **Seams** in that picture: the mean gradient magnitude across the lines where tiles start
   and end and where neighbours' cross-fade begins, is half and half and ends (|I(x) - I(x-1)|
   over every row and channel, uint8 levels) against the same over the columns (rows) that one
   tile alone covers, of the same phase on the network's grid. Target: a ratio within 10% of
   1. The spread of single interior columns is given beside it (what "like any other column"
   means).
3. **Tiled vs whole** at ``--size`` (where both fit), each by ``stylize image`` in a process of
   its own (the benchmarks stand below the command line and the API, which give the same
   pixels): ``--tile`` with the statistics of the whole picture, and tiles chosen by ``--tile
   auto`` above a budget of a quarter of the picture, whose statistics then come from a copy
   reduced to that budget; both families on the torch engine (AdaIN with random weights in
   the release layout, its style at ``--style-size 256`` to fit that budget: its PSNR checks
   consistency, its pictures mean nothing), and Magenta on ONNX Runtime from graphs exported
   in the run (``--no-onnx`` skips it). PSNR, peak 255, of the 8-bit results. Target: >= 30
   dB. Also the same tiles each normalised with its own statistics (the plain engine on each
   tile), what sharing them prevents; and the seam gradient of the tiled result over the
   whole picture's at the same lines.

Writes ``tiles.json`` and the pictures (a downscaled 8K result, full-resolution crops where four
tiles meet, with ticks in the frame at the seam lines; whole | shared | own
statistics side by side) into ``--out`` (default benchmarks/results/MACHINE/).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from stylize.benchmarks.machine import describe, results_folder, write_results
from stylize.benchmarks.temporal_eval import DATA, build_engines
from stylize.runtime.files import atomic_output
from stylize.runtime.images import load_image, resize
from stylize.runtime.style_cache import StyleCache
from stylize.runtime.tiles import TilePlan, assemble, plan_tiles, tile_side

HERE = Path(__file__).resolve().parent
EIGHT_K = (7680, 4320)
TARGETS = {"peak_rss_gb": 4.0, "seam_ratio_within": 0.10, "psnr_db": 30.0}
JPEG_LIMIT = 500_000


# ----------------------------------------------------------------------------- measures


def psnr8(a: np.ndarray, b: np.ndarray) -> float:
    """PSNR of two uint8 pictures, peak 255."""
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return float("inf") if mse == 0 else 10.0 * np.log10(255.0**2 / mse)


def seam_lines(plan: TilePlan, axis: int) -> list[int]:
    """Where a seam could show, along ``axis`` (0: rows, 1: columns): where each tile starts and
    ends, and where two neighbours' cross-fade begins, is half and half, and ends (the middle
    half of their overlap, ``runtime.tiles.axis_weights``)."""
    spans = plan.rows if axis == 0 else plan.cols
    lines = set(plan.borders(axis))
    for (_, e0), (s1, _) in zip(spans, spans[1:]):
        quarter = (e0 - s1) // 4
        lines |= {s1 + quarter, (s1 + e0) // 2, e0 - quarter}
    return sorted(lines)


def single_tile(plan: TilePlan, axis: int) -> np.ndarray:
    """The lines along ``axis`` that one tile alone covers (8 pixels clear of any overlap)."""
    spans = plan.rows if axis == 0 else plan.cols
    length = plan.height if axis == 0 else plan.width
    alone = np.ones(length, bool)
    alone[0] = False
    for (_, e0), (s1, _) in zip(spans, spans[1:]):
        alone[max(0, s1 - 8) : e0 + 8] = False
    return np.flatnonzero(alone)


def seam_gradient(picture: np.ndarray, plan: TilePlan) -> float:
    """The mean gradient across every seam line of both axes (uint8 levels)."""
    x = picture.astype(np.float32)
    cols = [np.abs(x[:, p] - x[:, p - 1]).mean() for p in seam_lines(plan, 1)]
    rows = [np.abs(x[p] - x[p - 1]).mean() for p in seam_lines(plan, 0)]
    return float(np.mean(cols + rows))


def seam_ratio(picture: np.ndarray, plan: TilePlan, multiple: int) -> dict[str, Any]:
    """The mean gradient across the seam lines over that across lines one tile covers, per axis
    and pooled. Each seam line is compared with the interior lines of its phase on the
    network's grid (position mod ``multiple``): upsampling decoders leave a faint pattern of
    that period (strong in AdaIN with random weights), and tile starts all sit on one phase."""
    out: dict[str, Any] = {}
    pooled: dict[str, list[float]] = {"seam": [], "interior": []}
    for axis, name in ((1, "columns"), (0, "rows")):
        lines = seam_lines(plan, axis)
        if not lines:
            continue
        x = picture.astype(np.int16)
        grad = np.abs(np.diff(x, axis=axis)).astype(np.float32)  # grad[i]: across the line between i and i + 1
        per_line = grad.mean(axis=(0, 2)) if axis == 1 else grad.mean(axis=(1, 2))
        del grad, x
        at = np.asarray(lines) - 1  # the gradient into line p from p - 1
        inner = single_tile(plan, axis)
        inner = inner[inner >= 1] - 1
        phase_mean = {r: float(per_line[inner[inner % multiple == r]].mean()) for r in range(multiple)}
        reference = np.array([phase_mean[p % multiple] for p in at])
        ratios = per_line[at] / reference
        interior = float(per_line[inner].mean())
        spread = np.abs(per_line[inner] / np.array([phase_mean[q % multiple] for q in inner]) - 1.0)
        out[name] = {
            "lines": len(lines),
            "seam_gradient": float(per_line[at].mean()),
            "interior_gradient": interior,
            "ratio": float(per_line[at].sum() / reference.sum()),
            "worst_line_ratio": float(ratios[np.argmax(np.abs(ratios - 1.0))]),
            "interior_line_spread_p95": float(np.percentile(spread, 95)),
        }
        pooled["seam"] += list(per_line[at])
        pooled["interior"] += list(reference)
    out["ratio"] = float(np.sum(pooled["seam"]) / np.sum(pooled["interior"]))
    return out


# ----------------------------------------------------------------------------- pictures


def save_jpeg(path: Path, rgb8: np.ndarray, quality: int = 90) -> int:
    """Write ``rgb8`` as a JPEG under ``JPEG_LIMIT`` bytes (lowering the quality as needed)."""
    while True:
        ok, data = cv2.imencode(".jpg", cv2.cvtColor(rgb8, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, quality])
        assert ok
        if len(data) <= JPEG_LIMIT or quality <= 50:
            break
        quality -= 5
    with atomic_output(path) as tmp:
        tmp.write_bytes(data.tobytes())
    return len(data)


def framed_crop(picture: np.ndarray, plan: TilePlan, cy: int, cx: int, half: int, frame: int = 10) -> np.ndarray:
    """A (2 half)^2 crop centred on (cy, cx) in a white frame, with ticks in the frame at the
    seam lines: blue where neighbours blend half and half, red at the others (the cross-fade's
    ends, tile starts and ends)."""
    y0, x0 = max(0, cy - half), max(0, cx - half)
    crop = picture[y0 : y0 + 2 * half, x0 : x0 + 2 * half]
    h, w = crop.shape[:2]
    out = np.full((h + 2 * frame, w + 2 * frame, 3), 255, np.uint8)
    out[frame : frame + h, frame : frame + w] = crop
    for axis, origin, size in ((1, x0, w), (0, y0, h)):
        spans = plan.cols if axis == 1 else plan.rows
        middles = {(s1 + e0) // 2 for (_, e0), (s1, _) in zip(spans, spans[1:])}
        for p in seam_lines(plan, axis):
            if origin <= p < origin + size:
                colour = (40, 80, 255) if p in middles else (230, 30, 30)
                q = frame + p - origin
                if axis == 1:
                    out[:frame, q - 1 : q + 1] = colour
                    out[-frame:, q - 1 : q + 1] = colour
                else:
                    out[q - 1 : q + 1, :frame] = colour
                    out[q - 1 : q + 1, -frame:] = colour
    return out


def corner(plan: TilePlan, row: int, col: int) -> tuple[int, int]:
    """Where the blend zones between rows ``row``/``row+1`` and columns ``col``/``col+1`` cross."""
    (_, e0), (s1, _) = plan.rows[row], plan.rows[row + 1]
    (_, f0), (t1, _) = plan.cols[col], plan.cols[col + 1]
    return (s1 + e0) // 2, (t1 + f0) // 2


# ----------------------------------------------------------------------------- the command line, in processes of its own


def stylize(home: Path, *argv: str | Path) -> dict[str, Any]:
    """``python -m stylize --home HOME ARGV`` in a process of its own (the benchmarks stand below
    the command line): its wall time and peak resident memory (``os.wait4``: that child's alone)."""
    command = [sys.executable, "-m", "stylize", "--home", str(home), "-q", *map(str, argv)]
    with tempfile.TemporaryFile("w+") as err:
        t0 = time.perf_counter()
        proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=err, text=True)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
        if proc.returncode != 0:
            err.seek(0)
            raise RuntimeError(f"{' '.join(command[2:])} failed ({proc.returncode}):\n{err.read()[-3000:]}")
    return {"wall_s": wall, "peak_rss_gb": usage.ru_maxrss * 1024 / 1e9}


def save_png(path: Path, rgb: np.ndarray) -> Path:
    cv2.imwrite(str(path), cv2.cvtColor(np.rint(np.clip(rgb, 0, 1) * 255).astype(np.uint8), cv2.COLOR_RGB2BGR), [cv2.IMWRITE_PNG_COMPRESSION, 1])
    return path


def read8(path: Path) -> np.ndarray:
    return cv2.cvtColor(cv2.imread(str(path), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)


# ----------------------------------------------------------------------------- 1. 8K in bounded memory


def eight_k(home: Path, work: Path, content: str, style: Path, max_pixels: int) -> tuple[dict[str, Any], Path]:
    src = load_image(DATA / "content" / content).rgb
    path_in = save_png(work / "content_8k.png", cv2.resize(src, EIGHT_K, interpolation=cv2.INTER_CUBIC))
    path_out = work / "stylised_8k.png"
    argv = ["--backend", "torch", "--device", "cpu", "image", path_in, "--style", style, "--model", "magenta", "--size", "keep", "--max-pixels", max_pixels, "-o", path_out]  # fmt: skip
    run = stylize(home, *argv)
    side = tile_side("auto", *EIGHT_K, max_pixels, "magenta", "8K")
    plan = plan_tiles(EIGHT_K[1], EIGHT_K[0], side, 4)
    return {
        "command": "stylize " + " ".join(Path(a).name if isinstance(a, Path) else str(a) for a in argv),
        "size": list(EIGHT_K),
        "max_pixels": max_pixels,
        "tile": plan.side,
        "overlap": plan.overlap,
        "tiles": len(plan.tiles),
        "grid": [len(plan.rows), len(plan.cols)],
        **run,
    }, path_out


# ----------------------------------------------------------------------------- 3. tiled vs whole


def compare(
    home: Path, work: Path, family: str, backend: str, content: Path, style: Path, tile: int, engine: Any = None
) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """PSNR of tiled results against the whole picture's, each by ``stylize image``."""
    picture = read8(content)
    h, w = picture.shape[:2]
    style_size = ["--style-size", "256"] if family == "adain" else []  # AdaIN's style (at 512) would not fit the quarter budget
    multiple = 8 if family == "adain" else 4
    quarter = (h * w) // 4
    runs, pictures = {}, {}
    for name, extra in (("whole", ["--tile", "off"]), ("shared", ["--tile", tile]), ("reduced", ["--max-pixels", quarter])):
        out = work / f"{family}_{backend}_{name}.png"
        runs[name] = stylize(home, "--backend", backend, "--device", "cpu", "image", content, "--style", style, "--model", family, "--size", "keep", *style_size, *extra, "-o", out)  # fmt: skip
        pictures[name] = read8(out)
    whole, shared = pictures["whole"], pictures["shared"]
    plan = plan_tiles(h, w, tile, multiple)
    auto = plan_tiles(h, w, tile_side("auto", w, h, quarter, family, "x"), multiple)
    result = {
        "family": family,
        "backend": backend,
        "size": [w, h],
        "style_size": int(style_size[1]) if style_size else None,
        "tile": plan.side,
        "overlap": plan.overlap,
        "tiles": len(plan.tiles),
        "psnr_shared_db": psnr8(shared, whole),
        "auto_budget": quarter,
        "auto_tile": auto.side,
        "auto_tiles": len(auto.tiles),
        "psnr_reduced_stats_db": psnr8(pictures["reduced"], whole),
        "seams_shared": seam_ratio(shared, plan, multiple),
        "seams_whole_same_lines": seam_ratio(whole, plan, multiple),
        "seam_gradient_vs_whole": seam_gradient(shared, plan) / seam_gradient(whole, plan),
        "process_seconds": {name: r["wall_s"] for name, r in runs.items()},
    }
    if engine is not None:  # each tile with its own statistics: the network's plain path on each tile
        vec = StyleCache(engine, None, int(style_size[1]) if style_size else None).vector(load_image(style).rgb)
        x = picture.astype(np.float32) / 255.0
        own = assemble(plan, lambda t: engine.stylize(x[None, t.y0 : t.y1, t.x0 : t.x1], vec, 1.0)[0])
        own8 = np.rint(np.clip(own, 0, 1) * 255).astype(np.uint8)
        result["psnr_own_stats_db"] = psnr8(own8, whole)
        result["seams_own_stats"] = seam_ratio(own8, plan, multiple)
        pictures["own"] = own8
    return result, pictures


# ----------------------------------------------------------------------------- the run


def run(args: argparse.Namespace) -> dict[str, Any]:
    style = DATA / "styles" / args.style
    w, h = (int(v) for v in args.size.split("x"))
    out_dir: Path = args.out
    out_dir.mkdir(parents=True, exist_ok=True)
    result: dict[str, Any] = {
        "schema": "stylize-tiles/1",
        "created": time.strftime("%Y-%m-%d %H:%M"),
        "machine": describe(),
        "command": " ".join(["python -m stylize.benchmarks.tiles", *sys.argv[1:]]),
        "content": args.content,
        "style": args.style,
        "targets": TARGETS,
        "pictures": {},
    }
    with tempfile.TemporaryDirectory(prefix="stylize-tiles-") as tmp:
        work = Path(tmp)
        home = work / "store"
        engines = build_engines(home, ["adain", "magenta"])  # imports the weights into the store
        if not args.skip_8k:
            print("8K by `stylize image` in a process of its own ...", flush=True)
            result["eight_k"], path = eight_k(home, work, args.content, style, args.max_pixels)
            k = result["eight_k"]
            print(f"  peak RSS {k['peak_rss_gb']:.2f} GB, {k['wall_s']:.0f} s, {k['tiles']} tiles", flush=True)
            picture8 = read8(path)
            plan = plan_tiles(EIGHT_K[1], EIGHT_K[0], k["tile"], 4)
            k["seams"] = seam_ratio(picture8, plan, 4)
            print(f"  seam gradient ratio {k['seams']['ratio']:.3f}", flush=True)
            save_jpeg(out_dir / "tiles_8k.jpg", cv2.resize(picture8, (1600, 900), interpolation=cv2.INTER_AREA), 88)
            result["pictures"]["tiles_8k.jpg"] = "the 8K result, reduced to 1600x900"
            top = corner(plan, 0, len(plan.cols) // 2 - 1)
            bottom = corner(plan, len(plan.rows) - 2, 0)
            for name, (cy, cx) in (("tiles_8k_seam_upper.jpg", top), ("tiles_8k_seam_lower.jpg", bottom)):
                save_jpeg(out_dir / name, framed_crop(picture8, plan, cy, cx, 256), 90)
                result["pictures"][name] = (
                    f"512x512 of the 8K result at full resolution, centred where four tiles meet ({cx}, {cy}); ticks in the "
                    "frame: blue where neighbours blend half and half, red where their cross-fade begins and ends (and tiles start or end)"
                )
            del picture8
        content = save_png(work / f"content_{w}x{h}.png", resize(load_image(DATA / "content" / args.content).rgb, h, w))
        result["compare"] = []
        for family in ("magenta", "adain"):
            print(f"tiled vs whole: {family} torch at {w}x{h} ...", flush=True)
            r, pics = compare(home, work, family, "torch", content, style, args.tile, engines[family])
            result["compare"].append(r)
            print(
                f"  PSNR {r['psnr_shared_db']:.1f} dB shared, {r['psnr_reduced_stats_db']:.1f} dB reduced statistics, {r['psnr_own_stats_db']:.1f} dB own statistics",
                flush=True,
            )
            if family == "magenta":
                plan = plan_tiles(h, w, args.tile, 4)
                cy, cx = corner(plan, 0, 0)
                strip = np.concatenate([framed_crop(pics[k], plan, cy, cx, 128) for k in ("whole", "shared", "own")], axis=1)
                save_jpeg(out_dir / "tiles_shared_vs_own.jpg", strip, 90)
                result["pictures"]["tiles_shared_vs_own.jpg"] = (
                    f"Magenta at {w}x{h}, 256x256 where four tiles of {plan.side} meet: whole | tiles with the picture's statistics | tiles each with its own"
                )
        if not args.no_onnx:
            print("exporting the Magenta graphs for ONNX Runtime ...", flush=True)
            stylize(home, "export", "--model", "magenta")
            r, _ = compare(home, work, "magenta", "onnxruntime", content, style, args.tile)
            result["compare"].append(r)
            print(f"  onnxruntime PSNR {r['psnr_shared_db']:.1f} dB shared, {r['psnr_reduced_stats_db']:.1f} dB reduced statistics", flush=True)
    return result


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m stylize.benchmarks.tiles", description=__doc__.splitlines()[0])
    p.add_argument("--content", default="linear__in7.png", help="the shared photo upscaled to 8K and compared at --size")
    p.add_argument("--style", default="msgnet21__starry_night.jpg", help="a shared style image")
    p.add_argument("--max-pixels", type=int, default=4_194_304, help="the budget of the 8K run (tiles of its square root)")
    p.add_argument("--size", default="1024x768", help="WxH of the tiled-vs-whole comparison")
    p.add_argument("--tile", type=int, default=384, help="the tile side of the comparison")
    p.add_argument("--skip-8k", action="store_true", help="only the comparison")
    p.add_argument("--no-onnx", action="store_true", help="no ONNX Runtime comparison (it exports the Magenta graphs)")
    p.add_argument("--out", type=Path, help="results folder (default benchmarks/results/MACHINE)")
    args = p.parse_args(argv)
    args.out = args.out or results_folder(describe())
    result = run(args)
    print(f"results: {write_results(result, args.out, 'tiles')}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
