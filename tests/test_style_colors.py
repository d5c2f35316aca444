"""--style-colors: the result's colours moved to the style's (runtime.color.ColorTransfer)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from conftest import one_line_error, rng_image, run_cli

from stylize.options import check_colors
from stylize.runtime.color import ColorTransfer, color_stats, mix_color_stats
from stylize.runtime.engine import Engine
from stylize.runtime.errors import UserError
from stylize.runtime.frames import FrameStylizer
from stylize.runtime.images import load_image


def _tinted(seed: int, scale: tuple[float, float, float], shift: tuple[float, float, float]) -> np.ndarray:
    return np.clip(rng_image(64, 80, seed) * np.float32(scale) + np.float32(shift), 0.0, 1.0).astype(np.float32)


def test_the_map_moves_mean_and_covariance_to_the_targets() -> None:
    source = _tinted(0, (0.5, 0.3, 0.4), (0.2, 0.3, 0.1))
    target = color_stats(_tinted(1, (0.3, 0.6, 0.2), (0.5, 0.1, 0.4)))
    mean, cov = color_stats(ColorTransfer(color_stats(source), target).apply(source))
    np.testing.assert_allclose(mean, target[0], atol=2e-3)
    np.testing.assert_allclose(cov, target[1], atol=2e-4)
    u8 = (source * 255).round().astype(np.uint8)  # the bytes path gives the same colours
    moved = ColorTransfer(color_stats(u8), target).apply(u8)
    assert moved.dtype == np.uint8
    np.testing.assert_allclose(color_stats(moved)[0], target[0], atol=4e-3)


def test_mixed_styles_pool_their_pixels() -> None:
    a, b = _tinted(2, (0.4, 0.4, 0.4), (0.5, 0.0, 0.0)), _tinted(3, (0.4, 0.4, 0.4), (0.0, 0.0, 0.5))
    mean, cov = mix_color_stats([color_stats(a), color_stats(b)], [1.0, 1.0])
    pooled = color_stats(np.concatenate([a, b]))
    np.testing.assert_allclose(mean, pooled[0], atol=1e-6)
    np.testing.assert_allclose(cov, pooled[1], atol=1e-4)  # np.cov's n-1: within rounding


class _Engine(Engine):
    backend = "fake"

    def encode_style(self, style: np.ndarray) -> np.ndarray:
        return np.zeros(3, np.float32)

    def stylize(self, frames: np.ndarray, style: np.ndarray, alpha: float = 1.0) -> np.ndarray:
        return np.clip(frames[..., ::-1] * 0.7 + 0.2, 0.0, 1.0).astype(np.float32)


def test_a_video_gets_one_map_from_its_first_frame() -> None:
    target = color_stats(_tinted(4, (0.3, 0.6, 0.2), (0.5, 0.1, 0.4)))
    fs = FrameStylizer(_Engine(), np.zeros(3, np.float32), alpha=1.0, luminance_only=False, temporal="off")
    fs.set_style_colors(target)
    first = (_tinted(5, (1, 1, 1), (0, 0, 0)) * 255).astype(np.uint8)[None]
    other = (_tinted(6, (0.2, 0.9, 0.5), (0.6, 0.0, 0.3)) * 255).astype(np.uint8)[None]  # very different colours
    fs(first)
    transfer = fs.color_transfer
    assert transfer is not None
    out = fs(np.concatenate([other, first]))
    assert fs.color_transfer is transfer  # not recomputed from the later frames
    plain = _Engine().stylize_uint8(np.concatenate([other, first]), np.zeros(3, np.float32), 1.0)
    np.testing.assert_array_equal(out, transfer.apply(plain))
    fs.set_style_colors(target)  # the same target: the map stays
    assert fs.color_transfer is transfer
    fs.set_style_colors(color_stats(first))  # another style: computed again on the next frame
    assert fs.color_transfer is None
    fs(other)
    assert fs.color_transfer is not None and fs.color_transfer is not transfer


def test_contradictions_refused() -> None:
    check_colors(None, True)
    check_colors("luminance", False)
    for mode in ("color", "luminance"):
        with pytest.raises(UserError, match="do not go together"):
            check_colors(mode, True)


def _distance(rgb: np.ndarray, target: tuple[np.ndarray, np.ndarray]) -> float:
    mean, cov = color_stats(rgb)
    return float(np.linalg.norm(mean - target[0]) + np.linalg.norm(cov - target[1]))


def test_cli_image_takes_the_styles_colours(magenta_store: Path, data_dir: Path, tmp_path: Path, capsys) -> None:  # noqa: ANN001
    content = data_dir / "content" / "adain__sailboat.jpg"
    style = data_dir / "styles" / "adain__mondrian.jpg"
    args = ["--home", magenta_store, "image", content, "--style", style, "--size", "128", "--model", "magenta"]
    code, _, err = run_cli(capsys, *args, "--style-colors", "--preserve-color", "-o", tmp_path / "x.png")
    assert code == 2 and "do not go together" in one_line_error(err)
    assert not (tmp_path / "x.png").exists()
    assert run_cli(capsys, *args, "-o", tmp_path / "plain.png")[0] == 0
    assert run_cli(capsys, *args, "--style-colors", "-o", tmp_path / "colors.png")[0] == 0
    target = color_stats(load_image(style).rgb)
    before = _distance(load_image(tmp_path / "plain.png").rgb, target)
    after = _distance(load_image(tmp_path / "colors.png").rgb, target)
    assert after < 0.25 * before, (before, after)


def test_api_frames_take_the_styles_colours_once(magenta_store: Path, data_dir: Path) -> None:
    from stylize import Stylizer

    s = Stylizer("magenta", home=magenta_store, backend="torch", device="cpu")
    style = data_dir / "styles" / "msgnet21__udnie.jpg"
    frame = (load_image(data_dir / "content" / "adain__sailboat.jpg").rgb * 255).astype(np.uint8)
    frames = [frame, frame[:, ::-1].copy()]
    out = list(s.frames(frames, style, size=128, temporal="off", style_colors=True))
    plain = list(s.frames(frames, style, size=128, temporal="off"))
    target = color_stats(load_image(style).rgb)
    assert all(_distance(o, target) < _distance(p, target) for o, p in zip(out, plain, strict=True))
    with pytest.raises(UserError, match="do not go together"):
        list(s.frames(frames, style, preserve_color="color", style_colors=True))
    with pytest.raises(UserError, match="style_colors"):
        list(s.frames(frames, style, style_colors="yes"))



@pytest.mark.parametrize("command", ["video", "live"])
def test_video_and_live_take_the_styles_colours(command: str, magenta_store: Path, data_dir: Path, tmp_path: Path, capsys) -> None:  # noqa: ANN001
    """End to end through `stylize video` and headless `stylize live`: every frame's colours
    come closer to the style's than without the option."""
    import av

    clip, style = data_dir / "video" / "imageio__realshort.mp4", data_dir / "styles" / "adain__mondrian.jpg"
    common = ["--home", magenta_store, "--quiet", command]
    rest = ["--style", style, "--size", "48", "--temporal", "off", "--model", "magenta"]

    def frames_of(out: Path, *extra: str) -> list[np.ndarray]:
        if command == "video":
            args = [*common, clip, *rest, *extra, "-o", out]
        else:
            args = [*common, "--camera", clip, "--no-window", "--frames", "6", *rest, *extra, "--record", out]
        code, _, err = run_cli(capsys, *args)
        assert code == 0, err
        with av.open(str(out)) as c:
            return [f.to_ndarray(format="rgb24").astype(np.float32) / 255 for f in c.decode(video=0)]

    target = color_stats(load_image(style).rgb)
    plain, colors = frames_of(tmp_path / "plain.mp4"), frames_of(tmp_path / "colors.mp4", "--style-colors")
    assert len(plain) == len(colors) >= 6
    for a, b in zip(plain, colors):
        assert _distance(b, target) < 0.5 * _distance(a, target)
