"""`stylize live` headless, with a clip as the camera; key handling; bad sources."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from stylize.cli import main

pytest.importorskip("torch")


def test_headless_clip_as_camera_records_n_frames(adain_store: Path, data_dir: Path, tmp_path: Path, capsys) -> None:  # noqa: ANN001
    import av

    out = tmp_path / "live.mp4"
    code = main([
        "live", "--camera", str(data_dir / "video" / "imageio__realshort.mp4"), "--loop",
        "--style", str(data_dir / "styles" / "tfjs__bricks.jpg"), "--size", "32",
        "--no-window", "--frames", "4", "--record", str(out),
    ])  # fmt: skip
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "4 frames" in captured.out
    with av.open(str(out)) as c:
        frames = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
    assert len(frames) == 4
    assert frames[0].shape[0] == 32
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_missing_camera_says_what_was_tried(adain_store: Path, data_dir: Path, capsys) -> None:  # noqa: ANN001
    code = main(["live", "--camera", "7", "--style", str(data_dir / "styles" / "tfjs__bricks.jpg"), "--no-window"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1
    assert "camera 7 is not available" in err and "devices found" in err


def test_missing_file_source(adain_store: Path, data_dir: Path, tmp_path: Path, capsys) -> None:  # noqa: ANN001
    code = main(["live", "--camera", str(tmp_path / "nope.mp4"), "--style", str(data_dir / "styles" / "tfjs__bricks.jpg"), "--no-window"])
    assert code == 2 and "camera source not found" in capsys.readouterr().err


def test_keys_change_the_session_state() -> None:
    from stylize.runtime.engine import Engine
    from stylize.runtime.live.session import LiveOptions, LiveSession

    class _Engine(Engine):
        backend = "fake"

        def encode_style(self, style: np.ndarray) -> np.ndarray:
            return np.zeros(3, np.float32)

        def stylize(self, frames: np.ndarray, style: np.ndarray, alpha: float = 1.0) -> np.ndarray:
            return frames * alpha + style.mean()

    vectors = [np.zeros(3, np.float32), np.ones(3, np.float32)]
    recolored = [np.full(3, 0.5, np.float32), np.full(3, 0.25, np.float32)]
    options = LiveOptions(side=360, alpha=1.0, preserve_color=None, temporal="off", window=False)
    session = LiveSession(_Engine(), vectors, ["a", "b"], options, recolor=lambda rgb: recolored)
    assert session.handle_key(ord("2")) and session.style_index == 1
    assert session.handle_key(ord("9")) and session.style_index == 1  # no 9th style: ignored
    session.handle_key(ord("["))
    assert session.opt.alpha == pytest.approx(0.9)
    session.handle_key(ord("]"))
    session.handle_key(ord("]"))
    assert session.opt.alpha == 1.0
    session.handle_key(ord("c"))  # off -> color: the styles recoloured to the next frame
    assert session.opt.preserve_color == "color"
    session.process(np.zeros((40, 60, 3), np.uint8))
    assert session.vectors is recolored
    session.handle_key(ord("c"))
    assert session.opt.preserve_color == "luminance" and session.vectors == vectors
    session.handle_key(ord("c"))
    assert session.opt.preserve_color is None
    session.handle_key(ord("o"))
    assert session.opt.show_original
    frame = np.full((40, 60, 3), (0, 0, 255), np.uint8)  # pure red in BGR
    out_bgr, rgb = session.process(frame)
    assert rgb.shape == (360, 540, 3) and rgb.dtype == np.uint8 and rgb[0, 0].tolist() == [255, 0, 0]
    view = session.compose(out_bgr, rgb)
    assert view.shape == (360, 1080, 3)
    assert not session.handle_key(ord("q")) and not session.handle_key(27)
