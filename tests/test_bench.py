"""Benchmark plumbing: FLOP counts kept in code match the networks; output files and table."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip("torch")

from stylize.benchmarks import flops  # noqa: E402
from stylize.benchmarks.run import limit_for, save, table  # noqa: E402


def test_macs_per_pixel_constants_match_the_networks() -> None:
    adain = flops.count_macs_per_pixel("adain", size=64)
    assert adain == {"encoder": flops.ADAIN_ENCODER_MACS_PER_PIXEL, "decoder": flops.ADAIN_DECODER_MACS_PER_PIXEL}
    magenta = flops.count_macs_per_pixel("magenta", size=64)
    assert magenta["transformer"] == flops.MAGENTA_TRANSFORMER_MACS_PER_PIXEL
    assert magenta["predictor_per_image"] == flops.MAGENTA_PREDICTOR_MACS_PER_IMAGE
    assert flops.frame_flops("adain", 512, 512) == pytest.approx(2 * 482_697 * 512 * 512)


def test_limits() -> None:
    assert limit_for("torch-cuda-fp16-cl-compile", {"fp32": 50.0, "fp16": 700.0, "tf32": 380.0}) == 700.0
    assert limit_for("torch-cuda-fp32", {"fp32": 50.0, "fp16": 700.0, "tf32": 380.0}) == 380.0
    assert limit_for("onnxruntime", {"fp32": 80.0}) == 80.0


def test_table_json_and_plot(tmp_path: Path) -> None:
    result = {
        "schema": "stylize-bench/1",
        "machine": {"cpu": "test cpu", "cores": 2, "gpu": None},
        "matmul_gflops": {"fp32": 80.0},
        "reference": [{"family": "adain", "height": 256, "width": 256, "ms_per_frame": 900.0}],
        "engines": [
            {"family": "adain", "backend": b, "height": s, "width": s, "batch": 1, "weights": "random", "p50_ms": ms,
             "p95_ms": ms * 1.1, "p99_ms": ms * 1.2, "fps": 1e3 / ms, "gflops": 60.0, "share_of_matmul": 0.75,
             "speedup_vs_reference": 900.0 / ms if s == 256 else None}
            for b, s, ms in (("torch", 256, 600.0), ("torch", 512, 2400.0), ("onnxruntime", 256, 450.0))
        ],  # fmt: skip
        "style_encoding": [{"family": "adain", "backend": "torch", "ms": 700.0}],
        "peak_host_mb": 1000.0,
        "wall_s": 60.0,
    }
    text = table(result)
    assert "adain" in text and "1.5x" in text and "2.0x" in text
    json_path, png = save(result, tmp_path, "r")
    assert json.loads(json_path.read_text())["engines"][0]["p50_ms"] == 600.0
    if png is not None:
        assert png.stat().st_size > 1000
