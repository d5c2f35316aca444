"""`stylize video` end to end: audio and frame count kept, the style encoded once, SIGINT."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from stylize.cli import main

pytest.importorskip("torch")


def test_video_keeps_frames_and_audio(adain_store: Path, data_dir: Path, tmp_path: Path, capsys) -> None:  # noqa: ANN001
    import av

    src = data_dir / "video" / "imageio__realshort.mp4"
    out = tmp_path / "out.mp4"
    code = main(["video", str(src), "--style", str(data_dir / "styles" / "tfjs__bricks.jpg"), "--size", "32", "--quiet", "-o", str(out)])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    with av.open(str(src)) as a, av.open(str(out)) as b:
        assert sum(1 for _ in b.decode(video=0)) == sum(1 for _ in a.decode(video=0))
        assert len(b.streams.audio) == len(a.streams.audio) == 1
        assert b.streams.audio[0].codec_context.channels == a.streams.audio[0].codec_context.channels


def test_style_is_encoded_once_per_run(adain_store: Path, data_dir: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from stylize.runtime.backends.torch_backend import TorchEngine

    calls = {"encode": 0, "stylize": 0}
    real_encode, real_stylize, real_uint8 = TorchEngine.encode_style, TorchEngine.stylize, TorchEngine.stylize_uint8

    def encode(self, style):  # noqa: ANN001, ANN202
        calls["encode"] += 1
        return real_encode(self, style)

    def stylize(self, *a, **k):  # noqa: ANN002, ANN003, ANN202
        calls["stylize"] += 1
        return real_stylize(self, *a, **k)

    def stylize_uint8(self, *a, **k):  # noqa: ANN002, ANN003, ANN202 (the bytes path: one call per frame too)
        calls["stylize"] += 1
        return real_uint8(self, *a, **k)

    monkeypatch.setattr(TorchEngine, "encode_style", encode)
    monkeypatch.setattr(TorchEngine, "stylize", stylize)
    monkeypatch.setattr(TorchEngine, "stylize_uint8", stylize_uint8)
    monkeypatch.setenv("STYLIZE_HOME", str(tmp_path / "fresh_cache_store"))
    import shutil

    shutil.copytree(adain_store / "weights", tmp_path / "fresh_cache_store" / "weights")
    style = data_dir / "styles" / "tfjs__zigzag.jpg"
    src = data_dir / "video" / "imageio__realshort.mp4"
    assert main(["video", str(src), "--style", str(style), "--size", "32", "--quiet", "-o", str(tmp_path / "a.mp4")]) == 0
    assert calls == {"encode": 1, "stylize": 36}
    assert main(["video", str(src), "--style", str(style), "--size", "32", "--quiet", "-o", str(tmp_path / "b.mp4")]) == 0
    assert calls["encode"] == 1  # the second run finds the style vector on disk


def test_sigint_leaves_no_output_and_exits_130(adain_store: Path, data_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "out.mp4"
    proc = subprocess.Popen(
        [sys.executable, "-m", "stylize", "video", str(data_dir / "video" / "adain__cutBunny.mp4"),
         "--style", str(data_dir / "styles" / "tfjs__bricks.jpg"), "--size", "64", "-o", str(out)],
        stderr=subprocess.PIPE, text=True, env={**os.environ, "STYLIZE_HOME": str(adain_store)},
    )  # fmt: skip
    deadline = time.monotonic() + 120
    seen = ""
    while time.monotonic() < deadline and "frame/s" not in seen:  # wait until frames flow
        seen += proc.stderr.read(1)
    time.sleep(1.0)
    t0 = time.monotonic()
    proc.send_signal(signal.SIGINT)
    proc.stderr.read()
    code = proc.wait(timeout=30)
    assert time.monotonic() - t0 < 5
    assert code == 130
    assert not out.exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_torch_uint8_path_matches_float_path(adain_store: Path) -> None:
    from conftest import rng_image

    from stylize.runtime.backends.torch_backend import TorchEngine
    from stylize.runtime.models import find_weights
    from stylize.runtime.store import Store

    store = Store(adain_store)
    engine = TorchEngine(store, find_weights(store, "adain"), "cpu")
    frames = (np.stack([rng_image(48, 64, 1), rng_image(48, 64, 2)]) * 255).astype(np.uint8)
    vec = engine.encode_style(rng_image(64, 64, 3))
    via_float = np.clip(engine.stylize(frames.astype(np.float32) / 255, vec, 0.8), 0, 1) * 255
    got = engine.stylize_uint8(frames, vec, 0.8)
    assert got.dtype == np.uint8 and got.shape == frames.shape
    assert np.abs(got.astype(np.float32) - via_float).max() <= 0.5 + 1e-3  # rounding only
