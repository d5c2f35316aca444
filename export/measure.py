"""Graph sizes, node counts and CPU latency of the exported graphs, next to PyTorch's.

    python -m stylize.export.measure [--families adain magenta] [--size 512] [--repeats 5] [--threads N]

Everything is measured in this one run, on this machine, with the same frames and threads:

1. Frame format (what decided uint8 NHWC): host-side numpy conversion uint8 NHWC <-> float32
   NCHW per frame, against the same conversion inside an ONNX graph (ONNX Runtime CPU), at
   512x512, 720p and 1080p; and the bytes a frame takes on the way to and from a GPU.
2. For each family: both graphs exported (random weights; speed does not depend on them)
   in FP32 and FP16: file size, node count, Conv and Cast nodes.
3. For each family at ``--size`` x ``--size``, batch 1, median of ``--repeats`` runs after
   one warm-up, the contenders timed in turn, round after round (``interleaved_ms``), so a
   change in machine load hits them alike: PyTorch FP32 (the exported module itself,
   ``torch.inference_mode``), ONNX Runtime CPU on the float NCHW graph, on the uint8 NHWC graph, and on the FP16 graph
   (ONNX Runtime's CPU provider has few FP16 kernels and inserts casts: this is not what a GPU
   would do, it is listed for completeness); the style encoder likewise, at the size the
   runtime prepares style images to (AdaIN 512 shorter side, Magenta 256x256).

Prints Markdown tables; ``--json FILE`` also writes the figures.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import onnxruntime as ort


def median_ms(fn: Callable[[], object], repeats: int) -> float:
    return interleaved_ms({"fn": fn}, repeats)["fn"]


def interleaved_ms(fns: dict[str, Callable[[], object]], repeats: int) -> dict[str, float]:
    """Median ms of each function; one warm-up each, then ``repeats`` rounds taking every
    function in turn, so that a change in machine load hits all of them alike."""
    for fn in fns.values():
        fn()
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            t0 = time.perf_counter()
            fn()
            times[name].append((time.perf_counter() - t0) * 1000.0)
    return {name: statistics.median(t) for name, t in times.items()}


def _host_pre(u8: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray((u8.astype(np.float32) / np.float32(255.0)).transpose(0, 3, 1, 2))


def _host_post(f: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(np.rint(np.clip(f, 0.0, 1.0) * 255.0).astype(np.uint8).transpose(0, 2, 3, 1))


def frame_format_figures(repeats: int, threads: int) -> list[dict[str, object]]:
    """Per frame size: numpy host conversion vs the same conversion as an ONNX graph."""
    from onnx import TensorProto, helper

    from stylize.export import onnx_passes
    from stylize.runtime.backends.onnxruntime_backend import session_options

    dims = ["batch", 3, "height", "width"]
    identity = helper.make_model(
        helper.make_graph(
            [helper.make_node("Identity", ["frames"], ["stylized"])],
            "identity",
            [helper.make_tensor_value_info("frames", TensorProto.FLOAT, dims)],
            [helper.make_tensor_value_info("stylized", TensorProto.FLOAT, dims)],
        ),
        opset_imports=[helper.make_opsetid("", 18)],
    )
    wrapped = onnx_passes.wrap_frames_uint8_nhwc(identity)
    session = ort.InferenceSession(wrapped.SerializeToString(), session_options(threads), providers=["CPUExecutionProvider"])
    rows = []
    rng = np.random.default_rng(0)
    for h, w in ((512, 512), (720, 1280), (1080, 1920)):
        u8 = rng.integers(0, 256, (1, h, w, 3), dtype=np.uint8)
        f = _host_pre(u8)
        ms = interleaved_ms(
            {
                "numpy_pre_ms": lambda: _host_pre(u8),
                "numpy_post_ms": lambda: _host_post(f),
                "graph_pre_post_ms": lambda: session.run(None, {"frames": u8}),
            },
            repeats,
        )
        rows.append({"size": f"{w}x{h}", **ms, "uint8_mb": u8.nbytes / 1e6, "float32_mb": f.nbytes / 1e6})
    return rows


def measure_family(family: str, size: int, repeats: int, threads: int, folder: Path) -> dict[str, object]:
    import onnx
    import torch

    from stylize.export import onnx_passes
    from stylize.export.graphs import graph_modules
    from stylize.export.onnx_export import WeightsIdentity, export_graphs, save_graphs
    from stylize.runtime.backends.onnxruntime_backend import session_options
    from stylize.runtime.models import FAMILIES, STYLE_SIZE
    from stylize.training.models import build_stylizer

    torch.manual_seed(0)
    torch.set_num_threads(threads)
    module = build_stylizer(family).eval()
    ident = WeightsIdentity.random(family)
    result: dict[str, object] = {"family": family, "graphs": {}}
    paths: dict[str, dict[str, Path]] = {}
    for precision in ("fp32", "fp16"):
        t0 = time.perf_counter()
        graphs = export_graphs(module, family, weights=ident, precision=precision, frames="float-nchw")
        export_s = time.perf_counter() - t0
        float_stylizer = graphs.models["stylizer"]
        graphs.models["stylizer"] = onnx_passes.wrap_frames_uint8_nhwc(float_stylizer)  # what ships
        paths[precision] = save_graphs(graphs, folder / family / precision)
        onnx.save_model(float_stylizer, str(folder / family / precision / "stylizer_float_nchw.onnx"))
        paths[precision]["stylizer_float_nchw"] = folder / family / precision / "stylizer_float_nchw.onnx"
        for name, path in paths[precision].items():
            s = onnx_passes.summary(onnx.load(str(path)))
            result["graphs"][f"{precision}/{name}"] = {
                "mb": path.stat().st_size / 1e6,
                "nodes": s["nodes"],
                "conv": s["ops"].get("Conv", 0),
                "cast": s["ops"].get("Cast", 0),
                "export_s": export_s,
            }

    def session(path: Path):  # noqa: ANN202
        return ort.InferenceSession(str(path), session_options(threads), providers=["CPUExecutionProvider"])

    rng = np.random.default_rng(0)
    u8 = rng.integers(0, 256, (1, size, size, 3), dtype=np.uint8)
    x = _host_pre(u8)
    style_side = STYLE_SIZE[family]
    style = rng.random((1, 3, style_side, style_side), dtype=np.float32)
    vec = np.zeros((1, *FAMILIES[family].style_vector_shape), np.float32)
    alpha = np.array([1.0], np.float32)
    encoder, stylizer = graph_modules(module, "fp32")
    float_s = session(paths["fp32"]["stylizer_float_nchw"])
    u8_s = session(paths["fp32"]["stylizer"])
    fp16_s = session(paths["fp16"]["stylizer"])
    enc_s = session(paths["fp32"]["style_encoder"])
    with torch.inference_mode():
        vec = encoder(torch.from_numpy(style)).numpy()[:1]
        xt, vt, at, st = torch.from_numpy(x), torch.from_numpy(vec), torch.from_numpy(alpha), torch.from_numpy(style)
        feeds = {"style_vector": vec, "alpha": alpha}
        ms = interleaved_ms(
            {
                "torch_fp32_stylizer": lambda: stylizer(xt, vt, at),
                "ort_fp32_float_nchw": lambda: float_s.run(None, {"frames": x, **feeds}),
                "ort_fp32_float_nchw_with_host_conversion": lambda: _host_post(float_s.run(None, {"frames": _host_pre(u8), **feeds})[0]),
                "ort_fp32_uint8_nhwc": lambda: u8_s.run(None, {"frames": u8, **feeds}),
                "ort_fp16_uint8_nhwc": lambda: fp16_s.run(None, {"frames": u8, **feeds}),
            },
            repeats,
        )
        ms.update(interleaved_ms({"torch_fp32_encoder": lambda: encoder(st), "ort_fp32_encoder": lambda: enc_s.run(None, {"style": style})}, repeats))
    result["ms"] = ms
    result["size"] = size
    result["style_size"] = style_side
    return result


def tables(frames: list[dict[str, object]], families: list[dict[str, object]]) -> str:
    """The figures as Markdown tables (printed by ``main``, and in benchmarks/README.md)."""
    lines = ["Frame format: conversion uint8 NHWC <-> float32 NCHW, per frame", ""]
    lines += ["| frame | numpy in (ms) | numpy out (ms) | numpy total (ms) | in-graph, ORT CPU (ms) | uint8 MB | float32 MB |", "|---|---|---|---|---|---|---|"]
    for r in frames:
        total = r["numpy_pre_ms"] + r["numpy_post_ms"]
        lines.append(
            f"| {r['size']} | {r['numpy_pre_ms']:.1f} | {r['numpy_post_ms']:.1f} | {total:.1f} | "
            f"{r['graph_pre_post_ms']:.1f} | {r['uint8_mb']:.1f} | {r['float32_mb']:.1f} |"
        )
    lines += ["", "Graphs (random weights)", ""]
    lines += ["| family | graph | MB | nodes | Conv | Cast | export s (both graphs, checks included) |", "|---|---|---|---|---|---|---|"]
    for fam in families:
        for name, g in fam["graphs"].items():
            lines.append(f"| {fam['family']} | {name} | {g['mb']:.1f} | {g['nodes']} | {g['conv']} | {g['cast']} | {g['export_s']:.0f} |")
    lines += ["", "CPU latency, batch 1, ms per frame (style encoder: ms per style image)", ""]
    lines += [
        "| family | frame | PyTorch FP32 | ORT FP32 float NCHW | ORT FP32 float NCHW + host conversion | ORT FP32 uint8 NHWC | ORT FP16 graph (CPU upcasts) | style | PyTorch encoder | ORT encoder |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for fam in families:
        m = fam["ms"]
        lines.append(
            f"| {fam['family']} | {fam['size']}x{fam['size']} | {m['torch_fp32_stylizer']:.0f} | {m['ort_fp32_float_nchw']:.0f} | "
            f"{m['ort_fp32_float_nchw_with_host_conversion']:.0f} | {m['ort_fp32_uint8_nhwc']:.0f} | {m['ort_fp16_uint8_nhwc']:.0f} | "
            f"{fam['style_size']}x{fam['style_size']} | {m['torch_fp32_encoder']:.0f} | {m['ort_fp32_encoder']:.0f} |"
        )
    return "\n".join(lines)


def _version(dist: str) -> str | None:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def main(argv: list[str] | None = None) -> int:
    from stylize.runtime.cores import cpu_cores

    parser = argparse.ArgumentParser(prog="python -m stylize.export.measure", description=__doc__.splitlines()[0])
    parser.add_argument("--families", nargs="+", default=["adain", "magenta"], choices=["adain", "magenta"])
    parser.add_argument("--size", type=int, default=512, help="frame side for the latency table (default 512)")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=cpu_cores())
    parser.add_argument("--keep", type=Path, help="keep the exported graphs in this folder")
    parser.add_argument("--json", type=Path, help="also write the figures as JSON")
    args = parser.parse_args(argv)

    frames = frame_format_figures(args.repeats, args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        folder = args.keep or Path(tmp)
        families = [measure_family(f, args.size, args.repeats, args.threads, folder) for f in args.families]
    load = "/".join(f"{v:.2f}" for v in os.getloadavg())
    print(f"export.measure: {args.threads} threads, median of {args.repeats}, load average at the end {load}\n")
    print(tables(frames, families))
    if args.json:
        record = {
            "command": " ".join(["python -m stylize.export.measure", *(argv if argv is not None else sys.argv[1:])]),
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "threads": args.threads,
            "repeats": args.repeats,
            "libraries": {"torch": _version("torch"), "onnxruntime": ort.__version__, "onnx": _version("onnx")},
            "frames": frames,
            "families": families,
        }
        args.json.write_text(json.dumps(record, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
