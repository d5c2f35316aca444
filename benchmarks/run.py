"""The benchmark: engine latency per family, backend, precision, resolution and batch, the
live pipeline per stage, video conversion end to end, against two yardsticks measured in
the same run: the reference as the anchors run it (PyTorch eager FP32, the style re-encoded
every frame, no pipelining) and the machine's limit (a large matrix product).

    stylize bench --quick [--json FILE]        # CPU, under 2 minutes
    stylize bench                              # the full CPU matrix
    stylize bench --backend tensorrt           # one backend (tensorrt: on the GPU; see backend_plan)
    python -m stylize.benchmarks.gpu OUT_DIR           # the GPU matrix (see benchmarks/gpu.py)

The JSON schema is documented in benchmarks/README.md.
"""

from __future__ import annotations

import os
import resource
import statistics
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import av
import numpy as np
from tqdm import tqdm

from stylize.benchmarks.flops import frame_flops
from stylize.benchmarks.machine import describe, write_results
from stylize.benchmarks.weights import weights_for
from stylize.runtime.models import prepare_style
from stylize.runtime.store import Store

SCHEMA = "stylize-bench/1"
DATA = Path(os.environ.get("STYLIZE_TEST_SHARED", Path(__file__).resolve().parents[2] / "shared")) / "data"


@dataclass
class Case:
    family: str
    backend: str
    height: int
    width: int
    batch: int = 1
    repeats: int = 5


@dataclass
class Plan:
    device: str = "cpu"
    cases: list[Case] = field(default_factory=list)
    reference: list[tuple[str, int, int]] = field(default_factory=list)  # (family, h, w)
    live: tuple[str, str, str, int, int] | None = None  # (family, backend, clip, size, frames)
    video: tuple[str, str, str, int] | None = None  # (family, backend, clip, size)
    matmul_n: int = 2048


def quick_plan() -> Plan:
    cases = [Case("adain", b, 256, 256, repeats=3) for b in ("torch", "onnxruntime")]
    cases += [Case("magenta", b, h, w) for b in ("torch", "onnxruntime") for h, w in ((384, 384), (720, 1280))]
    cases += [Case("johnson", b, 384, 384, repeats=3) for b in ("torch", "onnxruntime")]
    return Plan(
        cases=cases,
        reference=[("adain", 256, 256), ("magenta", 384, 384), ("johnson", 384, 384)],
        live=("magenta", "onnxruntime", "imageio__realshort.mp4", 240, 20),
        video=("magenta", "onnxruntime", "imageio__realshort.mp4", 240),
    )


def full_cpu_plan() -> Plan:
    sizes = ((256, 256), (512, 512), (360, 640), (720, 1280))
    cases = [Case("adain", b, h, w, repeats=5) for b in ("torch", "onnxruntime") for h, w in sizes[:3]]
    cases += [Case("magenta", b, h, w, batch=n) for b in ("torch", "onnxruntime") for h, w in sizes for n in (1, 4)]
    cases += [Case("johnson", b, h, w) for b in ("torch", "onnxruntime") for h, w in sizes[:3]]
    return Plan(
        cases=cases,
        reference=[("adain", 512, 512), ("magenta", 384, 384), ("magenta", 720, 1280), ("johnson", 512, 512)],
        live=("magenta", "onnxruntime", "adain__cutBunny.mp4", 360, 60),
        video=("magenta", "onnxruntime", "adain__cutBunny.mp4", 360),
    )


# ---------------------------------------------------------------------------- yardsticks
def matmul_gflops(device: str, n: int, dtype: str = "fp32", repeats: int = 5) -> float:
    """Large matrix-product rate: the machine's practical limit for dense convolutions."""
    import torch

    dt = {"fp32": torch.float32, "fp16": torch.float16, "tf32": torch.float32}[dtype]
    a = torch.randn(n, n, device=device, dtype=dt)
    b = torch.randn(n, n, device=device, dtype=dt)
    if device == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = dtype == "tf32"
    times = []
    for i in range(repeats + 1):
        if device == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        for _ in range(10 if device == "cuda" else 1):
            a @ b
        if device == "cuda":
            torch.cuda.synchronize()
        if i:
            times.append((time.perf_counter() - t0) / (10 if device == "cuda" else 1))
    if device == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = False
    return 2 * n**3 / min(times) / 1e9  # the best run: a limit, not a typical value


# ---------------------------------------------------------------------------- engines
class Engines:
    """Builds each (family, backend) engine once; exports ONNX graphs when they are missing."""

    def __init__(self, store: Store, device: str) -> None:
        self.store, self.device = store, device
        self._weights: dict[str, tuple] = {}
        self._engines: dict[tuple[str, str], object] = {}

    def weights(self, family: str) -> tuple:
        if family not in self._weights:
            self._weights[family] = weights_for(family, self.store)
        return self._weights[family]

    def get(self, family: str, backend: str):  # noqa: ANN201
        key = (family, backend)
        if key not in self._engines:
            store, weights, _ = self.weights(family)
            self._engines[key] = open_bench_engine(store, weights, backend, self.device)
        return self._engines[key]


TORCH_VARIANTS = {
    # name: TorchEngine options
    "torch": {},
    "torch-fp32": {"precision": "fp32", "channels_last": False, "cuda_graphs": False, "compile": False},
    "torch-fp16": {"precision": "fp16", "channels_last": False, "cuda_graphs": False, "compile": False},
    "torch-fp16-cl": {"precision": "fp16", "channels_last": True, "cuda_graphs": False, "compile": False},
    "torch-fp16-cl-graphs": {"precision": "fp16", "channels_last": True, "cuda_graphs": True, "compile": False},
    "torch-fp16-compile": {"precision": "fp16", "channels_last": True, "cuda_graphs": False, "compile": "inductor"},
    "torch-fp16-aoti": {"precision": "fp16", "channels_last": True, "cuda_graphs": False, "compile": "aoti"},
}


def _exported(store: Store, weights, precision: str) -> Path:  # noqa: ANN001
    """The store's graphs of ``precision``, exported first where they are missing."""
    folder = store.graph_folder(weights.model_id, precision)
    if not (folder / "stylizer.onnx").is_file():
        from stylize.export.onnx_export import export_from_store

        export_from_store(store, weights, folder, precision=precision)
    return folder


def open_bench_engine(store: Store, weights, backend: str, device: str):  # noqa: ANN001, ANN201
    """``torch*`` (TORCH_VARIANTS), ``onnxruntime[-fp16]``, ``tensorrt[-fp16|-fp32]`` (tensorrt:
    FP16 graphs; its engines are built on the first call, which the timing leaves out)."""
    if backend in TORCH_VARIANTS:
        from stylize.runtime.backends.torch_backend import TorchEngine

        return TorchEngine(store, weights, device, **TORCH_VARIANTS[backend])
    if backend.startswith("onnxruntime"):
        from stylize.runtime.backends.onnxruntime_backend import OnnxRuntimeEngine

        precision = "fp16" if backend.endswith("fp16") else "fp32"
        _exported(store, weights, precision)
        return OnnxRuntimeEngine(store, weights, device=device, precision=precision)
    if backend in ("tensorrt", "tensorrt-fp16", "tensorrt-fp32"):
        from stylize.runtime.backends.tensorrt.engine import TensorRTEngine

        precision = "fp32" if backend.endswith("fp32") else "fp16"
        _exported(store, weights, precision)
        return TensorRTEngine(store, weights, device="cuda" if device == "cpu" else device, precision=precision)
    raise ValueError(f"unknown benchmark backend {backend!r}")


def check_backend(backend: str) -> None:
    """A one-line UserError where ``stylize bench --backend NAME`` cannot run here."""
    if backend.startswith("tensorrt"):
        from stylize.runtime.backends.tensorrt.keys import cudart_or_error, gpu_info, onnx_or_error, tensorrt_or_error

        tensorrt_or_error()
        onnx_or_error()
        cudart_or_error()
        gpu_info()


def backend_plan(backend: str, quick: bool = False) -> Plan:
    """``stylize bench --backend NAME``: auto is the CPU plan of every backend (``quick_plan``,
    ``full_cpu_plan``); torch or onnxruntime that plan's cases of the one backend; tensorrt
    both families on the GPU (720p; the full run 512x512 and 1080p too), beside the reference
    there and with the live pipeline and video conversion on TensorRT."""
    if backend.startswith("tensorrt"):
        sizes = ((720, 1280),) if quick else ((512, 512), (720, 1280), (1080, 1920))
        families = ("adain", "magenta", "johnson")
        return Plan(
            device="cuda",
            cases=[Case(f, backend, h, w, repeats=20) for f in families for h, w in sizes],
            reference=[(f, 720, 1280) for f in families],
            live=("magenta", backend, "adain__cutBunny.mp4", 360, 60 if quick else 120),
            video=("magenta", backend, "adain__cutBunny.mp4", 360),
            matmul_n=8192,
        )
    plan = quick_plan() if quick else full_cpu_plan()
    if backend == "auto":
        return plan
    plan.cases = [c for c in plan.cases if c.backend == backend]
    plan.live = (plan.live[0], backend, *plan.live[2:]) if plan.live else None
    plan.video = (plan.video[0], backend, *plan.video[2:]) if plan.video else None
    return plan


def _style_vector(engine, family: str) -> np.ndarray:  # noqa: ANN001
    rng = np.random.default_rng(1)
    return engine.encode_style(prepare_style(family, rng.random((512, 512, 3), dtype=np.float32)))


def time_case(engine, case: Case, device: str) -> list[float]:  # noqa: ANN001
    """Per-call latency in ms after warm-up. On CUDA the torch engine is timed on device
    tensors with CUDA events; elsewhere wall time of the call, host copies included."""
    vec = _style_vector(engine, case.family)
    rng = np.random.default_rng(0)
    frames = rng.random((case.batch, case.height, case.width, 3), dtype=np.float32)
    from stylize.runtime.backends.torch_backend import TorchEngine

    if device == "cuda" and isinstance(engine, TorchEngine):
        import torch

        x = engine._nchw(frames)
        v = torch.from_numpy(vec)[None].to("cuda")
        with torch.inference_mode():
            for _ in range(3):
                engine.forward_device(x, v, 1.0)
            times = []
            for _ in range(case.repeats):
                start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
                start.record()
                engine.forward_device(x, v, 1.0)
                end.record()
                end.synchronize()
                times.append(start.elapsed_time(end))
        return times
    uint8 = engine.capabilities.uint8_frames
    data = (frames * 255).astype(np.uint8) if uint8 else frames
    run = (lambda: engine.stylize_uint8(data, vec, 1.0)) if uint8 else (lambda: engine.stylize(data, vec, 1.0))
    run()
    times = []
    for _ in range(case.repeats):
        t0 = time.perf_counter()
        run()
        times.append((time.perf_counter() - t0) * 1e3)
    return times


def limit_for(backend: str, matmul: dict[str, float]) -> float:
    """The matrix-product rate an engine is held against: FP16 for FP16 engines; on CUDA,
    FP32 engines against TF32 (cuDNN runs FP32 convolutions in TF32 by default)."""
    if "fp16" in backend and "fp16" in matmul:
        return matmul["fp16"]
    return matmul.get("tf32", matmul["fp32"])


def _pct(values: list[float], q: float) -> float:
    return float(np.percentile(values, q))


# ---------------------------------------------------------------------------- reference
def reference_ms(engines: Engines, family: str, h: int, w: int, device: str, repeats: int = 3) -> float:
    """The anchors' way: PyTorch eager FP32, the style image re-encoded for every frame."""
    import torch

    from stylize.training.models import load_stylizer

    store, weights, _ = engines.weights(family)
    net = load_stylizer(store, weights).to(device)
    rng = np.random.default_rng(2)
    style = torch.from_numpy(prepare_style(family, rng.random((512, 512, 3), dtype=np.float32))).permute(2, 0, 1)[None].to(device)
    frame = torch.rand(1, 3, h, w, device=device)

    def step() -> None:
        with torch.no_grad():
            vec = net.encode_style(style)
            out = net(frame, vec, 1.0)
            out.cpu()

    step()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        step()
        times.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(times)


def reference_video_fps(engines: Engines, family: str, clip: Path, size: int, device: str, max_frames: int = 60) -> float:
    """The anchors' video loop: decode, re-encode the style, stylise, encode; one at a time."""
    import torch

    from stylize.runtime.sizing import encodable
    from stylize.training.models import load_stylizer

    store, weights, _ = engines.weights(family)
    net = load_stylizer(store, weights).to(device)
    rng = np.random.default_rng(2)
    style = torch.from_numpy(prepare_style(family, rng.random((512, 512, 3), dtype=np.float32))).permute(2, 0, 1)[None].to(device)
    with tempfile.TemporaryDirectory() as tmp, av.open(str(clip)) as src:
        out = av.open(str(Path(tmp) / "ref.mp4"), "w")
        stream = None
        n = 0
        t0 = time.perf_counter()
        for frame in src.decode(video=0):
            rgb = frame.to_ndarray(format="rgb24")
            w, h = encodable(rgb.shape[1], rgb.shape[0], size)
            x = torch.from_numpy(rgb).permute(2, 0, 1)[None].float().div(255).to(device)
            x = torch.nn.functional.interpolate(x, size=(h, w), mode="bilinear", align_corners=False)
            with torch.no_grad():
                y = net(x, net.encode_style(style), 1.0)
            img = (y[0].clamp(0, 1).permute(1, 2, 0) * 255).byte().cpu().numpy()
            if stream is None:
                stream = out.add_stream("libx264", rate=24)
                stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
            for packet in stream.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                out.mux(packet)
            n += 1
            if n >= max_frames:
                break
        for packet in stream.encode(None):
            out.mux(packet)
        out.close()
        return n / (time.perf_counter() - t0)


# ---------------------------------------------------------------------------- pipelines
def live_stages(engines: Engines, family: str, backend: str, clip: Path, size: int, frames: int) -> dict[str, object]:
    """The live loop headless on a clip used as the camera (paced at its rate), recording its
    output (``benchmarks.realtime.live_rate``)."""
    from stylize.benchmarks.realtime import live_rate

    row = live_rate(engines.get(family, backend), family, clip, size, frames)
    return {**row, "size": size, "fps": row["delivered_fps"]}


def video_end_to_end(engines: Engines, family: str, backend: str, clip: Path, size: int, device: str) -> dict[str, object]:
    from stylize.runtime.frames import FrameStylizer
    from stylize.runtime.video.convert import convert_video

    engine = engines.get(family, backend)
    vec = _style_vector(engine, family)
    with tempfile.TemporaryDirectory() as tmp:
        summary = convert_video(clip, Path(tmp) / "out.mp4", FrameStylizer(engine, vec, alpha=1.0, luminance_only=False, temporal="off"), size=size, progress=False, preset="veryfast")
    w, h = summary.output_size
    engine_ms = statistics.median(time_case(engine, Case(family, backend, h, w, repeats=5), "cpu"))
    ref_fps = reference_video_fps(engines, family, clip, size, device)
    engine_fps = 1e3 / engine_ms
    return {
        "family": family, "backend": engine.backend, "clip": clip.name, "size": [w, h], "frames": summary.frames_out,
        "end_to_end_fps": summary.fps, "engine_fps": engine_fps, "pipeline_efficiency": summary.fps / engine_fps,
        "stage_busy_s": {"decode": summary.decode_s, "process": summary.process_s, "encode": summary.encode_s},
        "reference_fps": ref_fps, "speedup_vs_reference": summary.fps / ref_fps,
    }  # fmt: skip


# ---------------------------------------------------------------------------- the run
def run(plan: Plan, store: Store | None = None, progress: bool = True) -> dict[str, object]:
    store = store or Store()
    device = plan.device
    engines = Engines(store, device)
    t_start = time.perf_counter()
    result: dict[str, object] = {"schema": SCHEMA, "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "machine": describe()}
    matmul = {"fp32": matmul_gflops(device, plan.matmul_n)}
    if device == "cuda":
        matmul["fp16"] = matmul_gflops(device, 8192, "fp16")
        matmul["tf32"] = matmul_gflops(device, 8192, "tf32")
    result["matmul_gflops"] = matmul
    refs = {}
    for family, h, w in plan.reference:
        refs[(family, h, w)] = reference_ms(engines, family, h, w, device)
    result["reference"] = [{"family": f, "height": h, "width": w, "ms_per_frame": ms} for (f, h, w), ms in refs.items()]

    rows = []
    encode_rows = []
    for case in tqdm(plan.cases, desc="engines", unit="case", disable=not progress):
        engine = engines.get(case.family, case.backend)
        if device == "cuda":
            import torch

            torch.cuda.reset_peak_memory_stats()
        times = time_case(engine, case, device)
        p50 = _pct(times, 50)
        peak_gpu = None
        if device == "cuda" and engine.backend.startswith("torch"):  # torch's allocator sees only its own memory
            import torch

            peak_gpu = torch.cuda.max_memory_allocated() / 2**20
        achieved = frame_flops(case.family, case.height, case.width, case.batch) / (p50 / 1e3) / 1e9
        limit = limit_for(engine.backend, matmul)
        ref = refs.get((case.family, case.height, case.width))
        rows.append({
            **asdict(case), "backend": engine.backend, "weights": engines.weights(case.family)[2],
            "p50_ms": p50, "p95_ms": _pct(times, 95), "p99_ms": _pct(times, 99), "samples_ms": times,
            "fps": case.batch * 1e3 / p50, "gflops": achieved, "share_of_matmul": achieved / limit,
            "speedup_vs_reference": (ref * case.batch / p50) if ref else None, "peak_gpu_mb": peak_gpu,
        })  # fmt: skip
        if not any(r["family"] == case.family and r["backend"] == engine.backend for r in encode_rows):
            rng = np.random.default_rng(3)
            style = prepare_style(case.family, rng.random((512, 512, 3), dtype=np.float32))
            engine.encode_style(style)
            ts = []
            for _ in range(3):
                t0 = time.perf_counter()
                engine.encode_style(style)
                ts.append((time.perf_counter() - t0) * 1e3)
            encode_rows.append({"family": case.family, "backend": engine.backend, "ms": statistics.median(ts)})
    result["engines"] = rows
    result["style_encoding"] = encode_rows
    if plan.live and (DATA / "video" / plan.live[2]).is_file():
        family, backend, clip, size, frames = plan.live
        result["live"] = live_stages(engines, family, backend, DATA / "video" / clip, size, frames)
    if plan.video and (DATA / "video" / plan.video[2]).is_file():
        family, backend, clip, size = plan.video
        result["video"] = video_end_to_end(engines, family, backend, DATA / "video" / clip, size, device)
    result["peak_host_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    result["wall_s"] = time.perf_counter() - t_start
    return result


# ---------------------------------------------------------------------------- output
def table(result: dict[str, object]) -> str:
    m = result["machine"]
    gpu = m["gpu"]["name"] if m.get("gpu") else "no GPU"
    mm = ", ".join(f"{k} {v:,.0f}" for k, v in result["matmul_gflops"].items())
    lines = [f"machine: {m['cpu']} ({m['cores']} cores), {gpu}; matrix product GFLOP/s: {mm}", ""]
    lines.append(f"{'family':<8} {'backend':<26} {'size':>10} {'batch':>5} {'p50 ms':>9} {'p95 ms':>9} {'fps':>8} {'GFLOP/s':>8} {'of limit':>8} {'vs ref':>7}  weights")
    for r in result["engines"]:
        speed = f"{r['speedup_vs_reference']:.1f}x" if r["speedup_vs_reference"] else "-"
        lines.append(
            f"{r['family']:<8} {r['backend']:<26} {r['height']:>4}x{r['width']:<5} {r['batch']:>5} {r['p50_ms']:>9.1f} {r['p95_ms']:>9.1f} "
            f"{r['fps']:>8.2f} {r['gflops']:>8.1f} {r['share_of_matmul']:>7.0%} {speed:>7}  {r['weights']}"
        )
    lines.append("")
    lines += [f"reference (torch eager FP32, style re-encoded per frame): {r['family']} {r['height']}x{r['width']} {r['ms_per_frame']:.1f} ms/frame" for r in result["reference"]]
    lines += [f"style encoding (once per style): {r['family']} {r['backend']} {r['ms']:.1f} ms" for r in result["style_encoding"]]
    if "live" in result:
        lv = result["live"]
        st = ", ".join(f"{k} {v:.1f}" for k, v in lv["stages_ms"].items())
        lines.append(f"live ({lv['family']}, {lv['backend']}, {lv['clip']} at {lv['size']}): {lv['fps']:.1f} fps; median ms: {st}")
    if "video" in result:
        v = result["video"]
        lines.append(
            f"video ({v['family']}, {v['backend']}, {v['clip']} at {v['size'][0]}x{v['size'][1]}): end to end {v['end_to_end_fps']:.1f} fps, "
            f"engine only {v['engine_fps']:.1f} fps (pipeline efficiency {v['pipeline_efficiency']:.0%}); reference {v['reference_fps']:.1f} fps "
            f"-> {v['speedup_vs_reference']:.1f}x"
        )
    lines.append(f"peak host memory {result['peak_host_mb']:.0f} MB; benchmark wall time {result['wall_s']:.0f} s")
    return "\n".join(lines)


def plot(result: dict[str, object], path: Path) -> Path | None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    fig, ax = plt.subplots(figsize=(8, 5))
    series: dict[tuple[str, str, int], list[tuple[float, float]]] = {}
    for r in result["engines"]:
        series.setdefault((r["family"], r["backend"], r["batch"]), []).append((r["height"] * r["width"] / 1e6, r["p50_ms"] / r["batch"]))
    for (family, backend, batch), pts in sorted(series.items()):
        pts.sort()
        ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", label=f"{family} {backend}" + (f" b{batch}" if batch > 1 else ""))
    ax.set_xlabel("megapixels per frame")
    ax.set_ylabel("latency per frame, ms (p50)")
    ax.set_yscale("log")
    ax.grid(True, which="both", alpha=0.3)
    m = result["machine"]
    ax.set_title(f"{m['gpu']['name'] if m.get('gpu') else m['cpu']} ({m['cores']} cores)", fontsize=9)
    ax.legend(fontsize=7)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def save(result: dict[str, object], folder: Path, name: str) -> tuple[Path, Path | None]:
    """``folder/name.json`` and, where matplotlib is installed, ``folder/name.png``."""
    json_path = write_results(result, folder, name)
    return json_path, plot(result, json_path.with_suffix(".png"))
