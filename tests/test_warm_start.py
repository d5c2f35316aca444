"""Warm starts: the torch engine compiled ahead of time (AOTInductor) once per frame size,
kept in the store, loaded by the next process without compiling again.

Compiled here on the CPU (the same code path as CUDA, with the device in the package's
name); on a CUDA machine tests/test_torch_cuda.py runs it on the GPU.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")


@pytest.mark.slow
def test_second_engine_loads_the_compiled_stylizer_without_compiling(magenta_store: Path, caplog: pytest.LogCaptureFixture) -> None:
    from stylize.runtime.backends.torch_backend import TorchEngine
    from stylize.runtime.models import find_weights
    from stylize.runtime.store import Store

    store = Store(magenta_store)
    weights = find_weights(store, "magenta")
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 256, (1, 24, 40, 3), dtype=np.uint8)
    vec = rng.standard_normal(100).astype(np.float32)
    eager = TorchEngine(store, weights, "cpu", compile=False).stylize_uint8(frames, vec, 0.6)

    cold = TorchEngine(store, weights, "cpu", compile="aoti")
    with caplog.at_level(logging.INFO, logger="stylize"):
        first = cold.stylize_uint8(frames, vec, 0.6)
    assert cold.aoti is not None and cold.aoti.compiled == 1 and cold.backend.endswith("-aoti")
    assert "compiling the stylizer for 1x3x24x40" in caplog.text
    packages = list((store.root / "compiled").rglob("*.pt2"))
    assert len(packages) == 1 and "stylizer-1x3x24x40-fp32-cpu-torch" in packages[0].name
    assert not [p for p in packages[0].parent.iterdir() if p.name.startswith(".")]  # nothing half-written left
    # tolerance: compiled kernels reorder float sums; one 8-bit level
    assert np.abs(first.astype(int) - eager.astype(int)).max() <= 1

    warm = TorchEngine(store, weights, "cpu", compile="aoti")
    again = warm.stylize_uint8(frames, vec, 0.6)
    assert warm.aoti.compiled == 0 and warm.aoti.loaded == 1
    assert np.array_equal(again, first)
    alpha_one = warm.stylize_uint8(frames, vec, 1.0)  # alpha is an input: no second package
    assert warm.aoti.compiled == 0 and not np.array_equal(alpha_one, again)

    packages[0].write_bytes(b"not a package")  # damaged: compiled again, with one warning
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="stylize"):
        repaired = TorchEngine(store, weights, "cpu", compile="aoti")
        assert np.array_equal(repaired.stylize_uint8(frames, vec, 0.6), first)
    assert repaired.aoti.compiled == 1 and "could not be loaded" in caplog.text


def test_package_names_hold_what_the_compiled_code_depends_on() -> None:
    from stylize.runtime.backends.torch_compiled import package_name

    a = package_name("stylizer", (1, 3, 720, 1280), "fp16", True, "nvidia-h100-80gb-hbm3-sm90", "2.11.0+cu130")
    assert a == "stylizer-1x3x720x1280-fp16-cl-nvidia-h100-80gb-hbm3-sm90-torch2.11.0-cu130"
    others = [
        package_name("stylizer", (1, 3, 1080, 1920), "fp16", True, "nvidia-h100-80gb-hbm3-sm90", "2.11.0+cu130"),
        package_name("stylizer", (1, 3, 720, 1280), "fp32", True, "nvidia-h100-80gb-hbm3-sm90", "2.11.0+cu130"),
        package_name("stylizer", (1, 3, 720, 1280), "fp16", False, "nvidia-h100-80gb-hbm3-sm90", "2.11.0+cu130"),
        package_name("stylizer", (1, 3, 720, 1280), "fp16", True, "nvidia-h200-sm90", "2.11.0+cu130"),
        package_name("stylizer", (1, 3, 720, 1280), "fp16", True, "nvidia-h100-80gb-hbm3-sm90", "2.12.0+cu130"),
    ]
    assert len({a, *others}) == 6


def test_inductor_caches_go_into_the_store_unless_chosen(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from stylize.runtime.backends.torch_compiled import use_inductor_cache
    from stylize.runtime.store import Store

    monkeypatch.delenv("TORCHINDUCTOR_CACHE_DIR", raising=False)
    monkeypatch.setenv("TRITON_CACHE_DIR", "/somewhere/else")
    use_inductor_cache(Store(tmp_path))
    import os

    assert os.environ["TORCHINDUCTOR_CACHE_DIR"] == str(tmp_path / "compiled" / "inductor")
    assert os.environ["TRITON_CACHE_DIR"] == "/somewhere/else"
