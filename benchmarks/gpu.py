"""The whole GPU matrix in one command (under 8 minutes on an H100):

    python -m stylize.benchmarks.gpu OUT_DIR [--quick]

torch CUDA FP32 / FP16 / FP16 channels-last / + CUDA graphs / torch.compile for both
families at 512x512, 720p and 1080p; ONNX Runtime CUDA where onnxruntime-gpu is installed;
TensorRT FP16 and FP32 where it runs (``runtime.backends.tensorrt``); the reference; the live pipeline per stage; video conversion end to end. Writes
OUT_DIR/gpu.json and OUT_DIR/gpu.png; then the stabiliser's cost beside the CUDA engine
(``benchmarks.temporal_device``: OUT_DIR/temporal_device.json).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from stylize.benchmarks.run import Case, Plan, run, save, table

SIZES = ((512, 512), (720, 1280), (1080, 1920))
VARIANTS = ("torch-fp32", "torch-fp16", "torch-fp16-cl", "torch-fp16-cl-graphs", "torch-fp16-compile")


def gpu_plan(quick: bool = False) -> Plan:
    variants = list(VARIANTS[:4] if quick else VARIANTS)
    try:
        import onnxruntime

        if "CUDAExecutionProvider" in onnxruntime.get_available_providers():
            variants += ["onnxruntime", "onnxruntime-fp16"]
    except ImportError:
        pass
    from stylize.runtime.backends.tensorrt.keys import tensorrt_unavailable

    if tensorrt_unavailable("cuda") is None:
        variants += ["tensorrt-fp16", "tensorrt-fp32"]
    cases = [Case(f, v, h, w, repeats=20) for f in ("adain", "magenta") for v in variants for h, w in SIZES]
    cases += [Case(f, "torch-fp16-cl-graphs", 720, 1280, batch=4, repeats=20) for f in ("adain", "magenta")]
    return Plan(
        device="cuda",
        cases=cases,
        reference=[("adain", 512, 512), ("adain", 1080, 1920), ("magenta", 512, 512), ("magenta", 1080, 1920)],
        live=("adain", "torch", "adain__cutBunny.mp4", 360, 120),
        video=("adain", "torch", "adain__cutBunny.mp4", 360),
        matmul_n=8192,
    )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("out", type=Path, help="folder for gpu.json and gpu.png")
    p.add_argument("--quick", action="store_true", help="leave out torch.compile")
    p.add_argument("--no-temporal", action="store_true", help="leave out the stabiliser's cost (benchmarks.temporal_device)")
    args = p.parse_args()
    import torch

    if not torch.cuda.is_available():
        raise SystemExit("benchmarks.gpu: no CUDA device visible to PyTorch")
    result = run(gpu_plan(args.quick))
    print(table(result))
    json_path, png = save(result, args.out, "gpu")
    print(f"results: {json_path}" + (f", plot: {png}" if png else ""))
    if not args.no_temporal:
        from stylize.benchmarks import temporal_device

        temporal_device.main(["--device", "cuda", "--out", str(args.out / "temporal_device.json")])


if __name__ == "__main__":
    main()
