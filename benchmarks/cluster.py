"""A long clip converted on a local Ray cluster with one CPU worker and with two, against one machine.

    python -m stylize.benchmarks.cluster [--frames 3000] [--side 96] [--segment 20] [--out DIR]

The clip is built from the shared ``opencv__vtest.avi`` (795 frames at 10 fps, looped to
``--frames``), scaled to a shorter side of ``--side``, encoded as H.264 with a keyframe every
``--keyint`` frames, with a synthetic AAC tone as its audio: the same clip every run. The Magenta
model (the shared .tflite weights, imported into a temporary store) stylises it on the torch
CPU engine; every conversion is lossless (crf 0), so decoded frames are the stylised frames
after the YUV 4:2:0 round trip, and comparing them compares what was stylised.

- ``single_on``, ``single_off``: ``stylize video`` on this machine, the stabiliser on and off;
- ``ray1_on``, ``ray2_on``: ``--ray`` on a local Ray started with 1 and 2 CPUs (one worker per
  CPU), the stabiliser on, each run confined to that many cores (Ray's ``num_cpus`` reserves
  CPUs but does not confine a worker's threads: one worker alone would use both cores);
  ``speedup`` = ray1 seconds / ray2 seconds (each from the call to the written output, the
  workers' start included, Ray's own start not); ``against_single`` = single_on seconds /
  ray2_on seconds, the cluster against one machine's conversion, both on every core;
- ``ray2_off``: ``--ray`` with 2 workers, the stabiliser off: ``identical_off`` says whether its
  frames are the single run's, bit for bit;
- ``psnr_on``: ray2_on's frames against single_on's (PSNR of all pixels together, and the
  worst frame's);
- ``border``: the warping error (``runtime.temporal.metric``, DIS flow) of ray2_on over the
  frame pairs that span a segment border, against the pairs inside segments (target: at
  most 1.1x), and the same pairs of single_on for comparison;
- ``same_timing``: frame count, every packet's timestamps and the audio packets (bytes and
  timestamps) of ray2_on are single_on's.

Writes ``cluster.json`` into ``--out`` (default benchmarks/results/MACHINE/).
"""

from __future__ import annotations

import argparse
import bisect
import json
import os
import shlex
import subprocess
import sys
import tempfile
import textwrap
import time
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np

from stylize.benchmarks.machine import describe, results_folder, write_results

HERE = Path(__file__).resolve().parent
SHARED = HERE.parent.parent / "shared"
SOURCE = SHARED / "data" / "video" / "opencv__vtest.avi"
STYLE = SHARED / "data" / "styles" / "msgnet21__candy.jpg"
TFLITE = ("style_predict_int8_256.tflite", "style_transfer_fp16_384.tflite")


def build_clip(path: Path, frames: int, side: int, keyint: int) -> dict[str, Any]:
    """``SOURCE`` looped to ``frames`` frames at a shorter side of ``side``, H.264 with a
    keyframe every ``keyint`` frames, and a 440 Hz AAC tone as long as the video."""
    from stylize.runtime.sizing import encodable
    from stylize.runtime.video.source import open_source

    src = open_source(SOURCE, audio=False)
    try:
        size = encodable(src.info.width, src.info.height, side)
        loop = [rgb for rgb, _, _ in src.frames(*size)]
        rate = src.info.rate or Fraction(10)
    finally:
        src.close()
    with av.open(str(path), "w") as out:
        video = out.add_stream(
            "libx264", rate=rate, options={"crf": "18", "preset": "veryfast", "g": str(keyint), "keyint_min": str(keyint), "sc_threshold": "0"}
        )
        video.width, video.height, video.pix_fmt = size.width, size.height, "yuv420p"
        audio = out.add_stream("aac", rate=44100)
        audio.codec_context.layout = "mono"
        for i in range(frames):
            frame = av.VideoFrame.from_ndarray(loop[i % len(loop)], format="rgb24")
            frame.pts = i
            frame.time_base = 1 / rate
            out.mux(video.encode(frame))
        out.mux(video.encode(None))
        samples = int(frames / rate * 44100)
        t = np.arange(samples) / 44100
        tone = (0.2 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
        for start in range(0, samples, 1024):
            chunk = tone[start : start + 1024]
            frame = av.AudioFrame.from_ndarray(chunk[None], format="fltp", layout="mono")
            frame.sample_rate, frame.pts, frame.time_base = 44100, start, Fraction(1, 44100)
            out.mux(audio.encode(frame))
        out.mux(audio.encode(None))
    return {"source": SOURCE.name, "frames": frames, "size": list(size), "fps": float(rate), "keyint": keyint, "audio": "AAC mono 44.1 kHz, 440 Hz"}


def decoded(path: Path) -> list[np.ndarray]:
    with av.open(str(path)) as c:
        return [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]


def packets(path: Path) -> dict[str, list[tuple[Any, ...]]]:
    """Per stream: every packet's (pts, dts, duration), and the audio packets' bytes too."""
    out: dict[str, list[tuple[Any, ...]]] = {}
    with av.open(str(path)) as c:
        for p in c.demux():
            if p.size:
                kind = p.stream.type
                out.setdefault(f"{kind}{p.stream.index}", []).append((p.pts, p.dts, p.duration, bytes(p) if kind == "audio" else b""))
    return out


def psnr(a: list[np.ndarray], b: list[np.ndarray]) -> tuple[float, float]:
    """(PSNR of all frames' pixels together, the worst frame's), in dB."""
    mses = [float(np.mean((x.astype(np.float64) - y.astype(np.float64)) ** 2)) for x, y in zip(a, b)]

    def db(mse: float) -> float:
        return float("inf") if mse == 0 else 10 * np.log10(255.0**2 / mse)

    return db(float(np.mean(mses))), db(max(mses))


def border_errors(inputs: list[np.ndarray], outputs: list[np.ndarray], borders: list[int]) -> dict[str, float]:
    """Warping error over pairs (t-1, t) with t a segment's first frame, and over the others."""
    from stylize.runtime.temporal.metric import input_motion, pair_error

    motions, _ = input_motion(inputs, outputs[0].shape[:2])
    at, inside = [], []
    for t in range(1, min(len(motions), len(outputs))):
        if motions[t] is None:
            continue
        got = pair_error(motions[t], outputs[t - 1], outputs[t])
        if got is not None:
            (at if t in borders else inside).append(got[0])
    border, rest = float(np.mean(at)) if at else float("nan"), float(np.mean(inside)) if inside else float("nan")
    return {"border": border, "inside": rest, "ratio": border / rest if rest else float("nan"), "border_pairs": len(at), "inside_pairs": len(inside)}


# Each conversion runs in a process of its own, through the API every command calls (the
# benchmarks floor does not import the top floor); its seconds are from the call to the
# written output: imports and Ray's own start are not counted, the workers' start is.
_CONVERT = textwrap.dedent(
    """
    import json, logging, sys, time
    mode, cpus, temporal, clip, output, style, home, segment = sys.argv[1:9]
    from stylize import Stylizer
    s = Stylizer("magenta", home=home, backend="torch", device="cpu")
    common = dict(size="keep", crf=0, progress=False, temporal=temporal)
    if mode == "single":
        t0 = time.perf_counter()
        s.video(clip, output, style, **common)
        print(json.dumps({"seconds": time.perf_counter() - t0}))
    else:
        import os, ray
        os.sched_setaffinity(0, sorted(os.sched_getaffinity(0))[:int(cpus)])  # Ray's processes inherit it
        ray.init(num_cpus=int(cpus), include_dashboard=False, log_to_driver=False, logging_level=logging.WARNING)
        t0 = time.perf_counter()
        report = s.videos([clip], [output], style, ray="local", segment=float(segment), **common)
        seconds = time.perf_counter() - t0
        if report.failed:
            sys.exit(report.failed[0].describe())
        print(json.dumps({"seconds": seconds, "workers": report.workers, "worker_busy_s": sum(n.busy_s for n in report.nodes),
                          "warmup_frames": sum(r.warmup for r in report.inputs), "segments": sum(r.segments for r in report.inputs)}))
    """
)


def convert(mode: str, cpus: int, temporal: str, clip: Path, output: Path, home: Path, segment: float) -> dict[str, Any]:
    command = [sys.executable, "-c", _CONVERT, mode, str(cpus), temporal, str(clip), str(output), str(STYLE), str(home), str(segment)]
    done = subprocess.run(command, capture_output=True, text=True, env={**os.environ, "PYTHONWARNINGS": "ignore"}, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{mode} conversion failed: {done.stderr.strip().splitlines()[-1] if done.stderr.strip() else done.returncode}")
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def run(frames: int, side: int, segment: float, keyint: int, folder: Path) -> dict[str, Any]:
    from stylize.runtime.store import Store
    from stylize.runtime.temporal import settings_for
    from stylize.runtime.video.segments import plan, scan, warmup_frames
    from stylize.training.weights_io import import_weights

    store = Store(folder / "store")
    for f in TFLITE:
        import_weights(store, SHARED / "weights" / "magenta" / f)
    clip = folder / "clip.mp4"
    result: dict[str, Any] = {"clip": build_clip(clip, frames, side, keyint)}
    warmup = warmup_frames(settings_for("on").blend)  # type: ignore[union-attr]
    index = scan(clip)
    segments = plan(index, segment, warmup)
    borders = [bisect.bisect_left(index.frame_pts, s.start) for s in segments if s.start is not None]
    result["segments"] = {"seconds": segment, "count": len(segments), "warmup_frames": warmup, "borders": borders}
    runs: dict[str, dict[str, Any]] = {}
    for name, mode, cpus, temporal in (
        ("single_on", "single", 0, "on"), ("single_off", "single", 0, "off"),
        ("ray1_on", "ray", 1, "on"), ("ray2_on", "ray", 2, "on"), ("ray2_off", "ray", 2, "off"),
    ):  # fmt: skip
        runs[name] = convert(mode, cpus, temporal, clip, folder / f"{name}.mp4", store.root, segment)
        runs[name]["fps"] = frames / runs[name]["seconds"]
        print(
            f"{name}: {runs[name]['seconds']:.1f} s, {runs[name]['fps']:.1f} fps" + (f", {runs[name]['workers']} worker(s)" if mode == "ray" else ""),
            flush=True,
        )
    result["runs"] = runs
    result["speedup"] = runs["ray1_on"]["seconds"] / runs["ray2_on"]["seconds"]
    result["against_single"] = {t: runs[f"single_{t}"]["seconds"] / runs[f"ray2_{t}"]["seconds"] for t in ("on", "off")}

    inputs = decoded(clip)
    single_on, ray_on = decoded(folder / "single_on.mp4"), decoded(folder / "ray2_on.mp4")
    single_off, ray_off = decoded(folder / "single_off.mp4"), decoded(folder / "ray2_off.mp4")
    result["frames"] = {"clip": len(inputs), "single_on": len(single_on), "ray2_on": len(ray_on), "single_off": len(single_off), "ray2_off": len(ray_off)}
    result["identical_off"] = len(single_off) == len(ray_off) and all(np.array_equal(a, b) for a, b in zip(single_off, ray_off))
    result["max_abs_diff_off"] = int(max((int(np.abs(a.astype(np.int16) - b).max()) for a, b in zip(single_off, ray_off)), default=0))
    whole, worst = psnr(single_on, ray_on)
    result["psnr_on"] = {"all_db": whole, "worst_frame_db": worst}
    result["border"] = {"ray2_on": border_errors(inputs, ray_on, borders), "single_on": border_errors(inputs, single_on, borders)}
    a, b = packets(folder / "single_on.mp4"), packets(folder / "ray2_on.mp4")
    timing = {k: [p[:3] for p in v] for k, v in a.items()} == {k: [p[:3] for p in v] for k, v in b.items()}
    audio = {k: v for k, v in a.items() if k.startswith("audio")} == {k: v for k, v in b.items() if k.startswith("audio")}
    result["same_timing"] = {"timestamps": timing, "audio": audio, "frames": len(single_on) == len(ray_on)}
    return result


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m stylize.benchmarks.cluster", description=__doc__.splitlines()[0])
    p.add_argument("--frames", type=int, default=3000, help="frames of the clip (vtest.avi looped)")
    p.add_argument("--side", type=int, default=96, help="the clip's shorter side")
    p.add_argument("--segment", type=float, default=20.0, help="--segment of the cluster runs, seconds")
    p.add_argument("--keyint", type=int, default=50, help="frames between the clip's keyframes")
    p.add_argument("--out", type=Path, help="results folder (default benchmarks/results/MACHINE)")
    args = p.parse_args(argv)
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="stylize-cluster-bench-") as tmp:
        result = run(args.frames, args.side, args.segment, args.keyint, Path(tmp))
    result = {
        "schema": "stylize-cluster/1", "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "machine": describe(),
        "command": "python -m stylize.benchmarks.cluster " + shlex.join(argv if argv is not None else sys.argv[1:]),
        "wall_s": time.perf_counter() - t0, **result,
    }  # fmt: skip
    b = result["border"]["ray2_on"]
    print(
        f"speedup (2 workers against 1): {result['speedup']:.2f}x; against one machine: {result['against_single']['on']:.2f}x "
        f"(stabiliser off: {result['against_single']['off']:.2f}x); border/inside warping error {b['ratio']:.3f} "
        f"({b['border_pairs']} border pairs); PSNR with the stabiliser {result['psnr_on']['all_db']:.1f} dB "
        f"(worst frame {result['psnr_on']['worst_frame_db']:.1f}); off identical: {result['identical_off']}; "
        f"timing: {result['same_timing']}"
    )
    print(f"results: {write_results(result, args.out or results_folder(result['machine']), 'cluster')}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
