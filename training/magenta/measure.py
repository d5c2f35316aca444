"""CPU latency of the Magenta transformer: PyTorch vs the TFLite interpreter (FP16 file).

    python -m stylize.training.magenta.measure [--repeats 5] [--threads N] [--weights DIR]

Prints the median of ``--repeats`` timed runs (after one warm-up run) of, all in this one
process: the PyTorch ``Transformer`` (float32, batch 1, ``torch.inference_mode``) at 384x384
and 720x1280, and the TFLite interpreter (``ai_edge_litert``, XNNPACK, same thread count) on
``style_transfer_fp16_384.tflite`` at 384x384 (its only size). PyTorch uses the pretrained
weights when the FP16 file is found, random weights otherwise (speed does not depend on them).
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path

import numpy as np

DEFAULT_WEIGHTS = Path(__file__).resolve().parents[2].parent / "shared" / "weights" / "magenta"
TRANSFORMER_FILE = "style_transfer_fp16_384.tflite"


def _load() -> str:
    try:
        return " ".join(f"{v:.2f}" for v in os.getloadavg())
    except OSError:  # pragma: no cover - not on every platform
        return "n/a"


def _median_ms(fn, repeats: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000.0)
    return statistics.median(times)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m stylize.training.magenta.measure", description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--weights", type=Path, default=DEFAULT_WEIGHTS, help="folder with the Magenta .tflite files")
    args = parser.parse_args(argv)

    import torch

    from stylize.training.magenta.model import Transformer, load_pretrained

    torch.set_num_threads(args.threads)
    tflite_path = args.weights / TRANSFORMER_FILE
    if tflite_path.is_file():
        model = load_pretrained(tflite_path)
        weights = f"pretrained ({tflite_path.name})"
    else:
        model = Transformer().eval()
        weights = "random (FP16 .tflite not found)"
    print(f"torch {torch.__version__}, {args.threads} threads, median of {args.repeats} after 1 warm-up; weights: {weights}")
    print(f"load average before: {_load()} (other processes on these cores skew the figures)")

    rng = np.random.default_rng(0)
    style = torch.from_numpy(rng.standard_normal((1, 100)).astype(np.float32))
    for h, w in ((384, 384), (720, 1280)):
        x = torch.from_numpy(rng.random((1, 3, h, w), dtype=np.float32))

        def run_torch(x: torch.Tensor = x) -> None:
            with torch.inference_mode():
                model(x, style)

        print(f"pytorch  transformer {h}x{w}: {_median_ms(run_torch, args.repeats):8.1f} ms/frame")

    if not tflite_path.is_file():
        print(f"tflite   transformer 384x384: skipped ({tflite_path} not found)")
        return 0
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        print("tflite   transformer 384x384: skipped (ai_edge_litert not installed)")
        return 0
    interp = Interpreter(model_path=str(tflite_path), num_threads=args.threads)
    interp.allocate_tensors()
    inputs = interp.get_input_details()
    content = rng.random((1, 384, 384, 3), dtype=np.float32)
    for d in inputs:
        value = content if len(d["shape"]) == 4 and d["shape"][1] == 384 else style.numpy().reshape(d["shape"])
        interp.set_tensor(d["index"], value)
    out_index = interp.get_output_details()[0]["index"]

    def run_tflite() -> None:
        interp.invoke()
        interp.get_tensor(out_index)

    print(f"tflite   transformer 384x384: {_median_ms(run_tflite, args.repeats):8.1f} ms/frame (fp16 file, XNNPACK)")
    print(f"load average after: {_load()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
